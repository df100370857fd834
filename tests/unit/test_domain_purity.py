"""The domain core must not depend on Faust, Kafka clients or Prometheus."""

from __future__ import annotations

import ast
from pathlib import Path

import streams.domain

FORBIDDEN = {"faust", "mode", "aiokafka", "prometheus_client", "rocksdict"}
DOMAIN_DIR = Path(streams.domain.__file__).parent


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_imports_no_adapter_library() -> None:
    modules = sorted(DOMAIN_DIR.rglob("*.py"))
    assert modules
    offenders = {
        str(path.relative_to(DOMAIN_DIR)): imported_roots(path) & FORBIDDEN for path in modules
    }
    assert {name: found for name, found in offenders.items() if found} == {}
