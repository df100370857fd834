"""The domain core must not depend on Faust, Kafka clients, Prometheus or the exposition."""

from __future__ import annotations

import ast
from pathlib import Path

import streams.domain

FORBIDDEN = {"faust", "mode", "aiokafka", "prometheus_client", "rocksdict"}
DOMAIN_DIR = Path(streams.domain.__file__).parent
INSIDE = ("streams.domain", "streams.errors")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def imported_roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(path)}


def test_domain_imports_no_adapter_library() -> None:
    modules = sorted(DOMAIN_DIR.rglob("*.py"))
    assert modules
    offenders = {
        str(path.relative_to(DOMAIN_DIR)): imported_roots(path) & FORBIDDEN for path in modules
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_domain_imports_nothing_of_dealpulse_outside_it() -> None:
    """The exposition, the worker and the engine read the domain; it reads none of them
    (only the package's exception tree, `streams.errors`)."""
    outside = {
        str(path.relative_to(DOMAIN_DIR)): sorted(
            module
            for module in imported_modules(path)
            if module.startswith("streams.") and not module.startswith(INSIDE)
        )
        for path in sorted(DOMAIN_DIR.rglob("*.py"))
    }
    assert {name: found for name, found in outside.items() if found} == {}
