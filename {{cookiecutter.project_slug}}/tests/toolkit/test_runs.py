"""The run index, `python run.py --list`: a row for every run directory in logs/, newest
first, whatever state its metadata.yaml is in."""

import json
import os
import socket
import subprocess
import sys

import pytest
import yaml
from harness import MODEL, WIDTH, environment, git, run_directories, run_py, write_run
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.context import RequestContext
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

COMMIT = "0123456789ab" + "c" * 28
FINISHED = {
    "description": "A finished run, whose description is much too long for its column",
    "status": "finished",
    "started": "2026-01-02T03:04:05+00:00",
    "git": {"commit": COMMIT},
    "best": {
        "metric": "val/accuracy",
        "mode": "max",
        "value": 0.9123,
        "epoch": 7,
        "checkpoint": "model_epoch_7.pth",
    },
    "final_test": {
        "split": "test",
        "epoch": 7,
        "checkpoint": "model_epoch_7.pth",
        "results": {"test": {"loss": 0.25, "accuracy": 0.8975}},
    },
}
# Nine levels of ten aliases: a few lines that stand for 10**9 values.
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n" for level in range(1, 9)
)


def ended_process() -> int:
    """The number of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def list_runs(project, columns: int) -> subprocess.CompletedProcess:
    """`python run.py --list` in a terminal `columns` wide."""
    return subprocess.run(
        [sys.executable, "run.py", "--list"],
        cwd=project,
        env={**environment(project), "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def rows_of(listing: str) -> dict[str, str]:
    """The table's rows by run directory name, in the order printed."""
    return {
        line.split()[0].rsplit("/", 1)[-1]: line
        for line in listing.splitlines()
        if line.startswith("logs/")
    }


def row_cells(row: str) -> list[str]:
    """A row's cells: the table's columns are two spaces or more apart."""
    return [cell.strip() for cell in row.split("  ") if cell.strip()]


def test_without_runs_the_list_says_so(project):
    result = run_py(project, "--list")
    assert result.returncode == 0
    assert result.stdout == "no logged runs yet: logs/ holds none\n"


