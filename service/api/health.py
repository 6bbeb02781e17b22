"""The standard gRPC health service, without grpc_health's shutdown deadlock.

grpc_health's ``HealthServicer`` sends to its ``Watch`` streams while holding
its lock. A send waits on grpc's polling thread; when a watcher disconnects
at that moment, the polling thread runs the watcher's close callback, which
waits for the same lock, and neither moves again. ``NigranServer.stop`` sets
NOT_SERVING first, so a load balancer watching health that went away as the
server stopped could hang shutdown for good (grpc/grpc#43403 reworks this
upstream). Here the lock guards only the tables; sends happen outside it,
one setter at a time, so every watcher still sees the statuses in order.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from grpc_health.v1 import health, health_pb2

log = logging.getLogger(__name__)

Send = Callable[[Any], Any]


class HealthServicer(health.HealthServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(experimental_non_blocking=True)
        # Serialises sends (so statuses reach a watcher in the order they were
        # set) without being a lock the polling thread ever waits for.
        self._sending = threading.Lock()

    def Watch(self, request: health_pb2.HealthCheckRequest, context: Any, send_response_callback: Send | None = None) -> Any:
        if send_response_callback is None:
            # Only a server without non-blocking support calls it this way; ours always has it.
            return super().Watch(request, context)
        service = request.service
        with self._sending:
            with self._lock:
                status = self._server_status.get(service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
                self._send_response_callbacks.setdefault(service, set()).add(send_response_callback)
                context.add_callback(self._on_close_callback(send_response_callback, service))
            _send(send_response_callback, status)
        return None

    def set(self, service: str, status: int) -> None:
        with self._sending:
            with self._lock:
                if self._gracefully_shutting_down:
                    return
                self._server_status[service] = status
                watchers = list(self._send_response_callbacks.get(service, ()))
            for send in watchers:
                _send(send, status)

    def enter_graceful_shutdown(self) -> None:
        with self._lock:
            services = list(self._server_status)
        for service in services:
            self.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        with self._lock:
            self._gracefully_shutting_down = True


def _send(send: Send, status: int) -> None:
    try:
        send(health_pb2.HealthCheckResponse(status=status))
    except Exception as exc:  # noqa: BLE001 - a watcher that has just gone away
        log.debug("health watcher gone: %s", exc)
