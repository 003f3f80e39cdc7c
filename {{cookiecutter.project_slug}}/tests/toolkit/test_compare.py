"""Runs as data and side by side: `python run.py --list --format csv|json` and
`python run.py --compare RUN RUN ...`."""

import csv
import io
import json
from datetime import datetime, timezone

import pytest
import yaml
from harness import WIDTH, git, run_directories, run_py, write_run

COMMIT = "0123456789ab" + "c" * 28


def finished_run(learning_rate: float, **config) -> dict:
    """A hand-made record of a finished run with `learning_rate` and `config`'s keys."""
    return {
        "description": "A hand-made run",
        "status": "finished",
        "started": "2026-01-02T03:04:05+00:00",
        "git": {"commit": COMMIT},
        "best": {
            "metric": "val/loss",
            "mode": "min",
            "value": 0.0123,
            "epoch": 2,
            "checkpoint": "model_epoch_2.pth",
        },
        "final_test": {
            "split": "test",
            "epoch": 2,
            "checkpoint": "model_epoch_2.pth",
            "results": {"test": {"loss": 0.25, "accuracy": 0.875}},
        },
        "config": {
            "description": "A hand-made run",
            "epochs": 3,
            "compile_model": False,
            "model_parameters": {"hidden_size": 8, "learning_rate": learning_rate},
            "data_loader_parameters": {"all": {}},
            **config,
        },
    }


def as_json(project, *args: str) -> list[dict]:
    result = run_py(project, *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def as_csv(project, *args: str) -> tuple[list[str], list[dict]]:
    """The header and the rows of run.py's CSV output."""
    result = run_py(project, *args, "--format", "csv")
    assert result.returncode == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    return reader.fieldnames, list(reader)


def csv_text(value: object) -> str:
    """What a CSV cell holds for a JSON value: nothing for null, text as it is, and
    anything else as its JSON text (the number 0.25 as 0.25, false as false)."""
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def cells(table: str) -> dict[str, list[str]]:
    """The --compare table's rows by their first cell (columns are two spaces apart)."""
    rows = [line.split("  ") for line in table.splitlines()]
    return {
        row[0].strip(): [cell.strip() for cell in row[1:] if cell.strip()]
        for row in rows
        if row[0].strip()
    }


# The first fields of a --list record: the fields, then the final test's numbers, then
# the config (in the order written).
FIRST_FIELDS = [
    "run_directory",
    "started",
    "status",
    "reason",
    "commit",
    "description",
    "sweep",
    "evaluations",
    "best_metric",
    "best_value",
    "best_epoch",
    "test/accuracy",
    "test/loss",
    "config.compile_model",
]
# The finished run's values (written by write_three_runs), field by field.
FINISHED_VALUES = {
    "status": "finished",
    "reason": None,
    "commit": COMMIT,
    "description": "A hand-made run",
    "evaluations": 1,
    "best_metric": "val/loss",
    "best_value": 0.0123,
    "best_epoch": 2,
    "test/loss": 0.25,
    "test/accuracy": 0.875,
    "config.epochs": 3,
    "config.compile_model": False,
    "config.model_parameters.learning_rate": 0.001,
    "config.data_loader_parameters.all": {},
    "config.dropout": None,
}


def write_three_runs(project) -> None:
    """A finished run with an evaluation, a newer running one with another config key
    (dropout), and a newest one whose record is not valid YAML."""
    older = write_run(project, "2026-01-02_03-04-05", finished_run(0.001))
    (older / "evaluations").mkdir()
    (older / "evaluations" / "2026-01-05_00-00-00.yaml").write_text("results: {}\n")
    write_run(
        project,
        "2026-01-03_00-00-00",
        {
            **finished_run(0.01, dropout=0.5),
            "started": "2026-01-03T00:00:00+00:00",
            "status": "running",
            "best": None,
            "final_test": None,
        },
    )
    write_run(project, "2026-01-04_00-00-00", text="status: [finished\n")


def test_list_as_csv_and_json_holds_every_field_of_every_run(project):
    write_three_runs(project)

    records = as_json(project, "--list")
    assert [record["run_directory"] for record in records] == [  # newest first
        "logs/Model/2026-01-04_00-00-00",
        "logs/Model/2026-01-03_00-00-00",
        "logs/Model/2026-01-02_03-04-05",
    ]
    unreadable, running, finished = records
    assert list(unreadable) == list(running) == list(finished)  # every key in every record
    assert list(finished)[: len(FIRST_FIELDS)] == FIRST_FIELDS
    assert datetime.fromisoformat(finished["started"]) == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc
    )
    assert {key: finished[key] for key in FINISHED_VALUES} == FINISHED_VALUES
    assert (
        running["status"],
        running["best_value"],
        running["test/loss"],
        running["evaluations"],
        running["config.dropout"],
    ) == ("running", None, None, 0, 0.5)
    assert unreadable["status"] == "unreadable"
    assert "not valid YAML (line 2)" in unreadable["reason"]
    assert unreadable["commit"] is None and unreadable["config.epochs"] is None

    # The CSV holds the same records: the same columns, each value as JSON writes it.
    header, rows = as_csv(project, "--list")
    assert header == list(finished)
    assert rows == [{key: csv_text(value) for key, value in record.items()} for record in records]
    assert float(rows[2]["best_value"]) == 0.0123 and rows[2]["config.compile_model"] == "false"


