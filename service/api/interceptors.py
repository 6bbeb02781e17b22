"""Cross-cutting concerns, one interceptor each, outermost first.

1. :class:`ObservingInterceptor`: a request id per call; requests that cannot be
   decoded answered INVALID_ARGUMENT; core errors mapped to rich statuses and
   anything else hidden behind INTERNAL; cancellations logged as such; the
   access log (a line, or one JSON object per call) and the RPC metrics.
2. :class:`AuthInterceptor`: bearer tokens checked in constant time against a
   table of their hashes; roles per service; refused attempts logged (rate
   limited, with the peer, never the token) and repeated failures throttled.
3. :class:`AdmissionInterceptor`: a budget of concurrent streams and one of
   unary calls, so long streams can never take every worker; over budget is
   RESOURCE_EXHAUSTED at once, and a request stream idle for too long is ended.

Health is exempt from all three: it must always answer, and its ``Watch`` is
non-blocking only while its handler is the one grpc_health made.

Handlers stay thin; what every call needs is done here by wrapping each
method handler's behaviour function.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import grpc

from service.api.metrics import Metrics
from service.api.status import to_rpc_status
from service.core import AuthConfig, ConfigError, InvalidInput, NigranError, ServerConfig

log = logging.getLogger("nigran.access")
security_log = logging.getLogger("nigran.security")

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
# Roles that may call a service besides the one it needs (admin may call every
# one): an analyst tries posts and explains verdicts (the console's "Try a
# post"), so a curator may match; a platform's matcher token still cannot curate.
ALSO_ALLOWED = {"nigran.v1.Matcher": frozenset({ROLE_CURATOR})}
HEALTH_SERVICE = "grpc.health.v1.Health"
# At most one log line per peer per this many seconds about refused tokens.
_SECURITY_LOG_EVERY = 10.0

Behaviour = Callable[..., Any]


@dataclass
class CallInfo:
    """What the interceptors learn about a call, for the handler and the access log."""

    request_id: str
    method: str
    peer: str = ""
    role: str | None = None  # None: authentication is off
    actor: str = "anonymous"
    posts: int = 0


_current: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar("nigran_call", default=None)


def call_info() -> CallInfo:
    """The call being served on this thread (a blank one outside a call, e.g. in tests)."""
    info = _current.get()
    return info if info is not None else CallInfo(request_id="", method="")


def _service_of(method: str) -> str:
    return method.lstrip("/").rsplit("/", 1)[0]


def _wrap(handler: grpc.RpcMethodHandler, wrap: Callable[[Behaviour, bool], Behaviour], **replace: Any) -> grpc.RpcMethodHandler:
    """Rebuild a method handler with its behaviour function wrapped (and serializers replaced)."""
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
                request_deserializer=replace.get("request_deserializer", handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
    return handler


# -- 1. errors, decoding, logs, metrics -------------------------------------------


@dataclass(frozen=True)
class Undecodable:
    """Stands in for a request message the wire bytes did not decode into."""

    reason: str


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, and others for invalid UTF-8
            return Undecodable(type(exc).__name__)

    return parse


def _refuse_undecodable(request: Any) -> Any:
    if isinstance(request, Undecodable):
        raise InvalidInput("request", f"the message could not be decoded ({request.reason}): not a valid protobuf message of this RPC")
    return request


class _Decoded:
    """A request stream whose undecodable messages raise InvalidInput one by one (the stream goes on)."""

    def __init__(self, requests: Iterator[Any]) -> None:
        self._requests = requests

    def __iter__(self) -> "_Decoded":
        return self

    def __next__(self) -> Any:
        return _refuse_undecodable(next(self._requests))


class InFlight:
    """Counts the handlers running, so that shutdown can wait until the last has returned.

    grpc's own shutdown event fires when the calls left at the end of the
    grace period are cancelled, not when their handlers return; a handler cut
    off mid-batch is still running then, and still using the engine.
    """

    def __init__(self) -> None:
        self._running = 0
        self._idle = threading.Condition()

    @contextmanager
    def handler(self) -> Iterator[None]:
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once no handler is running; False if some still are after ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)


class ObservingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, metrics: Metrics, *, json_log: bool = False, inflight: InFlight | None = None) -> None:
        self._metrics = metrics
        self._json = json_log
        self.inflight = inflight if inflight is not None else InFlight()

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        method = details.method
        if _service_of(method) == HEALTH_SERVICE or handler is None:
            return handler
        request_id = next((v for k, v in details.invocation_metadata or () if k == "x-request-id" and isinstance(v, str)), "")
        request_id = request_id[:64] or uuid.uuid4().hex[:16]

        def wrap(behaviour: Behaviour, streaming: bool) -> Behaviour:
            @contextmanager
            def observed(context: grpc.ServicerContext) -> Iterator[CallInfo]:
                info = CallInfo(request_id=request_id, method=method, peer=context.peer())
                token = _current.set(info)
                started = time.perf_counter()
                try:
                    with self.inflight.handler():
                        yield info
                except Exception as exc:  # noqa: BLE001 - mapped to a status
                    if _aborted(context):
                        raise
                    self._fail(exc, context, method)
                finally:
                    seconds = time.perf_counter() - started
                    # A client's cancel can reach a request stream as a plain end of stream, with
                    # the cancel itself noted a moment later: such calls are recorded when they end.
                    deferred = handler.request_streaming and context.code() is None and context.add_callback(
                        lambda: self._record(info, context, seconds)
                    )
                    if not deferred:
                        self._record(info, context, seconds)
                    _current.reset(token)

            if streaming:

                def run_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    with observed(context):
                        yield from behaviour(request, context)

                return run_stream

            def run_unary(request: Any, context: grpc.ServicerContext) -> Any:
                with observed(context):
                    return behaviour(request, context)

            return run_unary

        return _wrap(handler, wrap, request_deserializer=_tolerant(handler.request_deserializer))

    def _fail(self, exc: Exception, context: grpc.ServicerContext, method: str) -> None:
        if not context.is_active():
            # The client went away (cancelled, or its deadline passed): nothing failed on our side.
            # Aborting a finished call sends nothing; it records the code for the access log and
            # keeps grpc from logging the exception as the application's.
            code = grpc.StatusCode.DEADLINE_EXCEEDED if _deadline_passed(context) else grpc.StatusCode.CANCELLED
            log.info("%s %s by the client (%s)", method, "timed out" if code is grpc.StatusCode.DEADLINE_EXCEEDED else "cancelled",
                     type(exc).__name__)
            context.abort(code, "the call ended before its work did")
        if isinstance(exc, NigranError):
            context.abort_with_status(to_rpc_status(exc))
        log.exception("unhandled error in %s", method)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see server log")

    def _record(self, info: CallInfo, context: grpc.ServicerContext, seconds: float) -> None:
        code = context.code()
        status = code.name if code is not None else ("CANCELLED" if _client_cancelled(context) else "OK")
        self._metrics.requests.labels(info.method, status).inc()
        self._metrics.request_seconds.labels(info.method).observe(seconds)
        if self._json:
            log.info(json.dumps({
                "ts": round(time.time(), 3), "request_id": info.request_id, "method": info.method, "status": status,
                "ms": round(seconds * 1e3, 1), "actor": info.actor, "peer": info.peer, "posts": info.posts,
            }))
        else:
            log.info("%s %s %s %.1fms actor=%s posts=%d", info.request_id, info.method, status, seconds * 1e3, info.actor, info.posts)


def _client_cancelled(context: grpc.ServicerContext) -> bool:
    # grpc tells a cancelled call from a finished one only in its private call
    # state (grpcio is pinned); anything else falls back to "no longer active".
    client = getattr(getattr(context, "_state", None), "client", None)
    return client == "cancelled" if isinstance(client, str) else not context.is_active()


def _deadline_passed(context: grpc.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def _aborted(context: grpc.ServicerContext) -> bool:
    # context.abort() raises a bare Exception after setting the status; that
    # exception must propagate untouched rather than be mapped again.
    return context.code() not in (None, grpc.StatusCode.OK)


# -- 2. authentication --------------------------------------------------------------


_TOKEN_REASONS = frozenset({"no token", "not a Bearer token", "empty token", "unknown token"})

# Failures are remembered for at most this many addresses at once.
_MAX_TRACKED_PEERS = 10_000


def _address(peer: str) -> str:
    """The caller's address without its port: reconnecting from a new port is the same caller."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6") and ":" in rest:
        return f"{kind}:{rest.rsplit(':', 1)[0]}"
    return peer


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).digest()


