"""The shape of the code, checked on the source.

* The layer graph: the core is below everything; the gRPC layer (with the
  CLI), ``index_builder`` and ``evaluation`` each use the core and never each
  other; the core never imports grpc or protobuf.
* No import cycles anywhere in ``service/``, ``index_builder/`` or
  ``evaluation/``. Every import counts, including those inside functions and
  ``TYPE_CHECKING`` blocks: a cycle hidden in a function is still a cycle.
* The public surface: those three packages import from ``service.core`` only,
  and what they import is exactly what ``service.core`` exports.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "index_builder", "evaluation")
GENERATED = "service/api/_generated"
GRPC_AND_PROTOBUF = ("grpc", "grpc_health", "grpc_reflection", "grpc_status", "google.protobuf", "google.rpc")

# Layer -> the top-level modules it must not import.
FORBIDDEN = {
    "service.core": (*GRPC_AND_PROTOBUF, "service.api", "service.cli", "service.cli_curation", "index_builder", "evaluation"),
    "service.api": ("index_builder", "evaluation"),
    "service.cli": ("index_builder", "evaluation"),
    "index_builder": (*GRPC_AND_PROTOBUF, "service.api", "service.cli", "evaluation"),
    "evaluation": (*GRPC_AND_PROTOBUF, "service.api", "service.cli", "index_builder"),
}
# Exported though no client layer names them, each for a reason a Python user of the core has.
EXPORTED_FOR_USERS = {
    # The documented error hierarchy (service/core/errors.py): callers catch these.
    "ConfigError": "error hierarchy", "IndexCorrupt": "error hierarchy", "LimitExceeded": "error hierarchy",
    "ModelError": "error hierarchy", "ModelMismatch": "error hierarchy", "ModelProvisionError": "error hierarchy",
    "StoreUnavailable": "error hierarchy",
    # What public calls return or take, so callers can annotate their code.
    "AddOutcome": "References.add returns it", "Rejected": "AddOutcome.rejected holds them",
    "ExportPage": "Exchange.export returns it", "PostCandidates": "Engine.candidates returns them",
    "Neighbourhoods": "Candidate.neighbourhoods", "PreparedText": "prepare_text returns it",
    "CompactionConfig": "a NigranConfig section", "ServerConfig": "a NigranConfig section",
    "BankPolicy": "a NigranConfig section", "StoreConfig": "a NigranConfig section", "BankOperatingPoints": "Engine.operating_points returns it",
    "BUNDLED_MODEL": "the default ModelConfig.name",
    # The torch backend by name, for code that wants it whatever the config says (tests, bench/).
    "SentenceTransformerEmbedder": "the torch encoder backend",
    # Reading index_builder screen output back (the inverse of result_to_record).
    "result_from_record": "reading screening output",
}

# The layers that reach the core through its public surface only.
CLIENT_LAYERS = ("service.api", "service.cli", "service.cli_curation", "index_builder", "evaluation")

# The public surface, pinned: adding to it (or dropping from it) is a deliberate change.
PUBLIC_SURFACE = sorted(
    """
    ADAPTERS_DIR BACKENDS BACKGROUND_FILE BUNDLED_MODEL DEFAULT_BANK DEFAULT_CALIBRATION_DIR FEATURES INDEX_TYPES NO_ID SIZE_GRID TARGET_GRID
    SUPPORTED_LANGUAGES AddOptions AddOutcome AlreadyExists AuditEntry Cancelled AuditQuery AuthConfig Background Bank
    BankChanges BankKind BankStats BankCurves BankOperatingPoints BankPolicy OperatingCurve pick_for_bank
    Calibration Candidate Cascade Comparison CompactionConfig ConfigError Curation CurationStats Embedder Engine ExactRerank
    ExportPage FaissIndex FailedPrecondition Feedback FeedbackSummary FeedbackVerdict ImportSummary IndexCorrupt DailyFeedback
    IndexSpec IndexType InvalidInput LimitExceeded Limits LoadedIndex LoggedMatch Manifest Match MatchLogQuery MatchOptions MatchRate Measure ModelConfig ModelError
    ModelMismatch ModelProvisionError Neighbourhoods NewReference NigranConfig NigranError NotFound NotReady StoreUnavailable Conflict
    StoreConfig
    Observer OfflineCuration OnDuplicate OnExistingId OnInvalid OnMissingBank Post PostCandidates PostFeatures PostResult
    PreparedText QuarantineConfig ReferenceItem ReferenceQuery ReferenceState ReferenceStats Rejected
    SentenceTransformerEmbedder ServerConfig Signal SignalScore StateChange StopCheck Thresholds VectorIndex VectorLookup Verdict
    canonical_form check_posts choose_spec features lexical_similarity load_calibration model_embedder new_index
    new_reference_from_record new_version open_offline prepare_text reference_from_record reference_to_record
    result_from_record result_to_record scalar_values set_nprobe shingles train_sample_size translation_score
    within_budget word_count write_artifact resolve_model_dir
    """.split()
)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or package)
    names: tuple[str, ...]  # for "from target import names"
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path = REPO) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if not str(path.relative_to(root)).startswith(GENERATED):
                files[module_name(path)] = path
    return files


def imports_of(name: str, path: Path) -> list[Import]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(Import(name, base, tuple(alias.name for alias in node.names), node.lineno))
    return found


def module_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for imp in imports_of(name, path):
            targets = [f"{imp.target}.{n}" for n in imp.names if f"{imp.target}.{n}" in files] or [imp.target]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def test_no_import_cycles() -> None:
    found = cycles(module_graph(source_files()))
    assert found == [], "import cycles (modules that reach each other): " + "; ".join(", ".join(c) for c in found)


def test_cycle_detection_finds_a_planted_cycle(tmp_path: Path) -> None:
    """The checker itself: two modules that import each other (one of them lazily) are a cycle."""
    pkg = tmp_path / "service"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from service.b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from service import a\n    return a\n")
    files = {module_name_in(tmp_path, p): p for p in sorted(pkg.glob("*.py"))}
    assert cycles(module_graph(files)) == [["service.a", "service.b"]]


def module_name_in(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_is_below_them(layer: str) -> None:
    offenders = []
    for name, path in source_files().items():
        if not _within(name, layer):
            continue
        for imp in imports_of(name, path):
            if any(_within(imp.target, bad) for bad in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(REPO)}:{imp.line} imports {imp.target}")
    assert offenders == []


def test_core_modules_never_import_the_public_surface_package() -> None:
    """Inside the core, modules import each other directly; only the outside goes through ``service.core``."""
    offenders = [
        f"{path.relative_to(REPO)}:{imp.line}"
        for name, path in source_files().items()
        if _within(name, "service.core") and name != "service.core"
        for imp in imports_of(name, path)
        if imp.target == "service.core"
    ]
    assert offenders == []


def test_clients_use_the_public_surface_and_it_is_what_they_use() -> None:
    reaching_in: list[str] = []
    used: set[str] = set()
    for name, path in source_files().items():
        if not any(_within(name, layer) for layer in CLIENT_LAYERS):
            continue
        for imp in imports_of(name, path):
            if imp.target == "service.core":
                used.update(imp.names)
            elif _within(imp.target, "service.core"):
                reaching_in.append(f"{path.relative_to(REPO)}:{imp.line} imports {imp.target}")
    assert reaching_in == []
    exported = importlib.import_module("service.core").__all__
    assert sorted(exported) == PUBLIC_SURFACE
    assert used | set(EXPORTED_FOR_USERS) == set(exported), (
        f"exported but unused: {sorted(set(exported) - used - set(EXPORTED_FOR_USERS))}; "
        f"used but not exported: {sorted(used - set(exported))}"
    )
