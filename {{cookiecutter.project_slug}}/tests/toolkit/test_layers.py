"""The toolkit's modules stand in layers: the records of a run, then data and model, then
training, then jobs. A module of a layer imports only from its own layer and those below,
even inside a function; the optional features and the commands build on the layers,
which call them only through what the commands pass in (job.py's JobHooks,
job_training.py's OneProcess, processes.py's SingleProcess). And no chain of imports,
counting those made inside functions, leads from a module back to itself."""

import ast
from pathlib import Path

from harness import PACKAGE

TOOLKIT = PACKAGE / "toolkit"
# Lowest first. A module in none of them is a command or an optional feature's.
LAYERS = {
    "records": {
        "errors",
        "yaml_files",
        "hparams",
        "random_state",
        "selection",
        "stopping",
        "run_environment",
        "directory_lock",
        "repo",
        "checkpoints",
        "tensorboard_log",
        "mirrors",
        "run_directory",
        "fingerprint",
        "code_check",
        "worktree",
    },
    "data and model": {"base_dataset", "base_model", "config", "project", "builders"},
    "training": {"processes", "loop_protocol", "bookkeeping", "base_trainer"},
    "jobs": {"job", "job_training", "evaluation", "loading", "outcome", "rerun"},
}


def toolkit_imports(path: Path) -> set[str]:
    """The toolkit modules that the module at `path` imports, anywhere in it."""
    package = f"{PACKAGE.name}.toolkit"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == package:
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
            imported.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            imported |= {
                alias.name.split(".")[2]
                for alias in node.names
                if alias.name.startswith(package + ".")
            }
    return imported


def import_graph() -> dict[str, set[str]]:
    """Each toolkit module, with the toolkit modules it imports (not the package's own
    names, such as TEMPLATE_VERSION)."""
    paths = [path for path in TOOLKIT.glob("*.py") if path.stem != "__init__"]
    modules = {path.stem for path in paths}
    return {path.stem: (toolkit_imports(path) & modules) - {path.stem} for path in paths}


def test_every_layered_module_exists():
    modules = set(import_graph())
    assert {module for layer in LAYERS.values() for module in layer} <= modules


def test_a_layer_imports_only_from_itself_and_the_layers_below():
    graph = import_graph()
    allowed: set[str] = set()
    wrong = []
    for modules in LAYERS.values():
        allowed |= modules
        wrong += [
            (module, imported)
            for module in sorted(modules)
            for imported in sorted(graph[module] - allowed)
        ]
    assert wrong == []


def test_no_module_imports_itself_through_others():
    graph = import_graph()
    cycles = {
        " -> ".join(path) for start in sorted(graph) if (path := find_path(graph, start, start))
    }
    assert sorted(cycles) == []


def find_path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A chain of imports from `start` to `goal` (at least one step), or None."""
    seen: set[str] = set()
    stack = [(start, [start])]
    while stack:
        module, path = stack.pop()
        for imported in sorted(graph.get(module, ())):
            if imported == goal:
                return [*path, goal]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None
