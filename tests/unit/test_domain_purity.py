"""The domain core must not depend on Faust, Kafka clients, Prometheus or the exposition."""

from __future__ import annotations

from pathlib import Path

import streams.domain
from tests.support.imports import imported_modules, imported_roots

FORBIDDEN = {"faust", "mode", "aiokafka", "prometheus_client", "rocksdict"}
DOMAIN_DIR = Path(streams.domain.__file__).parent
INSIDE = ("streams.domain", "streams.errors")


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
