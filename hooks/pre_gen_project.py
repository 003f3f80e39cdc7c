"""Reject answers that would produce a broken project, before anything is written.

Cookiecutter prints its own traceback after a failing hook, so the reason goes
first, on one line, in plain words.
"""

import json
import keyword
import re
import sys

# Answers arrive as JSON so that quotes or backslashes in them cannot break this file.
PROJECT_NAME = json.loads(r"""
{{ cookiecutter.project_name | tojson }}
""")
PROJECT_SLUG = json.loads(r"""
{{ cookiecutter.project_slug | tojson }}
""")

# Import names the generated project depends on or uses for its own layout: a package
# with one of these names would hide the real module (or `python run.py` would import
# the script instead of the package).
TAKEN_NAMES = {
    "cookiecutter",
    "data",
    "git",
    "h5py",
    "logs",
    "numpy",
    "pip",
    "pytest",
    "ruff",
    "run",
    "scripts",
    "setuptools",
    "src",
    "tensorboard",
    "test",
    "tests",
    "torch",
    "tqdm",
    "voluptuous",
    "yaml",
}


def slug_problem(slug: str) -> str | None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", slug):
        return (
            f"project_slug {slug!r} is not a lowercase Python identifier "
            "(letters a-z, digits and underscores, not starting with a digit)"
        )
    if keyword.iskeyword(slug):
        return f"project_slug {slug!r} is a Python keyword"
    if slug in sys.stdlib_module_names:
        return f"project_slug {slug!r} would shadow the standard library module {slug!r}"
    if slug in TAKEN_NAMES:
        return f"project_slug {slug!r} would shadow a module the project depends on or uses"
    return None


def main() -> int:
    if not PROJECT_NAME.strip():
        print("ERROR: project_name is empty; give the project a name.", file=sys.stderr)
        return 1
    problem = slug_problem(PROJECT_SLUG)
    if problem:
        suggestion = f"my_{PROJECT_SLUG}"
        if slug_problem(suggestion):
            suggestion = "my_project"
        print(f"ERROR: {problem}. Choose another, e.g. project_slug={suggestion}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
