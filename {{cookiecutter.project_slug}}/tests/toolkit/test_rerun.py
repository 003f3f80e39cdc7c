"""--rerun: a logged experiment reproduced at its own commit, the checkout left alone."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from harness import environment, git, run_directories, run_py

pytestmark = pytest.mark.machinery  # pytest -m machinery

QUICK = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "2",
    "--modify",
    "batch_size",
    "32",
)
# Many small steps, for stopping a re-run on a signal.
LONG = (
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


def metadata_of(run_directory) -> dict:
    return yaml.safe_load((run_directory / "metadata.yaml").read_text())


def test_rerun_reproduces_a_run_made_with_older_code(project):
    assert run_py(project, *QUICK).returncode == 0
    [original] = run_directories(project)
    recorded = metadata_of(original)

    # Later work changes what the same config does; the re-run must not see it.
    model_file = next((project / "src").glob("*/model.py"))
    model_file.write_text(model_file.read_text().replace("nn.ReLU()", "nn.Tanh()"))
    git(project, "commit", "--quiet", "--all", "-m", "a new activation")
    head = git(project, "rev-parse", "HEAD")

    result = run_py(project, "--rerun", str(original))
    assert result.returncode == 0, result.stderr
    assert "final results match bit for bit" in result.stdout

    [rerun] = [run for run in run_directories(project) if run != original]
    metadata = metadata_of(rerun)
    assert metadata["rerun_of"] == str(original)
    assert metadata["git"]["commit"] == recorded["git"]["commit"] != head
    assert metadata["config"] == recorded["config"]
    assert metadata["progress"]["last_results"] == recorded["progress"]["last_results"]
    # The user's checkout is untouched and no worktree is left behind.
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
    assert len(git(project, "worktree", "list").splitlines()) == 1


def test_rerun_needs_a_run_directory(project, tmp_path):
    result = run_py(project, "--rerun", str(tmp_path))
    assert result.returncode == 2
    assert "is not a run directory" in result.stderr and "Traceback" not in result.stderr


def wait_for_file(job: subprocess.Popen, directory: Path, pattern: str) -> None:
    deadline = time.monotonic() + 120
    while not list(directory.glob(pattern)):
        assert job.poll() is None, f"the re-run ended before {pattern} appeared"
        assert time.monotonic() < deadline, f"no {pattern} within two minutes"
        time.sleep(0.001)


def final_weights(run_directory) -> dict[str, torch.Tensor]:
    epochs = metadata_of(run_directory)["progress"]["epochs_completed"]
    checkpoint = run_directory / f"model_epoch_{epochs - 1}.pth"
    return torch.load(checkpoint, weights_only=True)["model_state_dict"]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_rerun_is_kept_in_logs_and_resumes(project, stop_signal):
    assert run_py(project, *LONG).returncode == 0
    [original] = run_directories(project)
    commit = metadata_of(original)["git"]["commit"]

    rerun = subprocess.Popen(
        [sys.executable, "run.py", "--rerun", str(original)],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    announcement = rerun.stdout.readline()  # re-running ... in WORKTREE
    worktree = Path(announcement.rsplit(" in ", 1)[1].strip())
    wait_for_file(rerun, worktree / "logs", "*/*/model_epoch_0.pth")
    rerun.send_signal(stop_signal)  # to run.py --rerun alone, as a cluster or `kill` does
    _, stderr = rerun.communicate(timeout=120)

    assert rerun.returncode == 128 + stop_signal, stderr[-3000:]
    assert "Traceback" not in stderr
    # Nothing left behind: the worktree, and the re-run's process (it wrote its status).
    assert len(git(project, "worktree", "list").splitlines()) == 1
    assert not worktree.exists()
    [stopped] = [run for run in run_directories(project) if run != original]
    metadata = metadata_of(stopped)
    assert metadata["status"] == "interrupted"
    assert metadata["error"] == f"stopped by {stop_signal.name}"
    assert metadata["rerun_of"] == str(original)
    assert list(stopped.glob("model_ckpt_ep_*_pct_*.pth"))
    assert f"git checkout {commit[:12]}" in stderr
    assert f"python run.py --resume {stopped}" in stderr

    # The copy is at the run's commit already, as after the `git checkout` it suggests.
    result = run_py(project, "--resume", str(stopped))
    assert result.returncode == 0, result.stderr
    assert metadata_of(stopped)["status"] == "finished"
    assert metadata_of(stopped)["progress"] == metadata_of(original)["progress"]
    original_weights = final_weights(original)
    for name, tensor in final_weights(stopped).items():
        assert torch.equal(tensor, original_weights[name]), name
