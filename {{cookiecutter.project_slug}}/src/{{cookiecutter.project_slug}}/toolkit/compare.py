"""Runs side by side, and runs as data.

- `python run.py --compare RUN RUN ...`: one column per run; the rows are the config keys
  whose values differ between the runs, then the runs' results.
- `--format csv|json` (with `--list` or `--compare`): the same runs as records for a
  spreadsheet, pandas or a script: every field of the `--list` table in full (the whole
  commit, every final-test number, the best value unrounded), and the config's keys,
  dotted and prefixed `config.` (`config.model_parameters.learning_rate`), as
  pandas.json_normalize would name them in metadata.yaml.

Like `--list`, it only reads metadata.yaml files. A record has every column of the
output; a field a run does not have is null in JSON and an empty cell in CSV.
"""

import csv
import io
import json
import os
import sys
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.hparams import flat_config
from {{ cookiecutter.project_slug }}.toolkit.plug_in import NO_OPTIONS, Options
from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE
from {{ cookiecutter.project_slug }}.toolkit.runs import (
    evaluation_count,
    field,
    final_numbers,
    logged_runs,
    printable,
    read,
    run_index,
    start_time,
    status,
    sweep_point,
)

FORMATS = ("table", "csv", "json")
# The fields every record starts with, in this order; then the final test's numbers
# ("test/loss"), then the config's keys.
FIELDS = (
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
)
CONFIG = "config."
ABSENT = "-"  # in the --compare table: a key or a result the run does not have

Run = tuple[Path, dict | None, str | None]  # a run directory, its metadata, why none


def print_output(text: str) -> None:
    """Print a table or config for a reader that may stop early (`run.py --list | head`):
    when the pipe closes, the rest is dropped, as `ls` or `git log` drop it."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it elsewhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def listing(
    logs_root: Path,
    project_root: Path,
    output_format: str,
    columns: list[str] | None = None,
    options: Options = NO_OPTIONS,
) -> str:
    """`python run.py --list` in `output_format`: every run under `logs_root`; the table
    with a column for each final-test number in `columns`. The project's `options` may
    know more of a run's status than its record."""
    if output_format == "table":
        return run_index(logs_root, project_root, columns, options)
    runs = logged_runs(logs_root)
    return formatted([record(run, project_root, options) for run in runs], output_format)


def comparison(
    arguments: list[str], project_root: Path, output_format: str, options: Options = NO_OPTIONS
) -> str:
    """`python run.py --compare RUN RUN ...` in `output_format`: the runs at the paths
    `arguments`, with the config keys that differ between them."""
    if len(arguments) < 2:
        raise UserError(
            f"--compare needs two or more run directories; it was given one: {arguments[0]}"
        )
    runs = [comparable(argument) for argument in arguments]
    records = [record(run, project_root, options) for run in runs]
    config_keys = [
        key
        for key in dict.fromkeys(key for run in records for key in run)
        if key.startswith(CONFIG)
    ]
    differing = [key for key in config_keys if differs(key, records)]
    shown = [
        {key: value for key, value in run.items() if not key.startswith(CONFIG) or key in differing}
        for run in records
    ]
    if output_format != "table":
        return formatted(shown, output_format)
    return side_by_side(
        column_names(arguments, runs), shown, differing, same=len(config_keys) - len(differing)
    )


def comparable(argument: str) -> Run:
    """The run at the path `argument`, read; a UserError if it is not one with a
    readable record and config."""
    path = Path(argument)
    hint = "(python run.py --list shows the run directories)"
    if not path.is_dir():
        problem = "no such directory" if not path.exists() else "not a directory"
        raise UserError(f"{argument} is not a run directory: {problem} {hint}")
    if not (path / METADATA_FILE).exists():
        raise UserError(f"{argument} is not a run directory: it has no {METADATA_FILE} {hint}")
    run = read(path)
    _, metadata, reason = run
    if metadata is None:
        raise UserError(f"cannot compare {path / METADATA_FILE}: {reason}")
    if not isinstance(metadata.get("config"), dict):
        raise UserError(
            f"cannot compare {path / METADATA_FILE}: it records no config "
            "(a mapping under `config`)"
        )
    return run


