"""Helpers for tests that drive run.py as a user does: committed throwaway copies of the
project, and run.py and git in them. Your tests (tests/helpers.py) and the toolkit's
(tests/toolkit/harness.py) both use them."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# What a copy leaves out: the repository, data, run directories and caches.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    "data",
    "logs",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".venv",
    "*.egg-info",
)
# Variables that would point git at another repository than the copy's.
GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


def environment(project: Path) -> dict[str, str]:
    """The environment a subprocess in `project` runs with: its own src/ first."""
    env = {key: value for key, value in os.environ.items() if key not in GIT_LOCATION_VARIABLES}
    # One thread per process: the tests' models are small, and intra-op threads spinning
    # against other busy processes made a run over ten times slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project / "src"), env.get("PYTHONPATH")]))
    return env


def git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=project,
        env=environment(project),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def run_py(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`python run.py ARGS` in `project`, as a user would start it (no terminal)."""
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_directories(project: Path) -> list[Path]:
    return sorted(path.parent for path in (project / "logs").glob("*/*/metadata.yaml"))


def committed_copy(
    source: Path, directory: Path, dataset: Path, prepare: Callable[[Path], None] | None = None
) -> Path:
    """directory/project: the project at `source`, changed by `prepare` if given, with
    `dataset` as its data/, committed on a fresh repository."""
    copy = directory / "project"
    shutil.copytree(source, copy, ignore=NOT_COPIED)
    if prepare is not None:
        prepare(copy)
    shutil.copytree(dataset, copy / "data")
    git(copy, "init", "--quiet")
    git(copy, "config", "user.name", "Test")
    git(copy, "config", "user.email", "test@example.com")
    git(copy, "add", "--all")
    git(copy, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", "copy")
    return copy