def test_without_runs_csv_and_json_are_empty_but_for_the_header(project):
    assert as_json(project, "--list") == []
    header, rows = as_csv(project, "--list")
    assert rows == [] and header[:3] == ["run_directory", "started", "status"]


def test_format_goes_with_list_or_compare(project):
    result = run_py(project, "sample_runconfig.yaml", "--format", "csv")
    assert result.returncode == 2
    assert "--format goes with --list or --compare" in result.stderr


def test_compare_shows_only_the_config_keys_that_differ_with_the_results(project):
    runs = [
        write_run(project, "2026-01-02_03-04-05", finished_run(0.001)),
        write_run(project, "2026-01-03_00-00-00", finished_run(0.01, dropout=0.5)),
        write_run(
            project,
            "2026-01-04_00-00-00",
            {**finished_run(0.01, epochs=5), "status": "failed", "final_test": None},
        ),
    ]
    arguments = ["--compare", *(str(run.relative_to(project)) for run in runs)]

    result = run_py(project, *arguments)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == [run.name for run in runs]
    assert cells(result.stdout) == {
        "epochs": ["3", "3", "5"],
        "model_parameters.learning_rate": ["0.001", "0.01", "0.01"],
        "dropout": ["-", "0.5", "-"],
        "best val/loss": ["0.0123 (epoch 2)"] * 3,
        "test/accuracy": ["0.875", "0.875", "-"],
        "test/loss": ["0.25", "0.25", "-"],
        "status": ["finished", "finished", "failed"],
        "commit": [COMMIT[:12]] * 3,
        # description, compile_model, hidden_size and data_loader_parameters.all
        "4 config keys are the same in every run (not shown)": [],
    }

    # CSV and JSON: the same runs and numbers, and of the config only what differs.
    records = as_json(project, *arguments)
    assert [record["run_directory"] for record in records] == [
        str(run.relative_to(project)) for run in runs
    ]
    assert [key for key in records[0] if key.startswith("config.")] == [
        "config.epochs",
        "config.model_parameters.learning_rate",
        "config.dropout",
    ]
    assert [record["config.model_parameters.learning_rate"] for record in records] == [
        0.001,
        0.01,
        0.01,
    ]
    assert [record["test/loss"] for record in records] == [0.25, 0.25, None]
    header, rows = as_csv(project, *arguments)
    assert rows == [{key: csv_text(value) for key, value in record.items()} for record in records]


