"""Resuming: a run killed or stopped at any point continues to the very same weights."""

import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from conftest import committed_copy, environment, git, run_directories, run_py
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# Three short epochs with a checkpoint after every step, so that a kill can land before,
# during or after a checkpoint write; the learning rate halves after each epoch, so that
# a resume that lost the scheduler's state would end elsewhere.
TRAINING = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "3",
            "--modify", "batch_size", "16", "--modify", "log_interval", "2",
            "--modify", "checkpoint_interval", "0.000001",
            "--modify", "model_parameters.learning_rate_decay", "0.5")
# Many small steps and no timed checkpoints, for stopping on a signal.
LONG_TRAINING = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "4",
                 "--modify", "batch_size", "2", "--modify", "checkpoint_interval", "null")


class Started:
    """A run.py started in the background, and its run directory once it has one."""

    def __init__(self, project, *args: str):
        self.project = project
        self.earlier_runs = set(run_directories(project))
        self.process = subprocess.Popen(
            [sys.executable, "run.py", *args], cwd=project, env=environment(project),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @property
    def run(self):
        new = [run for run in run_directories(self.project) if run not in self.earlier_runs]
        return new[0] if new else None

    def wait_for_file(self, pattern: str) -> None:
        """Poll until the run directory holds a file matching `pattern`."""
        deadline = time.monotonic() + 120
        while self.run is None or not any(self.run.glob(pattern)):
            assert self.process.poll() is None, f"the run ended before {pattern} appeared"
            assert time.monotonic() < deadline, f"no {pattern} within two minutes"
            time.sleep(0.0005)

    def kill(self):
        self.process.kill()
        self.process.wait()
        return self.run


def final_state(run) -> tuple[dict, dict]:
    metadata = yaml.safe_load((run / "metadata.yaml").read_text())
    last = metadata["progress"]["epochs_completed"] - 1
    weights = torch.load(run / f"model_epoch_{last}.pth", weights_only=True)["model_state_dict"]
    return weights, metadata


def step_curve(run) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars("train_step/loss")]


def uninterrupted(project, *args: str):
    """Final weights, metadata and step curve of a run that is never stopped."""
    result = run_py(project, *args)
    assert result.returncode == 0, result.stderr
    run = run_directories(project)[-1]
    return (*final_state(run), step_curve(run))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, dataset):
    """The uninterrupted TRAINING run, made once for every test that compares with it."""
    return uninterrupted(committed_copy(tmp_path_factory.mktemp("reference"), dataset),
                         *TRAINING)


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory, dataset):
    return uninterrupted(committed_copy(tmp_path_factory.mktemp("reference"), dataset),
                         *LONG_TRAINING)


def assert_continues_exactly(project, resumed_run, reference) -> None:
    result = run_py(project, "--resume", str(resumed_run))
    assert result.returncode == 0, result.stderr
    weights, metadata, curve = (*final_state(resumed_run), step_curve(resumed_run))
    reference_weights, reference_metadata, reference_curve = reference
    for name, tensor in reference_weights.items():
        assert torch.equal(weights[name], tensor), name
    assert metadata["status"] == "finished"
    assert metadata["progress"]["last_results"] == reference_metadata["progress"]["last_results"]
    assert metadata["best"] == reference_metadata["best"]
    # Each step once, with the values of the run that never stopped.
    assert curve == reference_curve
    assert not list(resumed_run.glob("*.tmp"))


# --------------------------------------------------------------------------------------
# SIGKILL at any moment


@pytest.mark.parametrize("moment, pattern", [
    ("before any checkpoint", "metadata.yaml"),
    ("after a mid-epoch checkpoint", "model_ckpt_ep_0_pct_*.pth"),
    ("during a checkpoint write", ".model_*.tmp"),
    ("after an epoch's checkpoint", "model_epoch_1.pth"),
])
def test_a_killed_run_resumes_to_the_weights_it_would_have_had(project, reference, moment,
                                                               pattern):
    started = Started(project, *TRAINING)
    started.wait_for_file(pattern)
    killed = started.kill()
    assert yaml.safe_load((killed / "metadata.yaml").read_text())["status"] == "running"

    assert_continues_exactly(project, killed, reference)
    metadata = yaml.safe_load((killed / "metadata.yaml").read_text())
    assert len(metadata["resumed"]) == 1
    # The scheduler went on counting epochs where it stopped, not from zero.
    last = torch.load(killed / "model_epoch_2.pth", weights_only=True)
    assert last["scheduler_state_dict"]["last_epoch"] == 3
    assert last["optimizer_state_dict"]["param_groups"][0]["lr"] == 0.001 * 0.5 ** 3


