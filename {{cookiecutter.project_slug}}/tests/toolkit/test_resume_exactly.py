"""Resuming: a run killed or stopped at any point, in any phase, continues to the very
same weights."""

import json
import math
import signal

import pytest
import torch
import yaml
from harness import (
    HELD_OUT_SAMPLES,
    LONG_TRAINING,
    TRAINING,
    Started,
    assert_continues_exactly,
    committed_copy,
    files_of,
    final_state,
    killed_run,
    run_directories,
    run_py,
    uninterrupted,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery
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