def _token_from(metadata: Any) -> tuple[str | None, str]:
    """(token, why not) from the ``authorization`` header; only the Bearer scheme is accepted."""
    for key, value in metadata or ():
        if key != "authorization" or not isinstance(value, str):
            continue
        scheme, _, token = value.partition(" ")
        # RFC 7235: the scheme is case-insensitive.
        if scheme.lower() != "bearer":
            return None, "not a Bearer token"
        token = token.strip()
        return (token, "") if token else (None, "empty token")
    return None, "no token"


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Bearer-token authentication with per-service roles.

    A missing or unknown token gets UNAUTHENTICATED; a known token whose role
    does not cover the service gets PERMISSION_DENIED. ``admin`` covers all.
    Tokens map to "role" or "role:name"; the name is recorded as the actor.
    A peer with ``max_failures`` refusals in ``failure_window_seconds`` gets
    RESOURCE_EXHAUSTED, without a token check, until the window moves on.
    """

    def __init__(self, auth: AuthConfig, metrics: Metrics, *, clock: Callable[[], float] = time.monotonic) -> None:
        # Only hashes are kept: a token in a memory dump or a log of this table is no token.
        self._tokens: list[tuple[bytes, str, str]] = []
        for token, spec in auth.tokens.items():
            role, _, name = spec.partition(":")
            if role not in ROLES:
                # A misspelt role would otherwise refuse every call that token makes, silently.
                raise ConfigError(f"server.auth.tokens: role {role!r} is not one of {', '.join(sorted(ROLES))}")
            self._tokens.append((_digest(token), role, name or role))
        self._metrics = metrics
        self._max_failures = auth.max_failures
        self._window = auth.failure_window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._logged_at: dict[str, float] = {}

    def _lookup(self, token: str) -> tuple[str, str] | None:
        presented = _digest(token)
        found = None
        # Every entry is compared, whatever matches: the time says nothing about which token is close.
        for digest, role, name in self._tokens:
            if hmac.compare_digest(digest, presented):
                found = (role, name)
        return found

    def _throttled(self, peer: str, now: float) -> bool:
        peer = _address(peer)
        with self._lock:
            failures = self._failures.get(peer)
            while failures and failures[0] <= now - self._window:
                failures.popleft()
            if failures is not None and not failures:
                del self._failures[peer]
            return failures is not None and len(failures) >= self._max_failures

    def _refused(self, peer: str, method: str, reason: str, now: float) -> None:
        # A fixed set of label values, whatever the log line says.
        self._metrics.auth_failures.labels(reason if reason in _TOKEN_REASONS else "wrong role").inc()
        address = _address(peer)
        with self._lock:
            if len(self._failures) >= _MAX_TRACKED_PEERS and address not in self._failures:
                # Many addresses failing at once: forget the quietest rather than grow without bound.
                self._forget_oldest(now)
            self._failures[address].append(now)
            if now - self._logged_at.get(address, -_SECURITY_LOG_EVERY) >= _SECURITY_LOG_EVERY:
                self._logged_at[address] = now
                security_log.warning("refused %s from %s: %s", method, peer, reason)

    def _forget_oldest(self, now: float) -> None:
        stale = [a for a, times in self._failures.items() if not times or times[-1] <= now - self._window]
        for address in stale or sorted(self._failures, key=lambda a: self._failures[a][-1])[: len(self._failures) // 10 + 1]:
            self._failures.pop(address, None)
            self._logged_at.pop(address, None)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        service = _service_of(details.method)
        needed = REQUIRED_ROLE.get(service)
        if needed is None or handler is None:
            return handler
        token, missing = _token_from(details.invocation_metadata)

        def wrap(behaviour: Behaviour, streaming: bool) -> Behaviour:
            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                peer, now = context.peer(), self._clock()
                if self._throttled(peer, now):
                    self._metrics.auth_failures.labels("throttled").inc()
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many refused authentications from this address; wait and retry")
                found = self._lookup(token) if token is not None else None
                if found is None:
                    self._refused(peer, details.method, missing or "unknown token", now)
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or unknown bearer token")
                assert found is not None
                role, name = found
                if role not in (needed, ROLE_ADMIN) and role not in ALSO_ALLOWED.get(service, ()):
                    self._refused(peer, details.method, f"role {role} lacks {needed}", now)
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, f"role {role!r} may not call {service}; needs {needed!r}")
                info = call_info()
                info.role, info.actor = role, f"{role}:{name}"
                return behaviour(request, context)

            return guarded

        return _wrap(handler, wrap)


# -- 3. admission -------------------------------------------------------------------


class _IdleGuard:
    """A request stream that ends the call when no message comes for ``idle`` seconds.

    A reader thread pulls from the stream, so the handler's thread can wait
    with a timeout; errors for one message (InvalidInput) pass through one by one.
    """

    _END = object()

    def __init__(self, requests: Iterator[Any], idle: float, context: grpc.ServicerContext) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = idle
        self._context = context
        threading.Thread(target=self._read, args=(requests,), name="stream-reader", daemon=True).start()

    def _read(self, requests: Iterator[Any]) -> None:
        while True:
            try:
                self._queue.put(next(requests))
            except StopIteration:
                self._queue.put(self._END)
                return
            except InvalidInput as exc:
                self._queue.put(exc)
            except Exception as exc:  # noqa: BLE001 - the call ended (cancelled, aborted): handed to the handler
                self._queue.put(exc)
                return

    def __iter__(self) -> "_IdleGuard":
        return self

    def __next__(self) -> Any:
        try:
            item = self._queue.get(timeout=self._idle)
        except queue.Empty:
            self._context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"no message on this stream for {self._idle:g} s; closed")
        if item is self._END:
            raise StopIteration
        if isinstance(item, Exception):
            raise item
        return item


class AdmissionInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, server: ServerConfig, metrics: Metrics) -> None:
        self._streams = threading.BoundedSemaphore(server.max_concurrent_streams)
        self._unary = threading.BoundedSemaphore(server.max_concurrent_unary)
        self._idle = server.stream_idle_seconds
        self._metrics = metrics

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or _service_of(details.method) == HEALTH_SERVICE:
            return handler
        is_stream = handler.request_streaming or handler.response_streaming
        budget, kind = (self._streams, "stream") if is_stream else (self._unary, "unary")
        request_streaming = handler.request_streaming

        def wrap(behaviour: Behaviour, streaming: bool) -> Behaviour:
            def admit(context: grpc.ServicerContext) -> None:
                if not budget.acquire(blocking=False):
                    self._metrics.rejected.labels(kind).inc()
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"too many concurrent {kind} calls; retry later")

            def requests_of(request: Any, context: grpc.ServicerContext) -> Any:
                return _IdleGuard(request, self._idle, context) if request_streaming else request

            if streaming:

                def run_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    admit(context)
                    try:
                        yield from behaviour(requests_of(request, context), context)
                    finally:
                        budget.release()

                return run_stream

            def run_unary(request: Any, context: grpc.ServicerContext) -> Any:
                admit(context)
                try:
                    return behaviour(requests_of(request, context), context)
                finally:
                    budget.release()

            return run_unary

        return _wrap(handler, wrap)


# -- 4. decoding ----------------------------------------------------------------------


class RefuseUndecodableInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuses the requests ObservingInterceptor's deserializer could not decode.

    It is last in the chain so that a caller is authenticated and admitted
    before its bytes are judged: an anonymous caller learns nothing from
    garbage that a well-formed call would not tell it.
    """

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or _service_of(details.method) == HEALTH_SERVICE:
            return handler
        request_streaming = handler.request_streaming

        def wrap(behaviour: Behaviour, streaming: bool) -> Behaviour:
            def decoded(request: Any, context: grpc.ServicerContext) -> Any:
                return behaviour(_Decoded(request) if request_streaming else _refuse_undecodable(request), context)

            return decoded

        return _wrap(handler, wrap)
