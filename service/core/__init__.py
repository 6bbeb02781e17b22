"""The matching core: plain Python, no grpc or protobuf.

The public surface is what this module exports: the gRPC layer
(``service.api``), the CLI, ``index_builder`` and ``evaluation`` import from
``service.core`` only, never from the modules below it, and
``tests/test_architecture.py`` pins both the list and that rule. Everything
else in the package is an implementation detail that may change.
"""

from service.core.cancellation import StopCheck, within_budget
from service.core.config import (
    ADAPTERS_DIR, BACKENDS, BUNDLED_MODEL, DEFAULT_CALIBRATION_DIR, AuthConfig, CompactionConfig, Limits, ModelConfig, NigranConfig,
    QuarantineConfig, ServerConfig, StoreConfig
)
from service.core.curation.service import Curation
from service.core.domain import (
    DEFAULT_BANK, SUPPORTED_LANGUAGES, AddOptions, AddOutcome, AuditEntry, AuditQuery, Bank, BankChanges, BankKind, BankStats,
    Candidate, Comparison, CurationStats, DailyFeedback, ExportPage, Feedback, FeedbackSummary, FeedbackVerdict, ImportSummary,
    LoadedIndex, LoggedMatch, Match, MatchLogQuery, MatchOptions, MatchRate, Measure, Neighbourhoods, NewReference, OnDuplicate, OnExistingId, OnInvalid,
    OnMissingBank, Post, PostCandidates, PostFeatures, PostResult, ReferenceItem, ReferenceQuery, ReferenceState,
    ReferenceStats, Rejected, Signal, SignalScore, StateChange, Verdict
)
from service.core.embedding.embedder import Embedder, SentenceTransformerEmbedder, resolve_model_dir
from service.core.engine import Engine
from service.core.errors import (
    AlreadyExists, Cancelled, ConfigError, FailedPrecondition, IndexCorrupt, InvalidInput, LimitExceeded, ModelError,
    ModelMismatch, ModelProvisionError, NigranError, NotFound, NotReady, StoreUnavailable, Conflict
)
from service.core.index.artifact import Manifest, new_version, write_artifact
from service.core.index.base import NO_ID, VectorIndex
from service.core.index.faiss_index import FaissIndex
from service.core.index.rerank import ExactRerank, VectorLookup
from service.core.index.spec import INDEX_TYPES, IndexSpec, IndexType, choose_spec, new_index, set_nprobe, train_sample_size
from service.core.matching.background import Background
from service.core.matching.bank_size import SIZE_GRID, TARGET_GRID, BankCurves, BankOperatingPoints, BankPolicy, OperatingCurve, pick_for_bank
from service.core.matching.calibration import BACKGROUND_FILE, Calibration, load_calibration
from service.core.matching.cascade import Cascade, translation_score
from service.core.matching.lexical import lexical_similarity, shingles, word_count
from service.core.matching.thresholds import Thresholds, scalar_values
from service.core.matching.translation import FEATURES, features
from service.core.observe import Observer
from service.core.records import (
    new_reference_from_record, reference_from_record, reference_to_record, result_from_record, result_to_record
)
from service.core.text.normalize import canonical_form
from service.core.text.prepare import PreparedText, prepare_text
from service.core.validation import check_posts
from service.core.wiring import OfflineCuration, model_embedder, open_offline

__all__ = [
    "ADAPTERS_DIR",
    "BACKENDS",
    "BACKGROUND_FILE",
    "BUNDLED_MODEL",
    "DEFAULT_BANK",
    "DEFAULT_CALIBRATION_DIR",
    "FEATURES",
    "INDEX_TYPES",
    "NO_ID",
    "SIZE_GRID",
    "TARGET_GRID",
    "SUPPORTED_LANGUAGES",
    "AddOptions",
    "AddOutcome",
    "AlreadyExists",
    "AuditEntry",
    "AuditQuery",
    "AuthConfig",
    "Background",
    "Bank",
    "BankChanges",
    "BankKind",
    "BankStats",
    "BankOperatingPoints",
    "BankPolicy",
    "Calibration",
    "Cancelled",
    "Candidate",
    "Cascade",
    "Comparison",
    "CompactionConfig",
    "ConfigError",
    "Curation",
    "CurationStats",
    "DailyFeedback",
    "Embedder",
    "Engine",
    "ExactRerank",
    "ExportPage",
    "FailedPrecondition",
    "FaissIndex",
    "Feedback",
    "FeedbackSummary",
    "FeedbackVerdict",
    "ImportSummary",
    "IndexCorrupt",
    "IndexSpec",
    "IndexType",
    "InvalidInput",
    "LimitExceeded",
    "Limits",
    "LoadedIndex",
    "Manifest",
    "Match",
    "LoggedMatch",
    "MatchLogQuery",
    "MatchOptions",
    "MatchRate",
    "Measure",
    "ModelConfig",
    "ModelError",
    "ModelMismatch",
    "ModelProvisionError",
    "Neighbourhoods",
    "NewReference",
    "NigranConfig",
    "NigranError",
    "NotFound",
    "NotReady",
    "StoreUnavailable",
    "Conflict",
    "Observer",
    "OfflineCuration",
    "OnDuplicate",
    "OnExistingId",
    "OnInvalid",
    "OnMissingBank",
    "BankCurves",
    "Post",
    "PostCandidates",
    "PostFeatures",
    "PostResult",
    "PreparedText",
    "QuarantineConfig",
    "OperatingCurve",
    "ReferenceItem",
    "ReferenceQuery",
    "ReferenceState",
    "ReferenceStats",
    "Rejected",
    "SentenceTransformerEmbedder",
    "ServerConfig",
    "StoreConfig",
    "Signal",
    "SignalScore",
    "StateChange",
    "StopCheck",
    "Thresholds",
    "VectorIndex",
    "VectorLookup",
    "Verdict",
    "canonical_form",
    "check_posts",
    "choose_spec",
    "features",
    "lexical_similarity",
    "load_calibration",
    "new_index",
    "new_reference_from_record",
    "new_version",
    "model_embedder",
    "open_offline",
    "pick_for_bank",
    "prepare_text",
    "reference_from_record",
    "reference_to_record",
    "result_from_record",
    "result_to_record",
    "scalar_values",
    "set_nprobe",
    "shingles",
    "train_sample_size",
    "translation_score",
    "within_budget",
    "word_count",
    "write_artifact",
    "resolve_model_dir",
]