def test_runs_of_the_same_name_are_told_apart_by_their_paths(project):
    first = write_run(project, "2026-01-02_03-04-05", finished_run(0.001))
    second = write_run(project, "2026-01-02_03-04-05", finished_run(0.001), model="Other")

    result = run_py(project, "--compare", str(first), str(second))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == [str(first), str(second)]
    assert result.stdout.splitlines()[-1] == "the configs are the same: all 6 keys"


@pytest.mark.machinery  # one run.py a case
@pytest.mark.parametrize(
    "damage, message",
    [
        (None, "--compare needs two or more run directories; it was given one: {run}"),
        ("missing", "{other} is not a run directory: no such directory"),
        ("empty", "{other} is not a run directory: it has no metadata.yaml"),
        ("status: [finished\n", "cannot compare {other}/metadata.yaml: not valid YAML (line 2)"),
        ("- a list\n", "cannot compare {other}/metadata.yaml: a list, not a mapping"),
        ("status: finished\n", "cannot compare {other}/metadata.yaml: it records no config"),
    ],
    ids=["one run", "no directory", "no metadata", "not YAML", "not a mapping", "no config"],
)
def test_compare_refuses_what_it_cannot_compare(project, damage, message):
    run = write_run(project, "2026-01-02_03-04-05", finished_run(0.001))
    other = project / "logs" / "Model" / "2026-01-03_00-00-00"
    if damage == "empty":
        other.mkdir()
    elif damage not in (None, "missing"):
        write_run(project, other.name, text=damage)

    result = run_py(project, "--compare", str(run), *([str(other)] if damage else []))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {message.format(run=run, other=other)}")
    assert len(result.stderr.splitlines()) == 1  # one line, no traceback


@pytest.mark.machinery
def test_compare_two_logged_runs_shows_the_keys_they_differ_in_and_their_metrics(project):
    for edits in (
        ("model_parameters.learning_rate", "0.01"),
        ("model_parameters.learning_rate", "0.002", f"model_parameters.{WIDTH}", "8"),
    ):
        result = run_py(
            project, "sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "1", *edits
        )
        assert result.returncode == 0, result.stderr
    runs = run_directories(project)
    metadata = [yaml.safe_load((run / "metadata.yaml").read_text()) for run in runs]
    arguments = ["--compare", *(str(run.relative_to(project)) for run in runs)]

    result = run_py(project, *arguments)
    assert result.returncode == 0, result.stderr
    rows = cells(result.stdout)
    assert list(rows)[:2] == [f"model_parameters.{WIDTH}", "model_parameters.learning_rate"]
    assert rows["model_parameters.learning_rate"] == ["0.01", "0.002"]
    assert rows[f"model_parameters.{WIDTH}"][1] == "8"
    best = metadata[0]["best"]["metric"]
    assert rows[f"best {best}"] == [
        f"{record['best']['value']:.4g} (epoch 0)" for record in metadata
    ]
    assert rows["test/loss"] == [
        f"{record['final_test']['results']['test']['loss']:.4g}" for record in metadata
    ]
    assert rows["status"] == ["finished", "finished"]
    assert rows["commit"] == [git(project, "rev-parse", "HEAD")[:12]] * 2

    # CSV and JSON hold the numbers metadata.yaml holds, to the last digit (--list's
    # records are made the same way: see the first test).
    records = as_json(project, *arguments)
    header, rows = as_csv(project, *arguments)
    for record, row, recorded in zip(records, rows, metadata, strict=True):
        assert record["best_value"] == recorded["best"]["value"]
        assert float(row["best_value"]) == recorded["best"]["value"]
        for phase, results in recorded["final_test"]["results"].items():
            for name, value in results.items():
                assert record[f"{phase}/{name}"] == float(row[f"{phase}/{name}"]) == value
        assert (
            record["config.model_parameters.learning_rate"]
            == (recorded["config"]["model_parameters"]["learning_rate"])
        )
    assert [key for key in records[0] if key.startswith("config.")] == [
        f"config.model_parameters.{WIDTH}",
        "config.model_parameters.learning_rate",
    ]
