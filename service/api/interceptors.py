"""Cross-cutting concerns: authentication, error mapping and access logging.

Handlers stay thin: they translate and call the engine. Anything every call
needs is done here, by wrapping each method handler's behaviour function.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
import logging
import time
from typing import Any, Callable, Iterator

import grpc

from service.api.status import to_rpc_status
from service.core import AuthConfig, ConfigError, NigranError

log = logging.getLogger("nigran.access")

#: Who is calling (the role and name of the token), for audit records.
current_actor: contextvars.ContextVar[str] = contextvars.ContextVar("current_actor", default="anonymous")

ROLE_ADMIN = "admin"
ROLE_CURATOR = "curator"
ROLE_MATCHER = "matcher"
ROLES = frozenset({ROLE_ADMIN, ROLE_CURATOR, ROLE_MATCHER})

# Service -> role needed. Services not listed (health, reflection) are open so
# that load balancers and tooling work without credentials.
REQUIRED_ROLE = {
    "nigran.v1.Matcher": ROLE_MATCHER,
    "nigran.v1.Curation": ROLE_CURATOR,
    "nigran.v1.Admin": ROLE_ADMIN,
}

Behaviour = Callable[..., Any]


def _wrap(handler: grpc.RpcMethodHandler, wrap: Callable[[Behaviour, bool], Behaviour]) -> grpc.RpcMethodHandler:
    """Rebuild a method handler with its behaviour function wrapped."""
    if handler is None:
        return None
    for kind, factory in (
        ("unary_unary", grpc.unary_unary_rpc_method_handler),
        ("unary_stream", grpc.unary_stream_rpc_method_handler),
        ("stream_unary", grpc.stream_unary_rpc_method_handler),
        ("stream_stream", grpc.stream_stream_rpc_method_handler),
    ):
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            return factory(
                wrap(behaviour, handler.response_streaming),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


def _token_from(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
            return value[7:].strip()
    return None


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Bearer-token authentication with per-service roles.

    A missing or unknown token gets UNAUTHENTICATED; a known token whose role
    does not cover the service gets PERMISSION_DENIED. ``admin`` covers all.
    Tokens map to "role" or "role:name"; the name is recorded as the actor.
    """

    def __init__(self, auth: AuthConfig) -> None:
        self._tokens: dict[str, tuple[str, str]] = {}
        for token, spec in auth.tokens.items():
            role, _, name = spec.partition(":")
            if role not in ROLES:
                # A misspelt role would otherwise refuse every call that token makes, silently.
                raise ConfigError(f"server.auth.tokens: role {role!r} is not one of {', '.join(sorted(ROLES))}")
            self._tokens[token] = (role, name or role)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        service = details.method.lstrip("/").rsplit("/", 1)[0]
        needed = REQUIRED_ROLE.get(service)
        if needed is None:
            return handler
        token = _token_from(details.invocation_metadata)
        found = self._tokens.get(token) if token else None

        def wrap(behaviour: Behaviour, streaming: bool) -> Behaviour:
            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                if found is None:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or unknown bearer token")
                assert found is not None
                role, name = found
                if role not in (needed, ROLE_ADMIN):
                    context.abort(
                        grpc.StatusCode.PERMISSION_DENIED, f"role {role!r} may not call {service}; needs {needed!r}"
                    )
                current_actor.set(f"{role}:{name}")
                return behaviour(request, context)

            return guarded

        return _wrap(handler, wrap)


class ErrorAndLogInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Maps NigranError to rich statuses, hides other errors' internals, logs every call."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        method = details.method

        def wrap(behaviour: Behaviour, streaming: bool) -> Behaviour:
            def fail(exc: Exception, context: grpc.ServicerContext) -> None:
                if isinstance(exc, NigranError):
                    context.abort_with_status(to_rpc_status(exc))
                log.exception("unhandled error in %s", method)
                context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see server log")

            @contextmanager
            def mapped(context: grpc.ServicerContext) -> Iterator[None]:
                started = time.perf_counter()
                try:
                    yield
                except Exception as exc:  # noqa: BLE001 - mapped to a status
                    if _aborted(context):
                        raise
                    fail(exc, context)
                finally:
                    code = context.code()
                    log.info("%s %s %.1fms", method, code.name if code else "OK", (time.perf_counter() - started) * 1e3)

            if streaming:

                def run_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    with mapped(context):
                        yield from behaviour(request, context)

                return run_stream

            def run_unary(request: Any, context: grpc.ServicerContext) -> Any:
                with mapped(context):
                    return behaviour(request, context)

            return run_unary

        return _wrap(handler, wrap)


def _aborted(context: grpc.ServicerContext) -> bool:
    # context.abort() raises a bare Exception after setting the status; that
    # exception must propagate untouched rather than be mapped again.
    return context.code() not in (None, grpc.StatusCode.OK)
