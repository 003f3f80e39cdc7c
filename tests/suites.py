"""Which of a generated project's tests a bake needs to run, given another bake whose
whole suite has run: the tests whose code differs between the two.

A test's code is its own source (decorators and parameters included) and the source of
every module-level definition it uses, directly or through another one. Imports are left
out: the package's name follows the task, and an import alone runs nothing."""

import ast
from pathlib import Path


def definitions(tree: ast.Module, source: str) -> dict[str, list[str]]:
    """Each module-level name, and the source of the statement that defines it (with its
    decorators)."""
    named = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            named[node.name] = [
                ast.get_source_segment(source, node),
                *(ast.get_source_segment(source, decorator) for decorator in node.decorator_list),
            ]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        named[name.id] = [ast.get_source_segment(source, node)]
    return named


def names_in(segments: list[str]) -> set[str]:
    return {
        node.id
        for segment in segments
        for node in ast.walk(ast.parse(segment))
        if isinstance(node, ast.Name)
    }


def code_of_tests(path: Path, package: str) -> dict[str, str]:
    """Each test function of the file at `path`, and its code (see the module's
    docstring), with the package's name written as PACKAGE."""
    source = path.read_text().replace(package, "PACKAGE")
    tree = ast.parse(source)
    named = definitions(tree, source)
    used_by = {name: names_in(segments) & named.keys() for name, segments in named.items()}
    codes = {}
    for name in named:
        if not name.startswith("test_"):
            continue
        closure, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in closure:
                closure.add(current)
                todo += used_by[current]
        codes[name] = "\n".join(segment for used in sorted(closure) for segment in named[used])
    return codes


def differing_tests(project: Path, reference: Path) -> list[str]:
    """The node ids (file::function) of the tests of `project` under tests/toolkit/ whose
    code differs from the same test's in `reference`, or that `reference` lacks."""
    differ = []
    for path in sorted((project / "tests" / "toolkit").glob("test_*.py")):
        relative = path.relative_to(project)
        ours = code_of_tests(path, project.name)
        theirs = (
            code_of_tests(reference / relative, reference.name)
            if (reference / relative).exists()
            else {}
        )
        differ += [f"{relative}::{name}" for name, code in ours.items() if theirs.get(name) != code]
    return differ
