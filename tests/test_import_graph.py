"""No import cycles in the package: every module's imports, at any depth, form a DAG.

Imports inside functions count too: a lazy import that closes a cycle (the stream engine
choosing the Dask engine, which imported the engine's types) still ties the two modules
together, and a refactor that makes it eager would deadlock the import.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "reports", "templates")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()

    def resolve(name: str) -> str | None:
        # "audit.core.registry.CHECKS" is the module audit.core.registry plus a name.
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    resolve(f"{node.module}.{alias.name}") or resolve(node.module)
                    for alias in node.names
                ]
            else:
                continue
            edges.update(target for target in targets if target is not None)
        edges.discard(name)
        graph[name] = edges
    return graph


def test_the_graph_covers_the_package() -> None:
    graph = import_graph()
    assert len(graph) > 100
    assert "audit.stream.engine" in graph["audit.stream.dask_engine"]
    assert "audit.fairness.tables" in graph["audit.fairness.stage"]


def test_no_module_imports_itself_back() -> None:
    try:
        tuple(TopologicalSorter(import_graph()).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


# What a finished result is made of: frozen dataclasses and enums, and the one serializer.
RESULT_TYPES = {
    "audit.core.result",
    "audit.core.findings",
    "audit.core.check_knowledge",
    "audit.core.comparison",
    "audit.core.serialize",
    "audit.core.status",
    "audit.datafit.results",
    "audit.explain.results",
    "audit.mitigation.results",
    "audit.privacy.report",
    "audit.regulatory.results",
    "audit.robustness.results",
    "audit.text.results",
}


def _reachable(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def test_the_renderers_read_only_the_result() -> None:
    """reports/ renders a finished result: at any depth it reaches the result types and
    nothing of the engine (no check, stage, policy or accountability table)."""
    graph = import_graph()
    renderers = {name for name in graph if name.split(".")[0] == "reports"}
    engine = {name for name in _reachable(graph, renderers) if name.split(".")[0] == "audit"}
    assert engine <= RESULT_TYPES, sorted(engine - RESULT_TYPES)
    assert "audit.core.result" in engine


# Who may read an AuditRequest: the shells that build it, the module that prepares it, and the
# places that resolve one part of it into their own frozen settings once.
READS_THE_REQUEST = {
    "audit",  # re-exports the type, lazily
    "audit.api",
    "audit.cli",
    "audit.core.prepare",
    "audit.models.inference",  # ScoringSpec.of: how rows are scored
    "audit.models.scoring",  # the OutputKind type only
    "audit.stream.run",  # open_engine: the engine the request names
}


def test_nothing_below_prepare_reads_the_request() -> None:
    """Stages and checks read the prepared audit; the request is resolved once."""
    graph = import_graph()
    readers = {name for name, edges in graph.items() if "audit.core.request" in edges}
    assert readers <= READS_THE_REQUEST, sorted(readers - READS_THE_REQUEST)
    stages_and_checks = {
        name for name in graph if name.endswith(".stage") or ".checks." in f"{name}."
    }
    for name in stages_and_checks:
        reached = _reachable(graph, {name}) - {name}
        assert "audit.core.prepare" not in reached, name
