"""``service/api/status.py``: the error hierarchy -> gRPC status with google.rpc details, and back on the client.

Also the error interceptor's use of it, driven directly: ``grpc_testing``
(the handler tests) does not run interceptors, so this is where a
NigranError raised by a handler is seen becoming a status.
"""

from __future__ import annotations

from typing import Any, Callable

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

import service.core.errors as errors_module
from service.api import status
from service.api.interceptors import ObservingInterceptor
from service.api.metrics import Metrics
from service.core import (
    AlreadyExists, Cancelled, ConfigError, FailedPrecondition, IndexCorrupt, InvalidInput, LimitExceeded, ModelError,
    ModelMismatch, ModelProvisionError, NigranError, NotFound, NotReady, StoreUnavailable, Conflict
)
from tests.support.api_factories import FailedCall, failed_call

DETAILS_KEY = "grpc-status-details-bin"
Code = grpc.StatusCode

# One instance of every class, and the code the README's hierarchy gives it.
CASES: list[tuple[NigranError, grpc.StatusCode]] = [
    (InvalidInput("posts[0].text", "must not be empty"), Code.INVALID_ARGUMENT),
    (LimitExceeded("posts", "65 exceed the limit of 64 per request"), Code.INVALID_ARGUMENT),
    (NotFound("reference", "r1"), Code.NOT_FOUND),
    (AlreadyExists("bank", "b"), Code.ALREADY_EXISTS),
    (FailedPrecondition("bank 'default' cannot be a suppression bank"), Code.FAILED_PRECONDITION),
    (ModelMismatch("model-a", "model-b", "index artifact"), Code.FAILED_PRECONDITION),
    (NotReady("index still loading"), Code.UNAVAILABLE),
    (StoreUnavailable("the Postgres store is unreachable"), Code.UNAVAILABLE),
    (Conflict("reference 'r1' changed while it was being updated"), Code.ABORTED),
    (ModelError("cannot load"), Code.INTERNAL),
    (ModelProvisionError("cannot build"), Code.INTERNAL),
    (IndexCorrupt("bad manifest"), Code.FAILED_PRECONDITION),
    (Cancelled("stopped"), Code.DEADLINE_EXCEEDED),
    (ConfigError("bad config"), Code.INTERNAL),
    (NigranError("anything else"), Code.INTERNAL),
]
IDS = [type(exc).__name__ for exc, _ in CASES]


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_class_is_covered() -> None:
    """A new error class needs a row in CASES (and so a decision on its code)."""
    declared = {cls for cls in _subclasses(NigranError) if cls.__module__ == errors_module.__name__} | {NigranError}
    assert declared == {type(exc) for exc, _ in CASES}


def _details(exc: NigranError) -> tuple[status_pb2.Status, list[any_pb2.Any]]:
    rich = status_pb2.Status.FromString(dict(status.to_rpc_status(exc).trailing_metadata)[DETAILS_KEY])
    return rich, list(rich.details)


@pytest.mark.parametrize(("exc", "code"), CASES, ids=IDS)
def test_code_for(exc: NigranError, code: grpc.StatusCode) -> None:
    assert status.code_for(exc) is code


@pytest.mark.parametrize(("exc", "code"), CASES, ids=IDS)
def test_status_carries_code_and_message(exc: NigranError, code: grpc.StatusCode) -> None:
    st = status.to_rpc_status(exc)
    assert st.code is code and st.details == str(exc)
    rich, _ = _details(exc)
    # The trailer must agree with the call's own code and message, or clients reject it.
    assert (rich.code, rich.message) == (code.value[0], str(exc))


@pytest.mark.parametrize(("exc", "code"), [c for c in CASES if isinstance(c[0], InvalidInput)], ids=["InvalidInput", "LimitExceeded"])
def test_invalid_input_names_the_field(exc: InvalidInput, code: grpc.StatusCode) -> None:
    _, details = _details(exc)
    assert len(details) == 1 and details[0].Is(error_details_pb2.BadRequest.DESCRIPTOR)
    bad = error_details_pb2.BadRequest()
    details[0].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [(exc.field, exc.message)]


