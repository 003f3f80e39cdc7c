"""Random sequences of what happens to a sweep (stopped, killed with -9, resumed, a
commit or a hand edit while it runs), after each of which its record must agree with
its runs, and after which --resume-sweep finishes it with every point run once, at the
sweep's commit, with its own values."""

import signal
import subprocess
import sys
import time

import pytest
import yaml
from harness import committed_copy, environment, git, sweep_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.machinery  # pytest -m machinery

RATE = "model_parameters.learning_rate"
RATES = (0.001, 0.002, 0.003)
# Short points of many small steps, so that a signal lands in any phase of one.
CONFIG = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "batch_size",
    "4",
    "--modify",
    "epochs",
    "2",
    "--modify",
    "checkpoint_interval",
    "null",
)
EVENTS = ("stop", "kill", "commit", "edit")
DELAYS = (0.2, 1.0, 2.5, 4.0)  # seconds after a command starts that the event comes


def run_sweep(project, arguments: list[str], event: str, delay: float) -> int:
    """run.py with `arguments` (a sweep started or resumed), with `event` coming `delay`
    seconds in; its exit code, once it and the points it started have ended."""
    process = subprocess.Popen(
        [sys.executable, "run.py", *arguments],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        if event == "stop":
            process.send_signal(signal.SIGTERM)
        elif event == "kill":
            process.kill()
        elif event == "commit":
            (project / "notes.txt").write_text("a commit while the sweep runs")
            git(project, "add", "notes.txt")
            git(project, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "notes")
        elif event == "edit":
            for config in project.glob("logs/sweeps/*/points/*.yaml"):
                config.write_text(config.read_text().replace("0.00", "0.5"))
    exit_code = process.wait(timeout=300)
    wait_for_points_to_end(project)
    sweeps = list(project.glob("logs/sweeps/*/sweep.yaml"))
    if event == "commit" and sweeps and read(sweeps[0])["git"]["commit"] != head(project):
        git(project, "reset", "--quiet", "--hard", "HEAD~1")  # as a user would, to resume
    return exit_code


def head(project) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


def wait_for_points_to_end(project) -> None:
    """A killed sweep's points stop on their own, at a checkpoint: wait for them."""
    deadline = time.monotonic() + 120
    while any(
        read(run / "metadata.yaml").get("status") == "running"
        for run in project.glob("logs/ToyPolicy/*")
    ):
        assert time.monotonic() < deadline, "a point of a killed sweep went on running"
        time.sleep(0.1)


def read(path) -> dict:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}


def check_record_agrees_with_runs(project, killed: bool) -> dict:
    """The sweep's record against its runs' own records; returns the sweep's record."""
    [directory] = (project / "logs" / "sweeps").iterdir()
    record = sweep_record(directory)
    assert record["status"] != "running" or killed, record["status"]
    assert [point["values"][RATE] for point in record["points"]] == list(RATES)
    # A sweep killed with -9 cannot record how its running points ended: they stay
    # `running` in its record until --resume-sweep settles them from their runs.
    unsettled = ("running",) if killed else ()
    for point in record["points"]:
        assert point["status"] in ("pending", "interrupted", "finished", "failed", *unsettled), (
            point
        )
        if point["run"] is None:
            assert point["status"] in ("pending", "interrupted", "failed", *unsettled), point
            continue
        metadata = read(project / point["run"] / "metadata.yaml")
        assert metadata["sweep"]["id"] == record["id"]
        assert metadata["sweep"]["point"] == point["point"]
        assert metadata["git"]["commit"] == record["git"]["commit"]
        assert metadata["config"]["model_parameters"]["learning_rate"] == point["values"][RATE]
        if point["status"] == "finished":
            assert metadata["status"] == "finished", (point, metadata["status"])
    return record


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(EVENTS), st.sampled_from(DELAYS)), min_size=1, max_size=3
    )
)
def test_a_sweeps_record_agrees_with_its_runs_whatever_happens_to_it(
    events, tmp_path_factory, dataset
):
    project = committed_copy(tmp_path_factory.mktemp("sequence"), dataset)
    sweep = project.parent / "sweep.yaml"  # outside the project: its tree stays clean
    sweep.write_text(yaml.safe_dump(dict(grid={RATE: list(RATES)})))
    arguments = [*CONFIG, "--sweep", str(sweep)]
    for event, delay in events:
        run_sweep(project, arguments, event, delay)
        sweeps = project / "logs" / "sweeps"
        if not sweeps.exists() or not any(sweeps.iterdir()):
            continue  # stopped before it recorded anything: it starts again
        if check_record_agrees_with_runs(project, event == "kill")["status"] == "finished":
            break  # the event came too late to change anything
        arguments = ["--resume-sweep", str(next(sweeps.iterdir()))]
    else:
        finished = subprocess.run(
            [sys.executable, "run.py", *arguments],
            cwd=project,
            env=environment(project),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    record = check_record_agrees_with_runs(project, killed=False)
    assert record["status"] == "finished"
    assert [point["status"] for point in record["points"]] == ["finished"] * len(RATES)
    # Each point ran to its end once: one finished run per point, the record's.
    finished_runs = {}
    for run in project.glob("logs/ToyPolicy/*"):
        metadata = read(run / "metadata.yaml")
        if metadata.get("status") == "finished":
            finished_runs.setdefault(metadata["sweep"]["point"], []).append(
                str(run.relative_to(project))
            )
    assert finished_runs == {point["point"]: [point["run"]] for point in record["points"]}
