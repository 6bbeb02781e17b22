"""Helpers for the gRPC-layer tests: a reference item with every field set, and a failed client call."""

from __future__ import annotations

from typing import Any, Callable

import grpc

from service.api.status import to_rpc_status
from service.core import NigranError, ReferenceItem, ReferenceState


def reference_item(state: ReferenceState = ReferenceState.DISABLED, **overrides: Any) -> ReferenceItem:
    """A stored item with every field set; fractional times so a lost Timestamp.nanos shows."""
    values: dict[str, Any] = dict(
        vid=1, id="r", text="متن", canonical="متن", fingerprint="f1", declared_lang="ur", detected_lang="ps",
        bank="b", labels=("org:x",), metadata={"m": "n"}, added_by="curator:a", created_at=1700000000.25,
        updated_at=1700000001.5, state=state, disabled_until=1800000000.75, change_seq=42,
    )
    values.update(overrides)
    return ReferenceItem(**values)


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """What a stub raises: an RpcError that is also the call, with its code, details and trailers."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, Any], ...] | None) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


def failed_call(exc: NigranError) -> FailedCall:
    """The call a client sees when the server's interceptor maps ``exc``."""
    st = to_rpc_status(exc)
    return FailedCall(st.code, st.details, tuple(st.trailing_metadata))