def record(run: Run, project_root: Path, options: Options = NO_OPTIONS) -> dict:
    """A run's fields as plain values (numbers stay numbers); None where its record does
    not have one, or has one of the wrong type."""
    path, metadata, reason = run
    fields = dict.fromkeys(FIELDS)
    # As --list shows it: relative to the project for a run in it, else absolute.
    where = path.resolve()
    fields["run_directory"] = str(
        where.relative_to(project_root) if where.is_relative_to(project_root) else where
    )
    fields["evaluations"] = evaluation_count(path)
    if metadata is None:
        return {**fields, "status": "unreadable", "reason": reason}
    started = start_time(metadata)
    fields.update(
        started=started.isoformat(timespec="seconds") if started else None,
        status=status(metadata, options) if field(metadata, "status") is not None else None,
        commit=of_type(field(metadata, "git", "commit"), str),
        description=of_type(field(metadata, "description"), str),
        sweep=sweep_point(metadata),  # "<sweep id>#<point>"
        best_metric=of_type(field(metadata, "best", "metric"), str),
        best_value=of_type(field(metadata, "best", "value"), int, float),
        best_epoch=of_type(field(metadata, "best", "epoch"), int),
    )
    fields.update(
        {tag: of_type(value, int, float) for tag, value in sorted(final_numbers(metadata).items())}
    )
    config = field(metadata, "config")
    if isinstance(config, dict):
        fields.update({f"{CONFIG}{key}": value for key, value in flat_config(config).items()})
    return fields


def of_type(value: object, *types: type) -> object:
    """`value` if it is one of `types` (a boolean is not a number), else None."""
    return value if isinstance(value, types) and not isinstance(value, bool) else None


def differs(key: str, records: list[dict]) -> bool:
    """Whether the runs' values of `key` differ: a missing key differs from any value,
    1 from 1.0, and true from 1."""
    return (
        len(
            {
                json.dumps(run[key], sort_keys=True, default=str) if key in run else None
                for run in records
            }
        )
        > 1
    )


def is_result(key: str) -> bool:
    """Whether a record's key is a number of the final test: its tag has a slash
    ("test/loss"), and so may a config key, but that one starts with `config.`."""
    return "/" in key and not key.startswith(CONFIG)


def formatted(records: list[dict], output_format: str) -> str:
    """`records` as CSV or JSON, each with every record's keys: FIELDS, the final test's
    numbers by name, then the config's keys in the order they first appear."""
    seen = list(dict.fromkeys(key for run in records for key in run))
    keys = [
        *FIELDS,
        *sorted(filter(is_result, seen)),
        *(key for key in seen if key.startswith(CONFIG)),
    ]
    records = [{key: run.get(key) for key in keys} for run in records]
    return as_json(records) if output_format == "json" else as_csv(records, keys)


def as_json(data: object) -> str:
    # default=str: a date in model_parameters (YAML has dates) goes in as text.
    return json.dumps(data, indent=2, default=str)


def as_csv(records: list[dict], keys: list[str]) -> str:
    """`records` as CSV with the columns `keys`."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: csv_cell(value) for key, value in run.items()} for run in records)
    return text.getvalue().removesuffix("\n")


def csv_cell(value: object) -> object:
    """A number or text as it is (None: an empty cell); anything else (true, a list, a
    mapping) as its JSON text, which a reader can parse back."""
    if value is None or isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    return json.dumps(value, default=str)


def column_names(arguments: list[str], runs: list[Run]) -> list[str]:
    """Each run's column heading: its directory's name (a timestamp), or the path as
    given where two runs have the same name."""
    names = [path.name for path, _, _ in runs]
    return names if len(set(names)) == len(names) else list(arguments)


def side_by_side(names: list[str], records: list[dict], differing: list[str], same: int) -> str:
    """The --compare table: the differing config keys, then the results."""
    rows = [("", *names)]
    rows += [
        (key.removeprefix(CONFIG), *(config_value(run, key) for run in records))
        for key in differing
    ]
    if differing:
        rows.append(("",) * len(rows[0]))
    rows += result_rows(records)
    lines = aligned([tuple(map(printable, row)) for row in rows])
    if not differing:
        lines.append(f"the configs are the same: all {same} keys")
    else:
        lines.append(
            f"{same} config {'key is' if same == 1 else 'keys are'} the same in "
            f"every run (not shown)"
        )
    return "\n".join(lines)


def config_value(run: dict, key: str) -> str:
    """A config value as the config would say it: text as it is, anything else as
    YAML flow text (true, null, [1, 2], 0.001)."""
    return flow_text(run[key]) if key in run else ABSENT


def flow_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def result_rows(records: list[dict]) -> list[tuple[str, ...]]:
    """The best value of each selection metric the runs use (and its epoch), each
    final-test number, then each run's status and commit."""
    rows = []
    for metric in dict.fromkeys(run["best_metric"] for run in records if run["best_metric"]):
        rows.append(
            (
                f"best {metric}",
                *(
                    f"{run['best_value']:.4g} (epoch {run['best_epoch']})"
                    if run["best_metric"] == metric and run["best_value"] is not None
                    else ABSENT
                    for run in records
                ),
            )
        )
    for key in sorted({key for run in records for key in run if is_result(key)}):
        rows.append(
            (key, *(f"{run[key]:.4g}" if run.get(key) is not None else ABSENT for run in records))
        )
    rows.append(("status", *(run["status"] or "?" for run in records)))
    rows.append(("commit", *(run["commit"][:12] if run["commit"] else "?" for run in records)))
    return rows


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