@pytest.mark.parametrize(("exc", "code"), [c for c in CASES if not isinstance(c[0], InvalidInput)], ids=[i for i, c in zip(IDS, CASES) if not isinstance(c[0], InvalidInput)])
def test_other_errors_carry_error_info(exc: NigranError, code: grpc.StatusCode) -> None:
    _, details = _details(exc)
    assert len(details) == 1 and details[0].Is(error_details_pb2.ErrorInfo.DESCRIPTOR)
    info = error_details_pb2.ErrorInfo()
    details[0].Unpack(info)
    # The most specific class, so a client can tell ModelMismatch from other preconditions.
    assert (info.reason, info.domain) == (type(exc).__name__, "nigran")


# -- the client side ------------------------------------------------------------------


def test_field_violations_of_invalid_input() -> None:
    exc = InvalidInput("ids[1]", "must not be empty")
    assert status.field_violations(failed_call(exc)) == [("ids[1]", "must not be empty")]
    assert rpc_status.from_call(failed_call(exc)) is not None


@pytest.mark.parametrize("exc", [NotFound("reference", "r"), ModelMismatch("a", "b", "index")], ids=["NotFound", "ModelMismatch"])
def test_no_field_violations_for_other_errors(exc: NigranError) -> None:
    assert status.field_violations(failed_call(exc)) == []


@pytest.mark.parametrize("trailing", [None, (), (("x-other", "1"),)])
def test_no_field_violations_without_rich_details(trailing: Any) -> None:
    # Statuses set by plain context.abort (auth, unhandled errors) carry no details.
    assert status.field_violations(FailedCall(Code.UNAUTHENTICATED, "missing token", trailing)) == []


# -- the interceptor that applies the mapping -----------------------------------------


class AbortingContext:
    """The two things the interceptor asks of a ServicerContext: abort, and the code set so far."""

    def __init__(self) -> None:
        self.status: grpc.Status | None = None
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def abort_with_status(self, st: grpc.Status) -> None:
        self.status = st
        raise RuntimeError("aborted")

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise RuntimeError("aborted")

    def code(self) -> grpc.StatusCode | None:
        return None

    def is_active(self) -> bool:
        return True

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


class Details:
    method = "/nigran.v1.Curation/GetReference"
    invocation_metadata = ()


def _intercepted(raise_: Exception, *, streaming: bool) -> Callable[[Any, Any], Any]:
    def behaviour(request: Any, context: Any) -> Any:
        raise raise_

    def stream_behaviour(request: Any, context: Any) -> Any:
        yield from ()
        raise raise_

    make = grpc.unary_stream_rpc_method_handler if streaming else grpc.unary_unary_rpc_method_handler
    handler = ObservingInterceptor(Metrics()).intercept_service(lambda _: make(stream_behaviour if streaming else behaviour), Details())
    return handler.unary_stream if streaming else handler.unary_unary  # type: ignore[no-any-return]


def _run(call: Callable[[Any, Any], Any], context: AbortingContext, streaming: bool) -> None:
    with pytest.raises(RuntimeError, match="aborted"):
        result = call(object(), context)
        if streaming:
            list(result)


@pytest.mark.parametrize("streaming", [False, True], ids=["unary", "streaming"])
@pytest.mark.parametrize(("exc", "code"), CASES, ids=IDS)
def test_interceptor_aborts_with_the_mapped_status(exc: NigranError, code: grpc.StatusCode, streaming: bool) -> None:
    context = AbortingContext()
    _run(_intercepted(exc, streaming=streaming), context, streaming)
    assert context.status is not None and context.status.code is code
    assert context.status.trailing_metadata == status.to_rpc_status(exc).trailing_metadata


@pytest.mark.parametrize("streaming", [False, True], ids=["unary", "streaming"])
def test_interceptor_hides_unexpected_errors(streaming: bool) -> None:
    context = AbortingContext()
    _run(_intercepted(KeyError("secret internals"), streaming=streaming), context, streaming)
    assert context.status is None and context.aborted is not None
    code, details = context.aborted
    assert code is Code.INTERNAL and "secret" not in details and "KeyError" in details
