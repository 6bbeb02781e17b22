"""Server assembly (``create_server``) kept apart from running it (``serve``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.api._generated.nigran.v1 import admin_pb2, admin_pb2_grpc, curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.api.handlers import AdminServicer, CurationServicer, MatcherServicer
from service.api.interceptors import AuthInterceptor, ErrorAndLogInterceptor
from service.core import Engine, NigranConfig, NotReady

log = logging.getLogger("nigran.server")

SERVICE_NAMES = (
    matcher_pb2.DESCRIPTOR.services_by_name["Matcher"].full_name,
    curation_pb2.DESCRIPTOR.services_by_name["Curation"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
)


@dataclass
class NigranServer:
    """A built, bound, not yet started server and the handle to make it ready."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    config: NigranConfig
    _engine: Engine | None = None

    def engine(self) -> Engine:
        if self._engine is None:
            raise NotReady("the model and index are still loading; retry shortly")
        return self._engine

    def set_engine(self, engine: Engine) -> None:
        """Make the service ready: health turns SERVING for every service."""
        self._engine = engine
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def start(self) -> "NigranServer":
        self.server.start()
        return self

    def stop(self, grace: float | None = None) -> None:
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace).wait()
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def create_server(config: NigranConfig, *, engine: Engine | None = None) -> NigranServer:
    """Build and bind the server. Health is NOT_SERVING until an engine is set."""
    options = [
        ("grpc.max_receive_message_length", config.limits.max_message_bytes),
        ("grpc.max_send_message_length", config.limits.max_message_bytes),
    ]
    interceptors: list[Any] = [ErrorAndLogInterceptor()]
    if config.server.auth.enabled:
        # Authentication runs first, so refused calls never reach a handler.
        interceptors.insert(0, AuthInterceptor(config.server.auth))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.server.max_workers, thread_name_prefix="nigran-rpc"),
        interceptors=interceptors,
        options=options,
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port(f"{config.server.host}:{config.server.port}")
    if port == 0:
        raise OSError(f"cannot bind {config.server.host}:{config.server.port}")
    nigran = NigranServer(server=server, port=port, health=health_servicer, config=config)
    matcher_pb2_grpc.add_MatcherServicer_to_server(MatcherServicer(nigran.engine), server)
    curation_pb2_grpc.add_CurationServicer_to_server(CurationServicer(nigran.engine), server)
    admin_pb2_grpc.add_AdminServicer_to_server(AdminServicer(nigran.engine), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    if engine is not None:
        nigran.set_engine(engine)
    return nigran


def serve(config: NigranConfig) -> None:
    """Start listening at once, load the engine, serve until SIGINT/SIGTERM."""
    started = time.perf_counter()
    nigran = create_server(config).start()
    log.info("listening on %s:%d (NOT_SERVING until the model and index load)", config.server.host, nigran.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    engine = Engine.open(config, progress=lambda done, total: log.info("re-embedding references: %d/%d", done, total))
    nigran.set_engine(engine)
    log.info(
        "SERVING after %.1fs: %d references, model %s, thresholds from %s",
        time.perf_counter() - started,
        len(engine.index),
        engine.model_id,
        engine.thresholds.source,
    )
    stop.wait()
    log.info("shutting down")
    nigran.stop(config.server.grace_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nigran-server", description="Run the Nigran gRPC service.")
    parser.add_argument("--config", type=Path, help="TOML config file (see README)")
    parser.add_argument("--data-dir", type=Path, help="store, index and model cache (default ./var)")
    parser.add_argument("--model-cache", type=Path, help="where the bundled model is built (default: the data dir)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 50051; 0 picks a free one)")
    parser.add_argument("--model", help="bundled:multilingual-e5-small (default), a local path, or a hub name")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = NigranConfig.load(args.config, data_dir=args.data_dir, model_cache=args.model_cache)
    server_overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if server_overrides:
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, **server_overrides))
    if args.model:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, name=args.model))
    serve(config)


if __name__ == "__main__":
    main()
