"""What the sweep tests share: the runs they sweep, a point's final weights, and a wait for
the files of a running sweep."""

import subprocess
import time

import torch
from harness import read_yaml

# One short epoch per point: what is tested is the sweep, not the training.
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
)


def final_weights(run) -> dict:
    epochs = read_yaml(run / "metadata.yaml")["progress"]["epochs_completed"]
    return torch.load(run / f"model_epoch_{epochs - 1}.pth", weights_only=True)["model_state_dict"]


def wait_for(started: subprocess.Popen, project, pattern: str, folders: int = 1) -> None:
    """Poll until files matching `pattern` exist in the project, in `folders` folders."""
    deadline = time.monotonic() + 120
    while len({path.parent for path in project.glob(pattern)}) < folders:
        assert started.poll() is None, started.communicate()
        assert time.monotonic() < deadline, f"no {pattern} within two minutes"
        time.sleep(0.01)
