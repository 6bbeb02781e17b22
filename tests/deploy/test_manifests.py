"""The multi-replica deployment files say what the service needs, and agree with each other.

deploy/compose.yaml, deploy/k8s/*.yaml, deploy/replica.toml and
deploy/nginx/nginx.conf are read as data (no docker, no cluster, no network):
the replicas share one store and one snapshot volume, probes ask the health
service names the server answers, secrets land where the config reads them, and
the replica config loads as a Nigran config. The balancer is also run for real
(Debian's nginx, when installed) in front of two small gRPC servers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from concurrent import futures
from pathlib import Path, PurePosixPath
from typing import Any, Iterator
from urllib.parse import urlsplit

import grpc
import pytest
import yaml  # type: ignore[import-untyped]
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from service.core.config import Limits, NigranConfig, ServerConfig
from tests.support.nginx import NGINX_CONF, UPSTREAM, GrpcBalancer, nginx_binary, nginx_command, render_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
REPLICA_TOML = DEPLOY / "replica.toml"
REPLICAS = ("replica-a", "replica-b")
GRPC_PORT = 50051
LIVENESS = "liveness"  # service/api/server.py LIVENESS
CONFIG_MOUNT = "/etc/nigran/replica.toml"


# -- reading ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    """Every document of every manifest, by (kind, name)."""
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is None:
                continue
            assert {"apiVersion", "kind"} <= set(doc), f"{path.name}: a document without apiVersion or kind"
            name = doc.get("metadata", {}).get("name", path.stem)
            assert (doc["kind"], name) not in docs, f"{path.name}: {doc['kind']}/{name} defined twice"
            docs[(doc["kind"], name)] = {**doc, "_file": path.name}
    return docs


def toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def replica_settings() -> dict[str, Any]:
    return toml(REPLICA_TOML)


def volume_target(entry: Any) -> tuple[str, str]:
    """(source, target) of a compose volume entry, short or long form."""
    if isinstance(entry, dict):
        return str(entry.get("source", "")), str(entry["target"])
    source, target = str(entry).split(":")[:2]
    return source, target


def under(path: str | Path, mount: str) -> bool:
    return PurePosixPath(str(path)).is_relative_to(PurePosixPath(mount))


def memory_bytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?)?", str(quantity))
    assert match, f"not a memory quantity: {quantity!r}"
    return float(match.group(1)) * units.get(match.group(2) or "", 1)


def cpu_cores(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# -- replica.toml ---------------------------------------------------------------


def test_replica_toml_is_the_image_config_plus_a_shared_store() -> None:
    image, replica = toml(DEPLOY / "nigran.toml"), replica_settings()
    # Everything the image's own config says holds for a replica too (tokens path, ports...).
    for key, value in image.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                assert replica[key][sub] == subvalue, f"replica.toml [{key}] {sub} differs from deploy/nigran.toml"
        else:
            assert replica[key] == value, f"replica.toml {key} differs from deploy/nigran.toml"
    # The server refuses to bind publicly without tokens; every replica must be reachable.
    assert replica["server"]["host"] == "0.0.0.0"
    assert replica["server"]["auth"]["tokens_file"]
    url = urlsplit(replica["store"]["url"])
    assert url.scheme == "postgresql" and url.hostname and url.path.strip("/")
    assert url.password is None, "the password comes from PGPASSWORD or NIGRAN_STORE_URL, never the config"


def test_replica_toml_loads_as_a_nigran_config(tmp_path: Path) -> None:
    # The tokens file is read at load time; stand in for the mounted secret.
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('"a-long-random-secret" = "matcher:platform-a"\n', encoding="utf-8")
    text = REPLICA_TOML.read_text(encoding="utf-8")
    secret_path = replica_settings()["server"]["auth"]["tokens_file"]
    assert text.count(f'"{secret_path}"') == 1
    copy = tmp_path / "replica.toml"
    copy.write_text(text.replace(f'"{secret_path}"', f'"{tokens}"'), encoding="utf-8")

    config = NigranConfig.load(copy)

    assert config.server.host == "0.0.0.0" and config.server.auth.enabled
    assert config.server.port == GRPC_PORT
    assert config.data_dir == Path("/data") and config.model_cache_dir == Path("/app/var")
    assert config.store.url.startswith("postgresql://")
    assert config.store.shared_index_dir is not None
    assert config.index_dir == config.store.shared_index_dir


# -- compose ------------------------------------------------------------------


def test_compose_has_postgres_two_replicas_and_a_balancer(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", *REPLICAS, "balancer"} <= set(services)
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:15")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    source, target = volume_target(postgres["volumes"][0])
    assert source in compose["volumes"] and target == "/var/lib/postgresql/data"


def test_compose_replicas_share_the_store_and_the_snapshot_volume(compose: dict[str, Any]) -> None:
    services, settings = compose["services"], replica_settings()
    shared_dir = settings["store"]["shared_index_dir"]
    hosts, shared, data = set(), set(), []
    for name in REPLICAS:
        replica = services[name]
        assert replica["build"]["context"] == ".."
        assert (DEPLOY / replica["build"]["context"] / replica["build"].get("dockerfile", "Dockerfile")).resolve() == REPO / "Dockerfile"
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        # Healthy means ready ("" on the health service), which the balancer waits for.
        check = replica["healthcheck"]["test"]
        assert check[0] == "CMD" and check[-1] == "health" and "--service" not in check
        mounts = dict(volume_target(v)[::-1] for v in replica["volumes"])  # target -> source
        # The config is the one this test loads, where the command says it is.
        assert (DEPLOY / mounts[CONFIG_MOUNT]).resolve() == REPLICA_TOML
        assert CONFIG_MOUNT in " ".join(replica["command"])
        url = replica.get("environment", {}).get("NIGRAN_STORE_URL", settings["store"]["url"])
        hosts.add(urlsplit(url).hostname)
        (shared_mount,) = [t for t in mounts if under(shared_dir, t)]
        shared.add(mounts[shared_mount])
        data.append(mounts["/data"])
    assert hosts == {"postgres"}, "both replicas must use the compose postgres service"
    assert len(shared) == 1 and shared <= set(compose["volumes"]), "one named volume for shared_index_dir"
    assert len(set(data)) == len(REPLICAS) and set(data) <= set(compose["volumes"]), "each replica its own /data"
    assert not shared & set(data)


def test_compose_secrets_land_where_the_config_reads_them(compose: dict[str, Any]) -> None:
    tokens_file = PurePosixPath(replica_settings()["server"]["auth"]["tokens_file"])
    for name in REPLICAS:
        targets = {}
        for secret in compose["services"][name]["secrets"]:
            target = PurePosixPath(secret.get("target", secret["source"]))
            targets[target if target.is_absolute() else PurePosixPath("/run/secrets") / target] = secret["source"]
        source = targets[tokens_file]
        file = (DEPLOY / compose["secrets"][source]["file"]).resolve()
        assert file.parent == DEPLOY / "secrets"


def test_compose_secret_files_are_git_ignored() -> None:
    assert "secrets/" in (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    if shutil.which("git") is None or not (REPO / ".git").exists():
        return
    for path in ("deploy/secrets/tokens.toml", "deploy/secrets/postgres-password"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0, f"{path} is not ignored"


def test_compose_balancer_publishes_grpc_and_mounts_the_tested_config(compose: dict[str, Any]) -> None:
    balancer = compose["services"]["balancer"]
    assert str(balancer["image"]).startswith("nginx:")
    mounts = dict(volume_target(v)[::-1] for v in balancer["volumes"])
    assert (DEPLOY / mounts["/etc/nginx/nginx.conf"]).resolve() == NGINX_CONF
    assert any(str(p).endswith(f"{GRPC_PORT}:{GRPC_PORT}") for p in balancer["ports"])
    assert {name: dep["condition"] for name, dep in balancer["depends_on"].items()} == dict.fromkeys(REPLICAS, "service_healthy")


# -- nginx ----------------------------------------------------------------------


def nginx_settings() -> dict[str, list[str]]:
    text = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for name, value in re.findall(r"(?m)^\s*([a-z_0-9]+)\s+([^;{]*);", text):
        found.setdefault(name, []).append(value.strip())
    return found


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert match, value
    return int(match.group(1)) * units[match.group(2) or "s"]


def test_nginx_balances_both_replicas_over_http2() -> None:
    text = NGINX_CONF.read_text(encoding="utf-8")
    block = re.search(rf"upstream\s+{UPSTREAM}\s*\{{(.*?)\}}", text, flags=re.DOTALL)
    assert block is not None
    servers = re.findall(r"(?m)^\s*server\s+([^\s;]+)", block.group(1))
    assert servers == [f"{name}:{GRPC_PORT}" for name in REPLICAS]
    settings = nginx_settings()
    assert f"{GRPC_PORT} http2" in settings["listen"]
    assert "on" not in settings.get("http2", []), "`http2 on;` needs nginx 1.25.1; Debian bookworm has 1.22"
    assert settings["grpc_pass"] == [f"grpc://{UPSTREAM}"]
    # Nothing may drop the bearer token on its way to a replica.
    assert not any("authorization" in v.lower() for k, vs in settings.items() if k.startswith(("grpc_set_header", "grpc_hide")) for v in vs)


def test_nginx_lets_streams_and_large_messages_through() -> None:
    settings = nginx_settings()
    (body,) = settings["client_max_body_size"]
    # 0 is no limit: the cap is per request stream, the replicas cap each message.
    assert body == "0" or memory_bytes(body.replace("k", "Ki").replace("m", "Mi").replace("g", "Gi")) >= Limits().max_message_bytes
    for name in ("grpc_read_timeout", "grpc_send_timeout"):
        assert seconds(settings[name][0]) >= 600, f"{name}: streams outlive the default 60 s"
    assert seconds(settings["client_body_timeout"][0]) > ServerConfig().stream_idle_seconds


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")
def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_config([19001, 19002], 19000, tmp_path), encoding="utf-8")
    binary = nginx_binary()
    assert binary is not None
    result = subprocess.run(nginx_command(binary, conf, tmp_path, "-t"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class _Metadata(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        self.calls.append({k: v for k, v in details.invocation_metadata if isinstance(v, str)})
        return continuation(details)


def _backend(status: int) -> tuple[grpc.Server, int, _Metadata]:
    seen = _Metadata()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[seen])
    servicer = health.HealthServicer()
    servicer.set("", status)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, seen


@pytest.fixture
def backends() -> Iterator[list[tuple[grpc.Server, int, _Metadata]]]:
    # Told apart by the status each reports for "".
    started = [_backend(health_pb2.HealthCheckResponse.SERVING), _backend(health_pb2.HealthCheckResponse.NOT_SERVING)]
    yield started
    for server, _, _ in started:
        server.stop(0).wait(5)


@pytest.mark.timeout(60)
@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")
def test_nginx_round_robins_calls_and_passes_the_token(backends: list[tuple[grpc.Server, int, _Metadata]]) -> None:
    balancer = GrpcBalancer([port for _, port, _ in backends])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{balancer.port}", options=[("grpc.enable_http_proxy", 0)]) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            md = [("authorization", "Bearer a-long-random-secret"), ("x-request-id", "deploy-test")]
            statuses = [stub.Check(health_pb2.HealthCheckRequest(service=""), metadata=md, timeout=5).status for _ in range(20)]
    finally:
        log = balancer.access_log()
        balancer.stop()
    assert statuses.count(health_pb2.HealthCheckResponse.SERVING) >= 5, log
    assert statuses.count(health_pb2.HealthCheckResponse.NOT_SERVING) >= 5, log
    for _, _, seen in backends:
        assert seen.calls, "a backend got no call"
        assert all(m.get("authorization") == "Bearer a-long-random-secret" for m in seen.calls)
        assert all(m.get("x-request-id") == "deploy-test" for m in seen.calls)


# -- Kubernetes -------------------------------------------------------------------


def workload(k8s: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return k8s[("Deployment", "nigran")]


def container(k8s: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in workload(k8s)["spec"]["template"]["spec"]["containers"] if c["name"] == "nigran"]
    assert len(found) == 1
    return found[0]


def test_k8s_manifests_are_namespace_free_and_all_applied(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    for (kind, name), doc in k8s.items():
        assert "namespace" not in doc.get("metadata", {}), f"{doc['_file']}: {kind}/{name} names a namespace"
    listed = set(k8s[("Kustomization", "kustomization")]["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    # Example secrets are created by hand, never applied from the repository.
    assert listed == files - {"secret.example.yaml"}


def test_k8s_runs_several_replicas_of_the_image(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    spec = workload(k8s)["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    c = container(k8s)
    assert {p["containerPort"] for p in c["ports"]} == {GRPC_PORT, 9090}
    requests = c["resources"]["requests"]
    assert memory_bytes(requests["memory"]) >= 2 * 2**30 and cpu_cores(requests["cpu"]) >= 2
    if "limits" in c["resources"] and "memory" in c["resources"]["limits"]:
        assert memory_bytes(c["resources"]["limits"]["memory"]) >= memory_bytes(requests["memory"])


def test_k8s_probes_ask_liveness_and_readiness(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    c = container(k8s)
    assert c["livenessProbe"]["grpc"] == {"port": GRPC_PORT, "service": LIVENESS}
    assert c["readinessProbe"]["grpc"] == {"port": GRPC_PORT, "service": ""}
    if "startupProbe" in c:
        # Readiness here would restart a replica that is still loading its model.
        assert c["startupProbe"]["grpc"]["service"] == LIVENESS


def mounts_by_volume(k8s: dict[tuple[str, str], dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    volumes = {v["name"]: v for v in workload(k8s)["spec"]["template"]["spec"]["volumes"]}
    return {m["name"]: (m, volumes[m["name"]]) for m in container(k8s)["volumeMounts"]}


def test_k8s_config_is_replica_toml(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    (mount, volume) = next(mv for mv in mounts_by_volume(k8s).values() if "configMap" in mv[1])
    config_map = k8s[("ConfigMap", volume["configMap"]["name"])]
    key = PurePosixPath(CONFIG_MOUNT).name
    assert PurePosixPath(mount["mountPath"]) / key == PurePosixPath(CONFIG_MOUNT)
    assert config_map["data"][key] == REPLICA_TOML.read_text(encoding="utf-8"), "configmap.yaml must be replica.toml verbatim"
    assert container(k8s)["command"][-2:] == ["--config", CONFIG_MOUNT]


def test_k8s_tokens_secret_is_mounted_where_the_config_reads_it(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    tokens_file = toml(DEPLOY / "nigran.toml")["server"]["auth"]["tokens_file"]
    assert tokens_file == replica_settings()["server"]["auth"]["tokens_file"]
    (mount, volume) = next(mv for mv in mounts_by_volume(k8s).values() if mv[0]["mountPath"] == tokens_file)
    secret = k8s[("Secret", volume["secret"]["secretName"])]
    assert secret["_file"] == "secret.example.yaml"
    content = secret["stringData"][mount["subPath"]]
    tokens = tomllib.loads(content)
    assert tokens and all(re.fullmatch(r"(matcher|curator|admin)(:[\w.-]+)?", role) for role in tokens.values())


def test_k8s_replicas_share_the_store_and_the_snapshot_volume(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    (store_secret,) = [s["secretRef"]["name"] for s in container(k8s)["envFrom"] if "secretRef" in s]
    data = k8s[("Secret", store_secret)]["stringData"]
    url = urlsplit(data["NIGRAN_STORE_URL"])
    assert url.scheme == "postgresql" and url.password is None and data["PGPASSWORD"]
    assert url.hostname == urlsplit(replica_settings()["store"]["url"]).hostname
    postgres = k8s[("Service", url.hostname)]
    assert any(p["port"] == (url.port or 5432) for p in postgres["spec"]["ports"])
    statefulset = k8s[("StatefulSet", "postgres")]
    assert postgres["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    env = {e["name"]: e for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": store_secret, "key": "PGPASSWORD"}
    assert env["POSTGRES_USER"]["value"] == url.username and env["POSTGRES_DB"]["value"] == url.path.strip("/")

    shared_dir = replica_settings()["store"]["shared_index_dir"]
    (mount, volume) = next(mv for mv in mounts_by_volume(k8s).values() if under(shared_dir, mv[0]["mountPath"]))
    claim = k8s[("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "every replica mounts the snapshot volume"
    assert not mount.get("readOnly")


def test_k8s_services_reach_the_replicas(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    labels = workload(k8s)["spec"]["template"]["metadata"]["labels"]
    assert workload(k8s)["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"]: p["containerPort"] for p in container(k8s)["ports"]}
    services = {name: doc for (kind, name), doc in k8s.items() if kind == "Service" and name.startswith("nigran")}
    assert services["nigran"]["spec"].get("clusterIP") != "None"
    assert services["nigran-headless"]["spec"]["clusterIP"] == "None"
    for service in services.values():
        assert service["spec"]["selector"].items() <= labels.items()
        grpc_port = next(p for p in service["spec"]["ports"] if p["port"] == GRPC_PORT)
        assert ports.get(grpc_port["targetPort"], grpc_port["targetPort"]) == GRPC_PORT
    budget = k8s[("PodDisruptionBudget", "nigran")]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
