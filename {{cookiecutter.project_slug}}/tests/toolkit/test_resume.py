"""Resuming: a run killed or stopped at any point continues to the very same weights,
and its record (metadata.yaml) can be damaged by neither a second process nor an edit."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from harness import (
    HELD_OUT_SAMPLES,
    Started,
    assert_continues_exactly,
    committed_copy,
    environment,
    final_state,
    git,
    run_directories,
    run_py,
    uninterrupted,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery

# Three short epochs with a checkpoint after every step, so that a kill can land before,
# during or after a checkpoint write; the learning rate halves after each epoch, so that
# a resume that lost the scheduler's state would end elsewhere.
TRAINING = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "3",
    "--modify",
    "batch_size",
    "16",
    "--modify",
    "log_interval",
    "2",
    "--modify",
    "checkpoint_interval",
    "0.000001",
    "--modify",
    "model_parameters.learning_rate_decay",
    "0.5",
)
# Many small steps and no timed checkpoints, for stopping on a signal.
LONG_TRAINING = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "4",
    "--modify",
    "batch_size",
    "2",
    "--modify",
    "checkpoint_interval",
    "null",
)
# The training options on: gradients of 3 batches add up to each optimizer step (each
# epoch's last step takes the 2 batches left over), a clip norm small enough to clip, and
# a learning rate that changes after every optimizer step; a loss point every 5 steps.
TRAINING_OPTIONS = (
    "--modify",
    "log_interval",
    "5",
    "--modify",
    "gradient_accumulation_steps",
    "3",
    "--modify",
    "gradient_clip_norm",
    "0.05",
    "--modify",
    "learning_rate_schedule",
    "{type: warmup_cosine, warmup_steps: 10, final_learning_rate: 1.0e-5}",
)
# One sample per batch from a large val split (the large_val_split fixture), so that
# the val phase runs long enough to be stopped in.
HELD_OUT_TRAINING = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "2",
    "--modify",
    "batch_size",
    "1",
    "--modify",
    "checkpoint_interval",
    "null",
    "--modify",
    "data_loader_parameters",
    json.dumps({"test": {"mini_size": HELD_OUT_SAMPLES["val"]}}),
)


@pytest.fixture(scope="module")
def reference_project(tmp_path_factory, dataset):
    """A committed copy holding the uninterrupted TRAINING run, made once for every test
    that compares with it or needs another run's checkpoint; and that run's final
    weights, metadata and step curve."""
    project = committed_copy(tmp_path_factory.mktemp("reference"), dataset)
    return project, uninterrupted(project, *TRAINING)


@pytest.fixture(scope="module")
def reference(reference_project):
    """The uninterrupted TRAINING run's final weights, metadata and step curve."""
    return reference_project[1]


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory, dataset):
    return uninterrupted(
        committed_copy(tmp_path_factory.mktemp("reference"), dataset), *LONG_TRAINING
    )


@pytest.fixture(scope="module")
def options_reference(tmp_path_factory, dataset):
    return uninterrupted(
        committed_copy(tmp_path_factory.mktemp("reference"), dataset),
        *LONG_TRAINING,
        *TRAINING_OPTIONS,
    )


@pytest.fixture(scope="module")
def held_out_reference(tmp_path_factory, large_val_split):
    return uninterrupted(
        committed_copy(tmp_path_factory.mktemp("reference"), large_val_split), *HELD_OUT_TRAINING
    )


# --------------------------------------------------------------------------------------
# SIGKILL at any moment


@pytest.mark.parametrize(
    "moment, pattern",
    [
        ("before any checkpoint", "metadata.yaml"),
        ("after a mid-epoch checkpoint", "model_ckpt_ep_0_pct_*.pth"),
        ("during a checkpoint write", ".model_*.tmp"),
        ("after an epoch's checkpoint", "model_epoch_1.pth"),
    ],
)
def test_a_killed_run_resumes_to_the_weights_it_would_have_had(project, reference, moment, pattern):
    started = Started(project, *TRAINING)
    started.wait_for_file(pattern)
    killed = started.kill()
    metadata = yaml.safe_load((killed / "metadata.yaml").read_text())
    assert metadata["status"] == "running"
    # What lets `run.py --list` see that this run died.
    assert metadata["process"]["pid"] == started.process.pid

    assert_continues_exactly(project, killed, reference)
    metadata = yaml.safe_load((killed / "metadata.yaml").read_text())
    assert len(metadata["resumed"]) == 1
    assert metadata["process"]["pid"] != started.process.pid  # the resuming process
    # The scheduler went on counting epochs where it stopped, not from zero.
    last = torch.load(killed / "model_epoch_2.pth", weights_only=True)
    assert last["scheduler_state_dict"]["last_epoch"] == 3
    initial = last["config"]["model_parameters"]["learning_rate"]
    assert last["optimizer_state_dict"]["param_groups"][0]["lr"] == initial * 0.5**3


