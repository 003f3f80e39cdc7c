"""What --resume refuses, and a run's record (metadata.yaml) that can be damaged by neither
a second process nor an edit."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from harness import (
    LONG_TRAINING,
    TRAINING,
    Started,
    environment,
    files_of,
    git,
    killed_run,
    run_directories,
    run_py,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery


# --------------------------------------------------------------------------------------
# What --resume refuses


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
