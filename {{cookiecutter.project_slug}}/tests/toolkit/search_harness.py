"""What the search tests share: the runs they start and a search's Optuna study."""

import subprocess
import time

import pytest

# Optuna is the [search] extra: pip install -e ".[search]".
optuna = pytest.importorskip("optuna")

# One short epoch per trial: what is tested is the search, not the training.
QUICK = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "1")
# Many small steps and no timed checkpoints, so that a signal lands mid-training.
LONG = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "batch_size",
    "2",
    "--modify",
    "checkpoint_interval",
    "null",
    "--modify",
    "epochs",
    "3",
)


def the_study(record: dict) -> optuna.Study:
    return optuna.load_study(
        study_name=record["search"]["study_name"], storage=record["search"]["storage"]
    )


def wait_for(started: subprocess.Popen, project, pattern: str) -> None:
    """Poll until a file matching `pattern` exists in the project."""
    deadline = time.monotonic() + 120
    while not list(project.glob(pattern)):
        assert started.poll() is None, started.communicate()
        assert time.monotonic() < deadline, f"no {pattern} within two minutes"
        time.sleep(0.01)