def test_a_damaged_newest_checkpoint_is_skipped_with_a_warning(project, reference):
    started = Started(project, *TRAINING)
    started.wait_for_file("model_epoch_1.pth")
    killed = started.kill()
    newest = max(killed.glob("model_*.pth"), key=lambda path: path.stat().st_mtime_ns)
    newest.write_bytes(newest.read_bytes()[:1000])  # as if truncated by hand

    result = run_py(project, "--resume", str(killed))
    assert result.returncode == 0, result.stderr
    assert f"warning: {newest.name} is damaged" in result.stderr
    weights, _ = final_state(killed)
    for name, tensor in reference[0].items():
        assert torch.equal(weights[name], tensor), name


def test_mid_epoch_checkpoints_do_not_change_the_result(project, reference):
    without = uninterrupted(project, *TRAINING, "--modify", "checkpoint_interval", "null")
    for name, tensor in without[0].items():
        assert torch.equal(reference[0][name], tensor), name


# --------------------------------------------------------------------------------------
# Stop signals


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_a_stop_signal_checkpoints_and_the_run_resumes_exactly(project, long_reference,
                                                              stop_signal):
    started = Started(project, *LONG_TRAINING)
    started.wait_for_file("model_epoch_0.pth")
    started.process.send_signal(stop_signal)
    _, stderr = started.process.communicate(timeout=60)
    assert started.process.returncode == 128 + stop_signal, stderr
    stopped = started.run
    metadata = yaml.safe_load((stopped / "metadata.yaml").read_text())
    assert metadata["status"] == "interrupted"
    assert metadata["error"] == f"stopped by {stop_signal.name}"
    assert list(stopped.glob("model_ckpt_ep_*_pct_*.pth")), "no checkpoint at the stop"
    assert f"python run.py --resume {stopped}" in stderr

    assert_continues_exactly(project, stopped, long_reference)


# --------------------------------------------------------------------------------------
# What --resume refuses


def killed_run(project):
    started = Started(project, *TRAINING)
    started.wait_for_file("model_epoch_0.pth")
    return started.kill()


def test_resume_refuses_a_dirty_tree_and_other_code(project):
    run = killed_run(project)
    (project / "notes.txt").write_text("not committed")
    result = run_py(project, "--resume", str(run))
    assert result.returncode == 2 and "uncommitted changes" in result.stderr

    git(project, "add", "notes.txt")
    git(project, "commit", "--quiet", "-m", "notes")
    result = run_py(project, "--resume", str(run))
    assert result.returncode == 2
    assert "the run was made at commit" in result.stderr and "Traceback" not in result.stderr
    assert yaml.safe_load((run / "metadata.yaml").read_text())["status"] == "running"


def test_resume_refuses_what_it_cannot_continue(project, tmp_path):
    result = run_py(project, "--resume", str(tmp_path))
    assert result.returncode == 2 and "is not a run directory" in result.stderr

    assert run_py(project, *TRAINING, "--modify", "epochs", "1").returncode == 0
    [finished] = run_directories(project)
    result = run_py(project, "--resume", str(finished))
    assert result.returncode == 2 and "has finished" in result.stderr

    result = run_py(project, "sample_runconfig.yaml", "--resume", str(finished))
    assert result.returncode == 2 and "leave out: config" in result.stderr


def test_the_resume_is_recorded_with_its_environment(project):
    run = killed_run(project)
    assert run_py(project, "--resume", str(run)).returncode == 0
    metadata = yaml.safe_load((run / "metadata.yaml").read_text())
    [resumed] = metadata["resumed"]
    assert resumed["from"].endswith(".pth")
    assert resumed["environment"]["threads"] == metadata["environment"]["threads"]
