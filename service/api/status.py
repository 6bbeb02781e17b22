"""Maps the core's error hierarchy to gRPC status codes and rich details.

Details follow google.rpc: a ``BadRequest`` with the offending field for
invalid input, an ``ErrorInfo`` with the error class otherwise, carried in the
``grpc-status-details-bin`` trailer so clients get more than a string.
"""

from __future__ import annotations

from typing import Any

import grpc

from service.core import AlreadyExists, Cancelled, Conflict, FailedPrecondition, IndexCorrupt, InvalidInput, NigranError, NotFound, NotReady

_CODES: list[tuple[type[NigranError], grpc.StatusCode]] = [
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (NotReady, grpc.StatusCode.UNAVAILABLE),
    (Cancelled, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Conflict, grpc.StatusCode.ABORTED),
    # An artifact or background file that cannot be read is the caller's or the operator's to fix.
    (IndexCorrupt, grpc.StatusCode.FAILED_PRECONDITION),
]


def code_for(exc: NigranError) -> grpc.StatusCode:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def status_proto(exc: NigranError) -> Any:
    """The google.rpc.Status of an error: code, message, and a BadRequest or ErrorInfo detail."""
    from google.protobuf import any_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2

    code = code_for(exc)
    detail = any_pb2.Any()
    if isinstance(exc, InvalidInput):
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.message)
                ]
            )
        )
    else:
        detail.Pack(error_details_pb2.ErrorInfo(reason=type(exc).__name__, domain="nigran"))
    return status_pb2.Status(code=getattr(code_pb2, code.name), message=str(exc), details=[detail])


def to_rpc_status(exc: NigranError) -> grpc.Status:
    """A grpc.Status carrying code, message and google.rpc error details, for aborting a call."""
    from grpc_status import rpc_status

    return rpc_status.to_status(status_proto(exc))


def field_violations(err: grpc.RpcError) -> list[tuple[str, str]]:
    """Client side: the (field, description) pairs of a rich INVALID_ARGUMENT."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)
    found: list[tuple[str, str]] = []
    if status is None:
        return found
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.extend((v.field, v.description) for v in bad.field_violations)
    return found
