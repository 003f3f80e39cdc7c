"""Sweeps run with --jobs: points side by side, each with its share of the threads (and of
the GPUs), a failing point recorded with its output, and stopped jobs resumed to the
weights of an uninterrupted sweep."""

import signal
import subprocess
import sys

import pytest
import torch
from harness import (
    environment,
    read_yaml,
    run_directories,
    run_py,
    start,
    sweep_file,
    the_sweep,
)
from sweep_harness import (
    LONG,
    QUICK,
    final_weights,
    wait_for,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery


def test_jobs_run_points_side_by_side_each_with_its_share_of_the_threads(project, tmp_path):
    sweep = sweep_file(
        tmp_path, "grid: {model_parameters.learning_rate: [0.001, 0.002]}\nseeds: [3, 4]\n"
    )
    # Two threads for a run here (one on a one-core machine), split between two jobs.
    env = {**environment(project), "OMP_NUM_THREADS": "2"}
    run_threads = int(
        subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    result = subprocess.run(
        [sys.executable, "run.py", *QUICK, "--sweep", str(sweep), "--jobs", "2"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "4 points, up to 2 at once" in result.stdout
    directory, record = the_sweep(project)
    assert record["status"] == "finished"
    assert [point["status"] for point in record["points"]] == ["finished"] * 4
    share = max(1, run_threads // 2)
    assert [point["threads"] for point in record["points"]] == [share] * 4
    runs = [read_yaml(project / point["run"] / "metadata.yaml") for point in record["points"]]
    assert sorted(project / point["run"] for point in record["points"]) == run_directories(project)
    assert all(run["status"] == "finished" for run in runs)
    assert [run["environment"]["threads"] for run in runs] == [share] * 4
    # Run times (to the second) that overlap: two points ran at once.
    times = [(run["started"], run["ended"]) for run in runs]
    assert any(
        start < other_end and other_start < end
        for index, (start, end) in enumerate(times)
        for other_start, other_end in times[index + 1 :]
    ), times
    # Side by side, each point's output goes to a file of its own, not the terminal.
    for number in range(4):
        assert "epoch 0: train loss" in (directory / "points" / f"{number}.log").read_text()
    assert "epoch 0: train loss" not in result.stdout + result.stderr


def test_a_failing_point_among_jobs_is_recorded_with_its_output(project, tmp_path):
    # A learning rate of 1e30 makes the loss infinite at once: that run fails.
    sweep = sweep_file(tmp_path, "grid: {model_parameters.learning_rate: [0.001, 1e30, 0.002]}\n")
    result = run_py(project, *QUICK, "--sweep", str(sweep), "--jobs", "2")
    assert result.returncode == 1, result.stderr
    _, record = the_sweep(project)
    assert record["status"] == "failed"
    assert [point["status"] for point in record["points"]] == ["finished", "failed", "finished"]
    assert "the end of point 1's output" in result.stderr
    assert "Traceback" not in result.stderr
    assert "1 failed" in result.stdout


def test_a_bad_jobs_flag_is_refused_with_nothing_logged(project, tmp_path):
    sweep = str(sweep_file(tmp_path, "seeds: [1, 2]\n"))
    for arguments, named in [
        ((*QUICK, "--sweep", sweep, "--jobs", "0"), "a whole number"),
        ((*QUICK, "--sweep", sweep, "--jobs", "-1"), "a whole number"),
        ((*QUICK, "--sweep", sweep, "--jobs", "two"), "a whole number"),
        ((*QUICK, "--jobs", "2"), "--jobs goes with --sweep"),
        (("--list", "--jobs", "2"), "--jobs goes with --sweep"),
    ]:
        result = run_py(project, *arguments)
        assert result.returncode == 2, (arguments, result.stderr)
        assert named in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (project / "logs").exists()


def test_gpus_are_dealt_out_to_the_jobs(monkeypatch):
    from {{ cookiecutter.project_slug }}.toolkit.sweep_run import gpu_shares

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert gpu_shares(2) == [None, None]  # no GPU: nothing is set
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert gpu_shares(2) == ["0,1", "2,3"]  # a block each, for points that spawn processes
    assert gpu_shares(3) == ["0", "1", "2"]  # the remainder is left unused
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert gpu_shares(3) == ["0", "1", "0"]  # fewer GPUs than jobs: jobs share them
    # The GPUs this process was given, by the ids they have outside it.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert gpu_shares(2) == ["5", "7"]


def test_stopped_jobs_resume_to_the_weights_of_an_uninterrupted_sweep(project, tmp_path):
    # Two points that each train for several seconds, side by side.
    sweep = sweep_file(tmp_path, "variants: [{epochs: 10}]\nseeds: [5, 6]\n")
    reference = run_py(project, *LONG, "--sweep", str(sweep), "--jobs", "2")
    assert reference.returncode == 0, reference.stderr
    reference_directory, reference_record = the_sweep(project)
    expected = [final_weights(project / point["run"]) for point in reference_record["points"]]
    reference_directory.rename(tmp_path / "reference_sweep")  # the_sweep finds one sweep

    started = start(project, *LONG, "--sweep", str(sweep), "--jobs", "2")
    # Both points train (the reference sweep's two runs hold weights too).
    wait_for(started, project, "logs/*/*/model_epoch_*.pth", folders=4)
    started.send_signal(signal.SIGTERM)
    stdout, stderr = started.communicate(timeout=120)
    assert started.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    directory, record = the_sweep(project)
    assert record["status"] == "interrupted"
    for point in record["points"]:  # both were running: both stopped at a checkpoint
        assert point["status"] == "interrupted"
        assert list((project / point["run"]).glob("model_ckpt_ep_*_pct_*.pth")), "no checkpoint"
        assert read_yaml(project / point["run"] / "metadata.yaml")["status"] == "interrupted"
    assert f"--resume-sweep {directory}" in stdout

    resumed = run_py(project, "--resume-sweep", str(directory), "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    _, record = the_sweep(project)
    assert [point["status"] for point in record["points"]] == ["finished", "finished"]
    for point, weights in zip(record["points"], expected, strict=True):
        resumed_weights = final_weights(project / point["run"])
        assert resumed_weights.keys() == weights.keys()
        assert all(torch.equal(resumed_weights[name], weights[name]) for name in weights)
