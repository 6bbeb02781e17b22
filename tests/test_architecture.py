"""Layering rules, checked on the source: the core and index_builder stay free of the gRPC layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "service/core": ("grpc", "grpc_health", "grpc_reflection", "grpc_status", "google.protobuf", "google.rpc", "service.api"),
    "index_builder": ("grpc", "grpc_health", "grpc_reflection", "grpc_status", "google.protobuf", "google.rpc", "service.api"),
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_does_not_import_grpc_or_protobuf(package: str) -> None:
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert offenders == []
