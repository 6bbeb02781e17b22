"""Server assembly (``create_server``) kept apart from running it (``serve``)."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import logging
import os
import signal
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.api._generated.nigran.v1 import admin_pb2, admin_pb2_grpc, curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.api.handlers import AdminServicer, CurationServicer, MatcherServicer
from service.api.health import HealthServicer
from service.api.interceptors import (
    AdmissionInterceptor,
    AuthInterceptor,
    InFlight,
    ObservingInterceptor,
    RefuseUndecodableInterceptor,
)
from service.api.memory import HeapTrimmer
from service.api.metrics import Metrics, MetricsObserver, serve_metrics
from service.core import ConfigError, Embedder, Engine, NigranConfig, NigranError, NotReady, ServerConfig

log = logging.getLogger("nigran.server")

# After shutdown, how long to wait for handlers cut off mid-batch to return
# before the engine is closed anyway: one encoder batch takes well under this.
DRAIN_SECONDS = 30.0

SERVICE_NAMES = (
    matcher_pb2.DESCRIPTOR.services_by_name["Matcher"].full_name,
    curation_pb2.DESCRIPTOR.services_by_name["Curation"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
)
#: The health service name that is SERVING for as long as the process listens, loading or not:
#: what a liveness probe asks, so a replica still loading is not restarted. "" and the
#: Nigran service names are readiness: model and index loaded, caught up with the store.
LIVENESS = "liveness"
# How often the main thread looks at the stop flag the signal handler sets.
_SIGNAL_POLL_SECONDS = 0.2


@dataclass
class NigranServer:
    """A built, bound, not yet started server and the handle to make it ready."""

    server: grpc.Server
    port: int
    health: HealthServicer
    config: NigranConfig
    metrics: Metrics
    inflight: InFlight = field(default_factory=InFlight)
    metrics_port: int | None = None
    trimmer: HeapTrimmer | None = None
    _metrics_http: Any = None
    _engine: Engine | None = None
    _stopping: bool = False

    @property
    def observer(self) -> MetricsObserver:
        """Pass to ``Engine.open`` so the engine's stages and verdicts reach the metrics."""
        return MetricsObserver(self.metrics)

    def engine(self) -> Engine:
        if self._engine is None:
            raise NotReady("the model and index are still loading; retry shortly")
        return self._engine

    def set_engine(self, engine: Engine) -> None:
        """Make the service ready: health turns SERVING for every service (while caught up, with a shared store)."""
        self._engine = engine
        self.metrics.watch_index(lambda: len(engine.index), lambda: engine.index.last_snapshot_at)
        if engine.follower is not None:
            self.metrics.watch_lag(engine.follower.lag_seconds)
            engine.follower.add_listener(self._set_ready)
        else:
            self._set_ready(True)

    def _set_ready(self, ready: bool) -> None:
        if self._stopping:
            return
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, status)

    def start(self) -> "NigranServer":
        self.server.start()
        self.trimmer = HeapTrimmer(self.config.server.memory_trim_seconds).start()
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop taking calls, let those in flight finish for ``grace`` seconds, then close the engine (snapshot)."""
        self._stopping = True
        for name in ("", LIVENESS, *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        # grpc's event is set when the calls past the grace period are cancelled;
        # their handlers stop at the engine's next batch boundary, and the engine
        # is closed (and the snapshot written) only once the last has returned.
        self.server.stop(grace).wait()
        if not self.inflight.wait_idle(DRAIN_SECONDS):
            log.warning("calls still running %.0f s after shutdown; closing the engine under them", DRAIN_SECONDS)
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self.trimmer is not None:
            self.trimmer.stop()
            self.trimmer = None
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http = None


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost, "0.0.0.0", "::", "": reachable from outside


def check_exposure(server: ServerConfig) -> None:
    """Refuse to serve beyond this machine without authentication, unless told it is meant."""
    if is_loopback(server.host):
        return
    if not server.auth.enabled and not server.allow_unauthenticated_public:
        raise ConfigError(
            f"server.host {server.host!r} is reachable from other machines and authentication is off: set "
            "[server.auth.tokens], or server.allow_unauthenticated_public = true if a proxy in front authenticates"
        )
    if not server.tls.enabled:
        log.warning("serving %s without TLS: tokens and posts cross the network in the clear", server.host)


def _credentials(server: ServerConfig) -> grpc.ServerCredentials:
    tls = server.tls
    assert tls.cert_file is not None and tls.key_file is not None
    try:
        key, cert = tls.key_file.read_bytes(), tls.cert_file.read_bytes()
        client_ca = tls.client_ca_file.read_bytes() if tls.client_ca_file is not None else None
    except OSError as exc:
        raise ConfigError(f"server.tls: cannot read {exc.filename}: {exc.strerror}") from exc
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None)


def create_server(config: NigranConfig, *, engine: Engine | None = None) -> NigranServer:
    """Build and bind the server. Health is NOT_SERVING until an engine is set."""
    check_exposure(config.server)
    options = [
        ("grpc.max_receive_message_length", config.limits.max_message_bytes),
        ("grpc.max_send_message_length", config.limits.max_message_bytes),
    ]
    metrics = Metrics()
    # Outermost first: every call is observed, then authenticated, then admitted.
    observing = ObservingInterceptor(metrics, json_log=config.server.json_access_log)
    interceptors: list[Any] = [observing]
    if config.server.auth.enabled:
        interceptors.append(AuthInterceptor(config.server.auth, metrics))
    interceptors.append(AdmissionInterceptor(config.server, metrics))
    interceptors.append(RefuseUndecodableInterceptor())
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.server.max_workers, thread_name_prefix="nigran-rpc"),
        interceptors=interceptors,
        options=options,
    )
    health_servicer = HealthServicer()
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    address = f"{config.server.host}:{config.server.port}"
    if config.server.tls.enabled:
        port = server.add_secure_port(address, _credentials(config.server))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    nigran = NigranServer(server=server, port=port, health=health_servicer, config=config, metrics=metrics, inflight=observing.inflight)
    matcher_pb2_grpc.add_MatcherServicer_to_server(MatcherServicer(nigran.engine, config), server)
    curation_pb2_grpc.add_CurationServicer_to_server(CurationServicer(nigran.engine), server)
    admin_pb2_grpc.add_AdminServicer_to_server(AdminServicer(nigran.engine, config), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    if config.server.metrics_port is not None:
        nigran._metrics_http, nigran.metrics_port = serve_metrics(metrics, config.server.metrics_host, config.server.metrics_port)
    if engine is not None:
        nigran.set_engine(engine)
    return nigran


def serve(config: NigranConfig, *, embedder: Embedder | None = None) -> None:
    """Start listening at once, load the engine, serve until SIGINT/SIGTERM, then stop within the grace period."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        # Only a list append: the handler runs on the main thread between two
        # bytecodes, possibly while it holds a lock that anything fancier needs.
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    started = time.perf_counter()
    nigran = create_server(config).start()
    log.info("listening on %s:%d (NOT_SERVING until the model and index load)", config.server.host, nigran.port)
    if nigran.metrics_port is not None:
        log.info("metrics on http://%s:%d/metrics", config.server.metrics_host, nigran.metrics_port)
    engine = Engine.open(
        config, embedder=embedder, observer=nigran.observer,
        progress=lambda done, total: log.info("re-embedding references: %d/%d", done, total),
    )
    nigran.set_engine(engine)
    log.info(
        "SERVING after %.1fs: %d references, model %s, thresholds from %s; %s",
        time.perf_counter() - started,
        len(engine.index),
        engine.model_id,
        engine.thresholds.source,
        engine.operating_points.describe(),
    )
    while not stopping:
        time.sleep(_SIGNAL_POLL_SECONDS)
    log.info("shutting down (signal %d): %.1f s for calls in flight", stopping[0], config.server.grace_seconds)
    nigran.stop(config.server.grace_seconds)
    log.info("stopped; index snapshot written")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nigran-server", description="Run the Nigran gRPC service.")
    parser.add_argument("--config", type=Path, help="TOML config file (see README)")
    parser.add_argument("--data-dir", type=Path, help="store, index and model cache (default ./var)")
    parser.add_argument("--model-cache", type=Path, help="where the bundled model is built (default: the data dir)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 50051; 0 picks a free one)")
    parser.add_argument("--model", help="bundled:multilingual-e5-small (default), a local path, or a hub name")
    parser.add_argument("--store-url", help="postgresql://... : a Postgres store shared by replicas (default: SQLite in the data dir)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = NigranConfig.load(args.config, data_dir=args.data_dir, model_cache=args.model_cache)
        server_overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        if server_overrides:
            config = dataclasses.replace(config, server=dataclasses.replace(config.server, **server_overrides))
        if args.model:
            config = dataclasses.replace(config, model=dataclasses.replace(config.model, name=args.model))
        serve(config.with_store_url(args.store_url, os.environ))
    except NigranError as exc:
        # A refusal to start (bad config, exposure without auth) is a sentence, not a traceback.
        raise SystemExit(f"nigran-server: {exc}") from exc


if __name__ == "__main__":
    main()
