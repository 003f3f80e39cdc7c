"""Fixtures: a small dataset, and throwaway committed copies of this project.

Tests that drive run.py work on a copy, so they never write into your logs/ and
can make the tree dirty on purpose.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(
    ".git", "data", "logs", "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", "*.egg-info"
)
# Variables that would point git at another repository than the copy's.
GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


def environment(project: Path) -> dict[str, str]:
    """The environment a subprocess in `project` runs with: its own src/ first."""
    env = {key: value for key, value in os.environ.items() if key not in GIT_LOCATION_VARIABLES}
    # One thread per training process: the tests' models are tiny, and intra-op threads
    # spinning against other busy processes made a run over ten times slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project / "src"),
                                                      env.get("PYTHONPATH")]))
    return env


def git(project: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=project, env=environment(project),
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def run_py(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`python run.py ARGS` in `project`, as a user would start it (no terminal)."""
    return subprocess.run([sys.executable, "run.py", *args], cwd=project,
                          env=environment(project), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600)


def run_directories(project: Path) -> list[Path]:
    return sorted(path.parent for path in (project / "logs").glob("*/*/metadata.yaml"))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset, written once per test session by the project's own script."""
    data = tmp_path_factory.mktemp("data")
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "make_dataset.py"), "--output", str(data),
         "--train-trajectories", "40", "--test-trajectories", "10", "--horizon", "10",
         "--shards", "3"],
        env=environment(PROJECT_ROOT), check=True, capture_output=True,
    )
    return data


@pytest.fixture
def project(tmp_path: Path, dataset: Path) -> Path:
    """A copy of this project's files with the small dataset, committed on a fresh repo."""
    return committed_copy(tmp_path, dataset)


def committed_copy(directory: Path, dataset: Path) -> Path:
    copy = directory / "project"
    shutil.copytree(PROJECT_ROOT, copy, ignore=NOT_COPIED)
    shutil.copytree(dataset, copy / "data")
    git(copy, "init", "--quiet")
    git(copy, "config", "user.name", "Test")
    git(copy, "config", "user.email", "test@example.com")
    git(copy, "add", "--all")
    git(copy, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", "copy")
    return copy
