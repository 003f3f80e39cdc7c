"""Helpers of your tests: your data script, and committed throwaway copies of this project.

Tests that drive run.py work on a copy, so they never write into your logs/ and can
make the tree dirty on purpose; toolkit/testing.py has run_py and git to drive it.
"""

import subprocess
import sys
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit import testing

PROJECT_ROOT = Path(__file__).resolve().parents[1]
{% if cookiecutter.task == 'trajectory' %}
# make_dataset.py's arguments for a dataset of a few seconds' training: 40 training
# trajectories of 10 steps (400 samples), 12 validation and 10 test trajectories, in 3
# shards.
DATASET_ARGUMENTS = (
    "--train-trajectories",
    "40",
    "--val-trajectories",
    "12",
    "--test-trajectories",
    "10",
    "--horizon",
    "10",
    "--shards",
    "3",
)
{% elif cookiecutter.task == 'classification' %}
# make_dataset.py's arguments for a dataset of a few seconds' training: 400 training,
# 120 validation and 100 test images of 16 x 16 pixels, in 3 shards.
DATASET_ARGUMENTS = (
    "--train-images",
    "400",
    "--val-images",
    "120",
    "--test-images",
    "100",
    "--image-size",
    "16",
    "--shards",
    "3",
)
{% else %}
# make_dataset.py's arguments for a dataset of a few seconds' training.
DATASET_ARGUMENTS = (
    "--train-examples",
    "300",
    "--val-examples",
    "60",
    "--test-examples",
    "60",
    "--shards",
    "3",
)
{% endif %}


def make_dataset(
    output: Path,
    *arguments: str,
    script: Path = PROJECT_ROOT / "scripts" / "make_dataset.py",
) -> subprocess.CompletedProcess:
    """scripts/make_dataset.py --output OUTPUT ARGUMENTS, as a user would run it."""
    return subprocess.run(
        [sys.executable, str(script), "--output", str(output), *arguments],
        env=testing.environment(PROJECT_ROOT),
        capture_output=True,
        text=True,
    )


def committed_copy(directory: Path, dataset: Path) -> Path:
    """directory/project: this project with `dataset` as its data/, committed on a fresh
    repository."""
    return testing.committed_copy(PROJECT_ROOT, directory, dataset)
