"""A sweep's record says what ran: at any size, at one commit, with the configs it
recorded, and after its process was killed (kill -9) and the sweep resumed."""

import fcntl
import json
import os
import signal
import subprocess
import time

import pytest
from harness import (
    git,
    read_yaml,
    run_directories,
    run_py,
    start,
    sweep_file,
    the_sweep,
    write_point,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery

# One short epoch per point: what is tested is the record, not the training.
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
RATE = "model_parameters.learning_rate"


def wait_until(started: subprocess.Popen | None, ready, what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert started is None or started.poll() is None, started.communicate()
        assert time.monotonic() < deadline, f"no {what} within two minutes"
        time.sleep(0.01)


def commit_a_note(project, text: str) -> None:
    (project / "notes.txt").write_text(text)
    git(project, "add", "notes.txt")
    git(project, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", text)


def rerun_point(project, directory, number: int) -> subprocess.CompletedProcess:
    """Point `number`'s run.py, started as its sweep starts it."""
    return run_py(
        project,
        str(directory / "points" / f"{number}.yaml"),
        "--mini",
        "--cpu",
        "--sweep-point",
        str(directory),
        str(number),
    )


def test_a_sweep_of_thousands_of_points_is_recorded_listed_and_resumed(project, tmp_path):
    # 2,000 points: a sweep.yaml that held them all crossed the YAML guard against alias
    # bombs, and every point failed at once reading it.
    rates = [round(0.001 + index * 1e-6, 6) for index in range(400)]
    sweep = sweep_file(tmp_path, dict(grid={RATE: rates}, seeds=[0, 1, 2, 3, 4]))
    started = start(project, *QUICK, "--sweep", str(sweep))
    sweeps = project / "logs" / "sweeps"
    wait_until(started, lambda: list(sweeps.glob("*/points/1.json")), "second point")
    started.send_signal(signal.SIGTERM)
    stdout, stderr = started.communicate(timeout=120)
    assert started.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "checked the sweep's 405 values on the config" in stdout
    directory, record = the_sweep(project)
    assert len(record["points"]) == 2000
    assert record["points"][0]["status"] == "finished"
    assert {point["status"] for point in record["points"][2:]} == {"pending"}
    # What the record holds for a pending point: nothing but its values, in points.json.
    assert len(list((directory / "points").glob("*.json"))) == 2
    assert "... and 1979 more: python run.py --list --sweep" in stdout  # not 1,999 lines

    listed = run_py(project, "--list", "--sweep", directory.name, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    points = json.loads(listed.stdout)["points"]
    assert len(points) == 2000 and points[-1][f"config.{RATE}"] == 0.001399
    assert points[-1]["config.seed"] == 4

    resumed = start(project, "--resume-sweep", str(directory))
    wait_until(resumed, lambda: (directory / "points" / "2.json").exists(), "third point")
    resumed.send_signal(signal.SIGTERM)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    _, record = the_sweep(project)
    assert [point["status"] for point in record["points"][:2]] == ["finished", "finished"]


def test_a_point_runs_the_sweeps_commit_and_recorded_config_or_is_refused(project, tmp_path):
    sweep = sweep_file(tmp_path, dict(grid={RATE: [0.001, 0.002]}))
    started = start(project, *QUICK, "--sweep", str(sweep))
    wait_until(started, lambda: list(project.glob("logs/sweeps/*/points/0.run")), "point 0")
    directory = next((project / "logs" / "sweeps").iterdir())
    # A hand edit of a point that has not started: the sweep writes the point's config
    # from its record as the point starts, so the edit is not what runs.
    (directory / "points" / "1.yaml").write_text(
        (directory / "points" / "0.yaml").read_text().replace("0.001", "0.5")
    )
    _, stderr = started.communicate(timeout=120)
    assert started.returncode == 0, stderr[-3000:]
    _, record = the_sweep(project)
    for point in record["points"]:
        config = read_yaml(project / point["run"] / "metadata.yaml")["config"]
        assert config["model_parameters"]["learning_rate"] == point["values"][RATE]

    # The point's own run.py, as the sweep starts it, refuses a config edited since.
    (directory / "points" / "1.yaml").write_text(
        (directory / "points" / "1.yaml").read_text().replace("0.002", "0.5")
    )
    before = run_directories(project)
    edited = rerun_point(project, directory, 1)
    assert edited.returncode == 2, edited.stderr
    assert f"{directory / 'points' / '1.yaml'} is not the config sweep" in edited.stderr
    assert (
        "model_parameters.learning_rate: 0.002 in the sweep's record, 0.5 in the file"
        in edited.stderr
    )
    # ... and, at another commit than the sweep's (one made as the point started, after
    # the sweep looked at HEAD), refuses to train rather than record that commit.
    commit_a_note(project, "a commit while the sweep runs")
    moved = rerun_point(project, directory, 0)
    assert moved.returncode == 2, moved.stderr
    commit = record["git"]["commit"]
    assert f"must run the sweep's commit {commit[:12]}, but HEAD is now" in moved.stderr
    assert "Traceback" not in edited.stderr + moved.stderr
    assert run_directories(project) == before  # nothing logged by either


def test_a_killed_sweep_stops_its_point_at_a_checkpoint_and_resumes_it(project, tmp_path):
    sweep = sweep_file(tmp_path, dict(variants=[dict(epochs=150), dict(epochs=1)]))
    started = start(project, *LONG, "--sweep", str(sweep))
    wait_until(started, lambda: list(project.glob("logs/*/*/model_epoch_*.pth")), "training")
    started.kill()  # SIGKILL: the sweep's process has no say
    started.communicate(timeout=60)
    directory, record = the_sweep(project)
    [run] = run_directories(project)
    # Its point was told (PR_SET_PDEATHSIG): it stops at a checkpoint, not an orphan.
    wait_until(
        None,
        lambda: read_yaml(run / "metadata.yaml")["status"] == "interrupted",
        "the point to stop",
    )
    assert list(run.glob("model_ckpt_ep_*_pct_*.pth")), "no checkpoint"
    listed = run_py(project, "--list", "--sweep", directory.name)
    assert (
        ", interrupted (its process is gone; python run.py --resume-sweep continues it)"
        in listed.stdout.splitlines()[0]
    )

    resumed = run_py(project, "--resume-sweep", str(directory))
    assert resumed.returncode == 0, resumed.stderr
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    assert [point["status"] for point in record["points"]] == ["finished", "finished"]
    assert record["points"][0]["run"] == str(run.relative_to(project))  # resumed, not redone
    assert f"resuming {run.relative_to(project)}" in resumed.stdout + resumed.stderr


def test_resume_waits_for_a_points_run_that_another_process_holds(project, tmp_path):
    sweep = sweep_file(tmp_path, dict(seeds=[1]))
    finished = run_py(project, *QUICK, "--sweep", str(sweep))
    assert finished.returncode == 0, finished.stderr
    directory, record = the_sweep(project)
    point = record["points"][0]
    # As a sweep killed while its point ran would have left it, on a system that cannot
    # tell a point its sweep died: the point's run held by a process of its own.
    write_point(directory, {**point, "status": "running"})
    sweep_yaml = directory / "sweep.yaml"
    sweep_yaml.write_text(sweep_yaml.read_text().replace("status: finished", "status: running"))
    lock = open(project / point["run"] / ".lock", "a+b")  # noqa: SIM115 -- closed below
    fcntl.flock(lock, fcntl.LOCK_EX)
    resumed = start(project, "--resume-sweep", str(directory))
    # The lock is let go once the resume says it waits (however long it takes to get
    # there on a busy machine): until then it must wait, not fail the point.
    said = ""
    while "waiting for it to end" not in said:
        line = resumed.stdout.readline()
        assert line, f"the resume ended without waiting:\n{said}{resumed.stderr.read()}"
        said += line
    time.sleep(1)
    assert resumed.poll() is None  # still waiting for the run
    lock.close()
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert "still held by its process" in said
    _, record = the_sweep(project)
    assert record["status"] == "finished" and record["points"][0]["status"] == "finished"
    assert len(run_directories(project)) == 1  # found finished: not run again


def test_resume_retries_the_failed_points_whose_failure_would_not_repeat(project, tmp_path):
    sweep = sweep_file(
        tmp_path, dict(variants=[{RATE: rate} for rate in (1e30, 0.001, 0.002, 0.003)])
    )
    ran = run_py(project, *QUICK, "--sweep", str(sweep))
    assert ran.returncode == 1, ran.stderr  # point 0's loss is infinite: it fails
    directory, record = the_sweep(project)
    diverged, finished, refused, stopped = record["points"]
    assert diverged["status"] == "failed" and finished["status"] == "finished"
    # Point 2 as a point refused before its run began leaves it (the commit had moved,
    # say), and point 3 as one recorded failed while its run was only stopped.
    (project / refused["run"] / "metadata.yaml").unlink()
    (directory / "points" / "2.run").unlink()
    write_point(directory, {**refused, "status": "failed", "run": None, "exit_code": 2})
    metadata = project / stopped["run"] / "metadata.yaml"
    metadata.write_text(metadata.read_text().replace("status: finished", "status: interrupted"))
    write_point(directory, {**stopped, "status": "failed", "exit_code": 1})

    resumed = run_py(project, "--resume-sweep", str(directory))
    assert resumed.returncode == 1, resumed.stderr  # point 0 fails as it did, not again
    assert (
        "sweep point 2 failed before, and is retried: it was refused before its run "
        "began" in resumed.stdout
    )
    assert (
        f"sweep point 3 failed before, and is resumed: its run {stopped['run']} stopped "
        "before its end" in resumed.stdout
    )
    assert "sweep point 0 (" not in resumed.stdout  # its training failed: not retried
    _, record = the_sweep(project)
    assert [point["status"] for point in record["points"]] == [
        "failed",
        "finished",
        "finished",
        "finished",
    ]
    assert record["points"][3]["run"] == stopped["run"]
    assert os.path.exists(project / record["points"][2]["run"] / "metadata.yaml")