def test_a_reader_that_stops_early_is_not_an_error(project):
    """`python run.py --list | head`: head closes the pipe before the table is written."""
    write_run(project, "2026-01-02_03-04-05", FINISHED)
    process = subprocess.Popen(
        [sys.executable, "run.py", "--list"],
        cwd=project,
        env=environment(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=600) == 0
    assert errors == ""


def test_list_refuses_to_be_combined_with_a_run(project):
    result = run_py(project, "--list", "sample_runconfig.yaml")
    assert result.returncode == 2
    assert "leave out: config" in result.stderr


def write_runs_of_every_kind(project) -> None:
    """Run directories a day apart (so that the order holds in any time zone: rows without
    a start time sort by their directory's name, a local time), 2026-01-02 to 2026-01-10:
    finished with two evaluations; died; running here; partial and running on another
    machine; four unreadable records; a description that would drive a terminal."""
    here = socket.gethostname()
    finished_run = write_run(project, "2026-01-02_03-04-05", FINISHED)
    (finished_run / "evaluations").mkdir()
    for stamp in ("2026-01-03_00-00-00", "2026-01-04_00-00-00"):  # run.py --evaluate's records
        (finished_run / "evaluations" / f"{stamp}.yaml").write_text("results: {}\n")
    write_run(
        project,
        "2026-01-03_00-00-00",
        {
            **FINISHED,
            "started": "2026-01-03T00:00:00+00:00",
            "status": "running",
            "best": None,
            "final_test": None,
            "process": {"host": here, "pid": ended_process()},
        },
    )
    write_run(
        project,
        "2026-01-04_00-00-00",
        {
            **FINISHED,
            "started": "2026-01-04T00:00:00+00:00",
            "status": "running",
            "process": {"host": here, "pid": os.getpid()},
        },
    )
    write_run(
        project,
        "2026-01-05_00-00-00",
        {  # partial, and from another machine
            "status": "running",
            "started": "2026-01-05T00:00:00+00:00",
            "process": {"host": f"not-{here}", "pid": ended_process()},
        },
    )
    write_run(project, "2026-01-06_00-00-00", text="status: [finished\n")
    write_run(project, "2026-01-07_00-00-00", text="- a list\n- not a mapping\n")
    write_run(project, "2026-01-08_00-00-00")
    write_run(project, "2026-01-09_00-00-00", text=ALIAS_BOMB + "description: *a8\n")
    write_run(
        project,
        "2026-01-10_00-00-00",
        {  # what an escape sequence does to a terminal
            **FINISHED,
            "started": "2026-01-10T00:00:00+00:00",
            "description": "\x1b[2J\x1b[31mred",
        },
    )


def test_every_run_directory_gets_a_row_whatever_its_metadata(project):
    write_runs_of_every_kind(project)

    result = list_runs(project, columns=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = rows_of(result.stdout)
    assert list(rows) == [
        "2026-01-10_00-00-00",
        "2026-01-09_00-00-00",
        "2026-01-08_00-00-00",
        "2026-01-07_00-00-00",
        "2026-01-06_00-00-00",
        "2026-01-05_00-00-00",
        "2026-01-04_00-00-00",
        "2026-01-03_00-00-00",
        "2026-01-02_03-04-05",
    ]
    assert "\x1b" not in result.stdout
    assert "\\x1b[2J\\x1b[31mred" in rows["2026-01-10_00-00-00"]
    finished = rows["2026-01-02_03-04-05"]
    assert finished.split()[3:5] == ["finished", COMMIT[:12]]
    assert "A finished run, whose descrip…" in finished
    # The best by the selection on val/, its counterpart in the final test, and the
    # evaluations since.
    assert finished.endswith("val/accuracy 0.9123 (epoch 7)  test/accuracy 0.8975  2")
    assert rows["2026-01-03_00-00-00"].split()[3] == "died"
    assert rows["2026-01-03_00-00-00"].split()[-3:] == ["-", "-", "-"]  # no epoch, test, evals
    assert rows["2026-01-04_00-00-00"].split()[3] == "running"
    assert rows["2026-01-05_00-00-00"].split()[3:] == ["running", "?", "?", "?", "-", "-"]
    for name, reason in [
        ("2026-01-06_00-00-00", "not valid YAML (line 2)"),
        ("2026-01-07_00-00-00", "a list, not a mapping"),
        ("2026-01-08_00-00-00", "no metadata.yaml"),
        ("2026-01-09_00-00-00", "YAML aliases"),
    ]:
        assert rows[name].split()[1:4] == ["?", "unreadable", "?"]
        assert reason in rows[name]
    # A run died: the last line says how to continue it.
    assert "python run.py --resume" in result.stdout.splitlines()[-1]
    # In a wider terminal, descriptions are cut later or not at all.
    assert FINISHED["description"] in list_runs(project, columns=220).stdout


def hparams_session_groups(logs) -> list:
    """The runs in `logs` as TensorBoard's HParams view lists them."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logs))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logs))
    context = backend_context.Context(base_plugin.TBContext(data_provider=provider))
    request = api_pb2.ListSessionGroupsRequest(
        slice_size=10, allowed_statuses=api_pb2.Status.values()
    )
    return list(
        list_session_groups.Handler(RequestContext(), context, "", request).run().session_groups
    )


@pytest.mark.machinery
def test_logged_runs_each_get_a_directory_a_row_and_an_hparams_session(project):
    for width in (4, 8):
        result = run_py(
            project,
            "sample_runconfig.yaml",
            "--mini",
            "--cpu",
            "--modify",
            "epochs",
            "1",
            f"model_parameters.{WIDTH}",
            str(width),
        )
        assert result.returncode == 0, result.stderr
    first, second = run_directories(project)  # two directories, even within one second

    listing = run_py(project, "--list")
    assert listing.returncode == 0, listing.stderr
    rows = rows_of(listing.stdout)
    assert list(rows) == [second.name, first.name]
    commit = git(project, "rev-parse", "HEAD")[:12]
    for row in rows.values():
        # An option's detail (a tracker's run, say) may follow the status, in brackets.
        _, _, status, shown_commit, *_ = row_cells(row)
        assert (status.split(" (")[0], shown_commit) == ("finished", commit)
        assert "(epoch 0)  test" in row  # the final test's number

    # TensorBoard's HParams view shows both runs, each with its config and final metrics.
    groups = {group.name: group for group in hparams_session_groups(project / "logs")}
    assert groups.keys() == {f"{MODEL}/{first.name}", f"{MODEL}/{second.name}"}
    for run, width in ((first, 4), (second, 8)):
        metadata = yaml.safe_load((run / "metadata.yaml").read_text())
        group = groups[f"{MODEL}/{run.name}"]
        assert group.hparams[f"model_parameters.{WIDTH}"].number_value == width
        assert group.hparams["batch_size"].number_value == metadata["config"]["batch_size"]
        metrics = {value.name.tag: value.value for value in group.metric_values}
        assert metrics["val/loss"] == pytest.approx(
            metadata["progress"]["last_results"]["val"]["loss"], rel=1e-6
        )
        # The test split's numbers are the final test's, logged once.
        assert metrics["test/loss"] == pytest.approx(
            metadata["final_test"]["results"]["test"]["loss"], rel=1e-6
        )
        assert metrics[f"best/{metadata['best']['metric']}"] == pytest.approx(
            metadata["best"]["value"], rel=1e-6
        )


def test_a_sweep_column_names_each_point_in_the_table_csv_and_json(project):
    write_run(project, "2026-01-02_03-04-05", FINISHED)
    write_run(
        project,
        "2026-01-03_00-00-00",
        {
            **FINISHED,
            "started": "2026-01-03T00:00:00+00:00",
            "sweep": {"id": "2026-01-03_00-00-00", "point": 3, "values": {"seed": 1}},
        },
    )
    result = run_py(project, "--list")
    assert result.returncode == 0, result.stderr
    header, *_ = result.stdout.splitlines()
    rows = rows_of(result.stdout)
    assert header.split()[-1] == "sweep"
    assert rows["2026-01-03_00-00-00"].split()[-1] == "2026-01-03_00-00-00#3"
    assert rows["2026-01-02_03-04-05"].split()[-1] == "-"  # not in a sweep
    csv_output = run_py(project, "--list", "--format", "csv").stdout.splitlines()
    assert "sweep" in csv_output[0].split(",")
    assert ",2026-01-03_00-00-00#3," in csv_output[1] and "#" not in csv_output[2]
    records = json.loads(run_py(project, "--list", "--format", "json").stdout)
    assert [record["sweep"] for record in records] == ["2026-01-03_00-00-00#3", None]


def test_columns_shows_the_final_test_numbers_asked_for(project):
    write_run(project, "2026-01-02_03-04-05", FINISHED)
    write_run(
        project,
        "2026-01-03_00-00-00",
        {**FINISHED, "started": "2026-01-03T00:00:00+00:00", "final_test": None},
    )
    result = run_py(project, "--list", "--columns", "test/accuracy,test/loss")
    assert result.returncode == 0, result.stderr
    header, *_ = result.stdout.splitlines()
    assert header.split()[-2:] == ["test/accuracy", "test/loss"]
    rows = rows_of(result.stdout)
    assert rows["2026-01-02_03-04-05"].split()[-2:] == ["0.8975", "0.25"]
    assert rows["2026-01-03_00-00-00"].split()[-2:] == ["-", "-"]  # no final test yet
    # Every final test number is in the CSV and JSON, whatever the selection's metric.
    records = json.loads(run_py(project, "--list", "--format", "json").stdout)
    assert (records[1]["test/accuracy"], records[1]["test/loss"]) == (0.8975, 0.25)

    unknown = run_py(project, "--list", "--columns", "test/acc")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "test/acc" in unknown.stderr and "test/accuracy, test/loss" in unknown.stderr
    alone = run_py(project, "sample_runconfig.yaml", "--columns", "test/loss")
    assert alone.returncode == 2 and "--columns goes with --list" in alone.stderr
