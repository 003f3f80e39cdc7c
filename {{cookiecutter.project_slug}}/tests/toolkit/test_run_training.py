"""How run.py trains: the options a config sets (seed, bf16, compile, accumulation,
clipping, warmup), a run that diverges, and a model bootstrapped from a file."""

import shutil
import subprocess
import sys

import pytest
import torch
from harness import (
    FIRST_LAYER,
    MODEL,
    WIDTH,
    environment,
    git,
    metadata_of,
    run_directories,
    run_py,
)

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu")


@pytest.mark.machinery
@pytest.mark.parametrize("batch_size", ["16", "256"])
def test_a_diverging_run_stops_as_failed_and_keeps_only_finite_checkpoints(project, batch_size):
    # A step size that overflows the weights: with batches of 16 the training loss goes
    # non-finite within the first epoch (or the held-out loss does, for some models);
    # with one batch of 256 per epoch, the held-out loss does, after a finite step.
    result = run_py(
        project,
        *QUICK,
        "--modify",
        "epochs",
        "3",
        "batch_size",
        batch_size,
        "model_parameters.learning_rate",
        "1.0e+20",
        "checkpoint_interval",
        "1.0e-6",
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "NaN or infinite" in error and "epoch 0" in error
    [run] = run_directories(project)
    metadata = metadata_of(run)
    assert metadata["status"] == "failed"
    assert metadata["error"] == error.removeprefix("error: ")
    assert metadata["best"] is None and metadata["progress"]["epochs_completed"] == 0
    checkpoints = list(run.glob("*.pth"))
    assert checkpoints  # the last one saved while the loss was finite
    for path in checkpoints:
        weights = torch.load(path, weights_only=True)["model_state_dict"]
        assert all(tensor.isfinite().all() for tensor in weights.values()), path.name


@pytest.mark.machinery
def test_the_same_seed_gives_bitwise_identical_weights(project):
    for _ in range(2):
        result = run_py(project, *QUICK, "--modify", "epochs", "2", "batch_size", "16")
        assert result.returncode == 0, result.stderr
    first, second = (
        torch.load(run / "model_epoch_1.pth", weights_only=True)["model_state_dict"]
        for run in run_directories(project)
    )
    assert all(torch.equal(first[name], second[name]) for name in first)


def final_weights(project, *edits: str) -> tuple[dict, dict]:
    """The metadata and final weights of a one-epoch run with `edits` (pairs for --modify)."""
    result = run_py(project, *QUICK, "--modify", "epochs", "1", "batch_size", "16", *edits)
    assert result.returncode == 0, result.stderr
    run = run_directories(project)[-1]
    weights = torch.load(run / "model_epoch_0.pth", weights_only=True)["model_state_dict"]
    return metadata_of(run), weights


@pytest.mark.machinery
def test_bf16_autocast_changes_the_arithmetic_but_not_what_is_learnt(project):
    float32_run, float32 = final_weights(project)
    bfloat16_run, bfloat16 = final_weights(project, "mixed_precision", "bf16")
    assert bfloat16_run["config"]["mixed_precision"] == "bf16"
    assert all(weights.dtype == torch.float32 for weights in bfloat16.values())
    # The forward passes ran in bfloat16: other weights, but the same training.
    assert not all(torch.equal(float32[name], bfloat16[name]) for name in float32)
    losses = [
        run["progress"]["last_results"]["train"]["loss"] for run in (float32_run, bfloat16_run)
    ]
    assert losses[1] == pytest.approx(losses[0], rel=0.05)


@pytest.mark.machinery
def test_a_compiled_model_trains_like_the_eager_one_and_saves_plain_names(project):
    _, eager = final_weights(project)
    compiled_run, compiled = final_weights(project, "compile_model", "true")
    assert compiled_run["config"]["compile_model"] is True
    # No `_orig_mod.` prefix: the checkpoint loads into a model that is not compiled.
    assert compiled.keys() == eager.keys()
    assert all(torch.allclose(eager[name], compiled[name], atol=1e-5) for name in eager)


@pytest.mark.machinery
def test_accumulating_n_batches_steps_as_one_batch_n_times_as_large(project):
    # The mini split's 100 samples: 3 steps of 32 and one of 4, in either run.
    _, big = final_weights(project, "batch_size", "32")
    accumulated_run, accumulated = final_weights(
        project, "batch_size", "8", "gradient_accumulation_steps", "4"
    )
    _, small = final_weights(project, "batch_size", "8")
    assert accumulated_run["config"]["gradient_accumulation_steps"] == 4
    # The same order of samples, summed in another order: equal up to float rounding.
    assert all(torch.allclose(accumulated[name], big[name], rtol=0, atol=1e-5) for name in big)
    assert not all(torch.allclose(small[name], big[name], rtol=0, atol=1e-3) for name in big)


@pytest.mark.machinery
def test_a_tiny_gradient_clip_norm_bounds_every_step(project):
    _, initial = final_weights(project, "model_parameters.learning_rate", "0")
    clipped_run, clipped = final_weights(project, "gradient_clip_norm", "1.0e-12")
    _, unclipped = final_weights(project)
    assert clipped_run["config"]["gradient_clip_norm"] == 1e-12
    # Adam moves a weight by at most learning_rate * |gradient| / eps per step, with
    # eps = 1e-8: 1e-7 per step here, over 7 steps (100 samples in batches of 16).
    learning_rate = clipped_run["config"]["model_parameters"]["learning_rate"]
    bound = 7 * learning_rate * 1e-12 / 1e-8
    assert all((clipped[name] - initial[name]).abs().max() <= bound for name in initial)
    assert any((unclipped[name] - initial[name]).abs().max() > 100 * bound for name in initial)


@pytest.mark.machinery
def test_warmup_cosine_sets_the_learning_rate_of_every_optimizer_step(project):
    schedule = "{type: warmup_cosine, warmup_steps: 3, final_learning_rate: 1.0e-5}"
    result = run_py(
        project,
        *QUICK,
        "--modify",
        "epochs",
        "2",
        "batch_size",
        "16",
        "learning_rate_schedule",
        schedule,
    )
    assert result.returncode == 0, result.stderr
    [run] = run_directories(project)
    config = metadata_of(run)["config"]
    assert config["learning_rate_schedule"] == {
        "type": "warmup_cosine",
        "warmup_steps": 3,
        "final_learning_rate": 1e-5,
    }
    # 7 optimizer steps an epoch: the scheduler was stepped after each of the 14, and the
    # last one ended the cosine (the rates between: test_config.py).
    checkpoint = torch.load(run / "model_epoch_1.pth", weights_only=True)
    assert checkpoint["step"] == checkpoint["scheduler_state_dict"]["last_epoch"] == 14
    assert checkpoint["optimizer_state_dict"]["param_groups"][0]["lr"] == pytest.approx(1e-5)


def test_compiling_without_a_compiler_is_refused_before_anything_is_written(project, tmp_path):
    # A PATH with git but no C++ compiler, as on a bare cluster node.
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git"))
    env = {**environment(project), "PATH": str(tools)}
    env.pop("CXX", None)
    result = subprocess.run(
        [sys.executable, "run.py", *QUICK, "--modify", "compile_model", "true"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2
    assert "compile_model: torch.compile needs a C++ compiler" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()


@pytest.mark.machinery
def test_bootstrap_model_file_loads_the_weights(project, tmp_path):
    assert run_py(project, *QUICK, "--modify", "epochs", "1").returncode == 0
    [first] = run_directories(project)
    source = first / "model_epoch_0.pth"
    # With a learning rate of zero, training leaves the bootstrapped weights unchanged.
    result = run_py(
        project,
        *QUICK,
        "--modify",
        "epochs",
        "1",
        "bootstrap_model_file",
        str(source),
        "model_parameters.learning_rate",
        "0",
    )
    assert result.returncode == 0, result.stderr
    [second] = [run for run in run_directories(project) if run != first]
    before = torch.load(source, weights_only=True)["model_state_dict"]
    after = torch.load(second / "model_epoch_0.pth", weights_only=True)["model_state_dict"]
    assert all(torch.equal(before[name], after[name]) for name in before)


@pytest.mark.machinery
def test_bootstrap_from_an_incompatible_model_names_the_mismatch(project):
    assert (
        run_py(
            project, *QUICK, "--modify", "epochs", "1", f"model_parameters.{WIDTH}", "4"
        ).returncode
        == 0
    )
    [first] = run_directories(project)
    result = run_py(
        project, *QUICK, "--modify", "bootstrap_model_file", str(first / "model_epoch_0.pth")
    )
    assert result.returncode == 2
    assert f"does not fit {MODEL}" in result.stderr
    assert FIRST_LAYER in result.stderr
    assert len(run_directories(project)) == 1


def test_a_prediction_that_would_broadcast_against_its_supervision_is_refused(project):
    """(B, 1, 2) against (B, 2) would broadcast to (B, B, 2) and train without a word."""
    source = next((project / "src").glob("*/model.py"))
    forward = 'return self.policy(batch["position"], batch["goal"])'
    assert forward in source.read_text()
    source.write_text(source.read_text().replace(forward, forward + ".unsqueeze(1)"))
    git(project, "commit", "--quiet", "--all", "-m", "a prediction of the wrong shape")
    result = run_py(project, *QUICK, "--modify", "epochs", "1")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: the prediction's shape (2, 1, 2) differs from the supervision's (2, 2): the "
        "loss would broadcast them to (2, 2, 2) (train's data through ToyPolicy)"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()
