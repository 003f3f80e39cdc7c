"""A user's journey through run.py in a few seconds: train, stop, resume, evaluate, list
and compare. The default suite's one pass over the machinery; the tests marked
machinery check each step in depth (pytest -m machinery)."""

import signal
import subprocess
import sys
import time

import torch
import yaml
from harness import environment, run_directories, run_py

# Three epochs of 50 small steps, a checkpoint at the end of each epoch only.
TRAINING = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "3",
    "--modify",
    "batch_size",
    "2",
    "--modify",
    "checkpoint_interval",
    "null",
)


def metadata_of(run) -> dict:
    return yaml.safe_load((run / "metadata.yaml").read_text())


def final_weights(run) -> dict[str, torch.Tensor]:
    last = metadata_of(run)["progress"]["epochs_completed"] - 1
    return torch.load(run / f"model_epoch_{last}.pth", weights_only=True)["model_state_dict"]


def stopped_after_the_first_epoch(project):
    """A run of TRAINING sent SIGTERM once its first epoch's checkpoint is on disk."""
    earlier = set(run_directories(project))
    process = subprocess.Popen(
        [sys.executable, "run.py", *TRAINING],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not [
        run
        for run in set(run_directories(project)) - earlier
        if (run / "model_epoch_0.pth").exists()
    ]:
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within two minutes"
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    [run] = set(run_directories(project)) - earlier
    return run, stderr


def test_a_stopped_run_resumes_exactly_and_is_evaluated_listed_and_compared(project):
    assert run_py(project, *TRAINING).returncode == 0
    [reference] = run_directories(project)

    stopped, stderr = stopped_after_the_first_epoch(project)
    assert metadata_of(stopped)["status"] == "interrupted"
    assert f"python run.py --resume {stopped}" in stderr
    resumed = run_py(project, "--resume", str(stopped))
    assert resumed.returncode == 0, resumed.stderr
    assert metadata_of(stopped)["status"] == "finished"
    expected, weights = final_weights(reference), final_weights(stopped)
    assert expected.keys() == weights.keys()
    assert all(torch.equal(weights[name], tensor) for name, tensor in expected.items())

    evaluated = run_py(project, "--evaluate", str(stopped))
    assert evaluated.returncode == 0, evaluated.stderr
    assert list((stopped / "evaluations").iterdir())

    listed = run_py(project, "--list", "--format", "csv")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("finished") == 2

    compared = run_py(project, "--compare", str(reference), str(stopped))
    assert compared.returncode == 0, compared.stderr
    assert reference.name in compared.stdout and stopped.name in compared.stdout
