"""No import circles among the ``leaderboard.submissions`` modules, nor among ``workers`` and ``workers.runners``.

Function-level imports count too: a circle hidden inside a function still ties the modules together (either
can only be understood, tested or moved with the other), so the graph is read from every ``import`` statement
in each module's syntax tree, not from what Python happens to load first.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "leaderboard.submissions"


def _module_files(package: str) -> dict[str, Path]:
    folder = REPO_ROOT.joinpath(*package.split("."))
    return {f"{package}.{path.stem}": path for path in folder.glob("*.py") if path.stem != "__init__"}


def _imported(tree: ast.AST, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``tree`` imports, at any depth (``from pkg import mod`` counts as mod)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    files = _module_files(package)
    return {name: _imported(ast.parse(path.read_text()), set(files)) - {name} for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_circle_through_function_level_imports():
    tree = ast.parse("def f():\n    from pkg import b\n")
    graph = {"pkg.a": _imported(tree, {"pkg.a", "pkg.b"}), "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}, "pkg.d": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_submissions_modules_import_no_circle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 10, graph  # the package was found
    assert cycles(graph) == []


def test_workers_modules_import_no_circle():
    """workers.pipeline sends the tasks by name (``task_signature``) instead of importing workers.tasks back."""
    graph = import_graph("workers")
    graph.update(import_graph("workers.runners"))
    assert {"workers.pipeline", "workers.tasks", "workers.runners.podman"} <= set(graph), sorted(graph)
    assert "workers.pipeline" in graph["workers.tasks"]
    assert cycles(graph) == []


def test_the_task_names_pipeline_sends_are_registered_tasks():
    from workers import pipeline, tasks

    for name, task in ((pipeline.VALIDATE_TASK, tasks.validate_submission), (pipeline.EVALUATE_TASK, tasks.evaluate_shard),
                       (pipeline.FINALIZE_TASK, tasks.finalize_submission)):
        assert task.name == name
        assert pipeline.task_signature(name, 1).type is task._get_current_object()