def test_early_stopping_counts_the_epochs_of_the_run_it_resumes(project):
    # Frozen weights (learning rate 0) never beat epoch 0's val/loss: with a patience of
    # 2 epochs, training ends after epoch 2, however the epochs were split between runs.
    early = (
        *TRAINING,
        "--modify",
        "epochs",
        "6",
        "model_parameters.learning_rate",
        "0",
        "selection",
        "{metric: val/loss, patience: 2}",
    )
    reference = uninterrupted(project, *early)
    metadata = reference[1]
    assert metadata["progress"]["epochs_completed"] == 3
    assert metadata["progress"]["stopped_early"] == (
        "no better val/loss for 2 epochs after epoch 0"
    )
    assert metadata["best"]["epoch"] == metadata["final_test"]["epoch"] == 0

    started = Started(project, *early)
    started.wait_for_file("model_epoch_1.pth")
    assert_continues_exactly(project, started.kill(), reference)


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
def test_a_stop_signal_checkpoints_and_the_run_resumes_exactly(
    project, long_reference, stop_signal
):
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


def test_a_run_with_accumulation_clipping_and_warmup_cosine_stops_and_resumes_exactly(
    project, options_reference
):
    started = Started(project, *LONG_TRAINING, *TRAINING_OPTIONS)
    started.wait_for_output("epoch 1 train")
    started.process.send_signal(signal.SIGTERM)
    stderr = started.communicate()
    assert started.process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    stopped = started.run
    [checkpoint_path] = stopped.glob("model_ckpt_ep_*_pct_*.pth")
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    # 50 batches an epoch, 17 optimizer steps: stopped after one, never within one.
    batches = checkpoint["position"] if checkpoint["phase"] == "train" else 50
    assert batches % 3 == 0 or batches == 50
    assert checkpoint["step"] == 17 * checkpoint["epoch"] + math.ceil(batches / 3)
    assert checkpoint["scheduler_state_dict"]["last_epoch"] == checkpoint["step"]

    assert_continues_exactly(project, stopped, options_reference)
    recorded = yaml.safe_load((stopped / "metadata.yaml").read_text())["config"]
    assert recorded["gradient_accumulation_steps"] == 3
    assert recorded["gradient_clip_norm"] == 0.05
    assert recorded["learning_rate_schedule"]["type"] == "warmup_cosine"


@pytest.mark.parametrize("phase", ["val"])
def test_a_stop_in_a_held_out_phase_is_prompt_and_the_phase_continues_exactly(
    tmp_path, large_val_split, held_out_reference, phase
):
    project = committed_copy(tmp_path, large_val_split)
    started = Started(project, *HELD_OUT_TRAINING)
    started.wait_for_output(f"epoch 0 {phase}")  # its progress bar: the phase has begun
    started.process.send_signal(signal.SIGTERM)
    stderr = started.communicate()
    assert started.process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    stopped = started.run
    assert yaml.safe_load((stopped / "metadata.yaml").read_text())["status"] == "interrupted"

    # Stopped within the phase, not at its end, with what it had summed so far.
    [checkpoint_path] = stopped.glob("model_ckpt_ep_*_pct_*.pth")
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert (checkpoint["epoch"], checkpoint["phase"]) == (0, phase)
    assert 0 < checkpoint["position"] < HELD_OUT_SAMPLES[phase]
{% if cookiecutter.multi_gpu %}
    [own] = checkpoint["process_states"]
{% else %}
    own = checkpoint["process_state"]
{% endif %}
    assert own["held_out_samples"] == checkpoint["position"]  # one sample per batch
    assert "loss" in own["held_out_totals"]
    assert set(checkpoint["results"]) == {"train", "val"} - {phase}

    # The resumed run trains nothing again and picks the phase up where it stood.
    result = assert_continues_exactly(project, stopped, held_out_reference)
    assert f"epoch 0 {phase}" in result.stderr
    assert f"{checkpoint['position']}/{HELD_OUT_SAMPLES[phase]}" in result.stderr
    assert "epoch 0 train" not in result.stderr


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


