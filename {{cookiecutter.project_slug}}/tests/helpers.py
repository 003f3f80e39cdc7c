"""Helpers of your tests: committed throwaway copies of this project, and run.py in them.

Tests that drive run.py work on a copy, so they never write into your logs/ and can
make the tree dirty on purpose.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(
    ".git", "data", "logs", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv",
    "*.egg-info"
)
# Variables that would point git at another repository than the copy's.
GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")
{% if cookiecutter.task == 'trajectory' %}
# make_dataset.py's arguments for a dataset of a few seconds' training: 40 training
# trajectories of 10 steps (400 samples), 12 validation and 10 test trajectories, in 3
# shards.
DATASET_ARGUMENTS = ("--train-trajectories", "40", "--val-trajectories", "12",
                     "--test-trajectories", "10", "--horizon", "10", "--shards", "3")
{% elif cookiecutter.task == 'classification' %}
# make_dataset.py's arguments for a dataset of a few seconds' training: 400 training,
# 120 validation and 100 test images of 16 x 16 pixels, in 3 shards.
DATASET_ARGUMENTS = ("--train-images", "400", "--val-images", "120", "--test-images", "100",
                     "--image-size", "16", "--shards", "3")
{% else %}
# make_dataset.py's arguments for a dataset of a few seconds' training.
DATASET_ARGUMENTS = ("--train-examples", "300", "--val-examples", "60", "--test-examples",
                     "60", "--shards", "3")
{% endif %}


def environment(project: Path) -> dict[str, str]:
    """The environment a subprocess in `project` runs with: its own src/ first."""
    env = {key: value for key, value in os.environ.items() if key not in GIT_LOCATION_VARIABLES}
    # One thread per process: the tests' models are small, and intra-op threads spinning
    # against other busy processes made a run over ten times slower.
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


def make_dataset(output: Path, *arguments: str,
                 script: Path = PROJECT_ROOT / "scripts" / "make_dataset.py",
                 ) -> subprocess.CompletedProcess:
    """scripts/make_dataset.py --output OUTPUT ARGUMENTS, as a user would run it."""
    return subprocess.run([sys.executable, str(script), "--output", str(output), *arguments],
                          env=environment(PROJECT_ROOT), capture_output=True, text=True)


def run_directories(project: Path) -> list[Path]:
    return sorted(path.parent for path in (project / "logs").glob("*/*/metadata.yaml"))


def committed_copy(directory: Path, dataset: Path) -> Path:
    """directory/project: this project with `dataset` as its data/, committed on a fresh
    repository."""
    copy = directory / "project"
    shutil.copytree(PROJECT_ROOT, copy, ignore=NOT_COPIED)
    shutil.copytree(dataset, copy / "data")
    git(copy, "init", "--quiet")
    git(copy, "config", "user.name", "Test")
    git(copy, "config", "user.email", "test@example.com")
    git(copy, "add", "--all")
    git(copy, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", "copy")
    return copy