def test_resume_from_a_worktree_at_the_commit_runs_that_worktree_s_code(project, tmp_path):
    """What the commit error advises: a `git worktree` at the run's commit. With a
    virtual environment shared with the first checkout (simulated by its src/ on
    PYTHONPATH), that worktree would import the first checkout's edited code."""
    run = killed_run(project)
    losses = next((project / "src").glob("*/losses.py"))
    losses.write_text(losses.read_text().replace("return F.", "return 0.5 * F."))
    second = tmp_path / "second"
    git(project, "worktree", "add", "--quiet", "--detach", str(second), "HEAD")
    (second / "data").symlink_to(project / "data")  # ignored by git, as a folder is
    before = files_of(run)

    result = subprocess.run(
        [sys.executable, "run.py", "--resume", str(run)],
        cwd=second,
        env={**environment(second), "PYTHONPATH": str(project / "src")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2, result.stderr
    assert f"imported from another copy than this checkout's ({second})" in result.stderr
    assert str(losses.parent) in result.stderr and "Traceback" not in result.stderr
    assert files_of(run) == before

    result = run_py(second, "--resume", str(run))  # its own src/ first: its own code
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((run / "metadata.yaml").read_text())["status"] == "finished"


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


# --------------------------------------------------------------------------------------
# The record: one owner at a time, checkpoints as the truth, the researcher's words kept


def files_of(run) -> dict[str, bytes]:
    """The run directory's files, but for the lock, which names its last owner."""
    return {
        path.name: path.read_bytes()
        for path in run.iterdir()
        if path.is_file() and path.name != ".lock"
    }


def test_a_run_whose_process_is_alive_is_not_resumed_by_another(project):
    started = Started(project, *LONG_TRAINING, "--modify", "epochs", "1000")
    started.wait_for_file("model_epoch_0.pth")
    run = started.run

    result = run_py(project, "--resume", str(run))
    assert started.process.poll() is None, "the run ended before the test could resume it"
    assert result.returncode == 2, result.stderr
    assert f"is in use by process {started.process.pid}" in result.stderr
    assert "Traceback" not in result.stderr

    # The run goes on, and its record is its own.
    started.process.send_signal(signal.SIGTERM)
    _, stderr = started.process.communicate(timeout=60)
    assert started.process.returncode == 128 + signal.SIGTERM, stderr
    metadata = yaml.safe_load((run / "metadata.yaml").read_text())
    assert metadata["status"] == "interrupted" and "resumed" not in metadata
    assert metadata["process"]["pid"] == started.process.pid
    assert run_directories(project) == [run]


def test_a_record_behind_its_checkpoints_is_rebuilt_from_them(project):
    # As if killed between writing the last epoch's checkpoint and the metadata: the
    # record still says what it said an epoch or more before.
    assert run_py(project, *TRAINING).returncode == 0
    [run] = run_directories(project)
    path = run / "metadata.yaml"
    finished = yaml.safe_load(path.read_text())
    behind = {
        **finished,
        "status": "running",
        "ended": None,
        "progress": {"epochs_completed": 1, "last_results": {"train": {"loss": 1.0}}},
        "best": {**finished["best"], "value": 1.0, "epoch": 0, "checkpoint": "model_epoch_0.pth"},
    }
    path.write_text(yaml.safe_dump(behind, sort_keys=False))

    result = run_py(project, "--resume", str(run))
    assert result.returncode == 0, result.stderr
    resumed = yaml.safe_load(path.read_text())
    assert resumed["status"] == "finished"
    assert resumed["progress"] == finished["progress"]
    assert resumed["best"] == finished["best"]
    assert (run / resumed["best"]["checkpoint"]).exists()

    rerun = run_py(project, "--rerun", str(run))
    assert rerun.returncode == 0, rerun.stderr
    assert "final results match bit for bit" in rerun.stdout


# Named as if newer than the run's own checkpoints, or older (the policy would drop it).
@pytest.mark.parametrize("name", ["model_epoch_2.pth", "model_ckpt_ep_0_pct_5.pth"])
def test_another_runs_checkpoint_is_refused_and_nothing_is_deleted(
    project, reference_project, name
):
    [other] = run_directories(reference_project[0])
    run = killed_run(project)
    intruder = run / name
    intruder.write_bytes((other / "model_epoch_2.pth").read_bytes())
    before = files_of(run)

    result = run_py(project, "--resume", str(run))
    assert result.returncode == 2, result.stderr
    assert f"{intruder} belongs to another run" in result.stderr
    assert "move it out of the run directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert files_of(run) == before

    intruder.unlink()
    assert_continues_exactly(project, run, reference_project[1])


def test_a_config_edited_in_the_record_is_refused(project):
    run = killed_run(project)
    path = run / "metadata.yaml"
    metadata = yaml.safe_load(path.read_text())
    trained_with = metadata["config"]["model_parameters"]["learning_rate"]
    metadata["config"]["model_parameters"]["learning_rate"] = 0.5
    path.write_text(yaml.safe_dump(metadata, sort_keys=False))
    before = files_of(run)

    result = run_py(project, "--resume", str(run))
    assert result.returncode == 2, result.stderr
    assert (
        f"config.model_parameters.learning_rate: 0.5 in metadata.yaml, {trained_with!r} in "
        "the checkpoint"
    ) in result.stderr
    assert "put those values back in metadata.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    assert files_of(run) == before


def test_a_summary_that_is_not_yaml_is_kept_as_typed(project):
    started = Started(project, *LONG_TRAINING, "--modify", "epochs", "20")
    started.wait_for_file("model_epoch_0.pth")
    path = started.run / "metadata.yaml"
    while "epochs_completed: 0" in path.read_text():
        time.sleep(0.001)  # epoch 0's record is being written
    # Held still while the file is edited, so that the edit lands between two writes.
    os.kill(started.process.pid, signal.SIGSTOP)
    path.write_text(path.read_text().replace("summary: ''", "summary: lr: too high"))
    os.kill(started.process.pid, signal.SIGCONT)
    _, stderr = started.process.communicate(timeout=120)
    assert started.process.returncode == 0, stderr

    metadata = yaml.safe_load(path.read_text())
    assert metadata["summary"] == "lr: too high" and metadata["status"] == "finished"
    [kept] = started.run.glob("metadata.yaml.unreadable-*")
    assert "summary: lr: too high" in kept.read_text()
    assert f"what it held is kept in {kept.name}" in stderr
