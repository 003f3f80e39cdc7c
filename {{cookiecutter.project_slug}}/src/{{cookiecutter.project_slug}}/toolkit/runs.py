"""The run index (`python run.py --list`): one row per run directory in logs/, newest first.

It reads each metadata.yaml as it is on disk, so runs still in progress are listed too.
A file it cannot read, or one missing fields, becomes a row that says so, never an error:
the index is what a user looks at when something went wrong.
"""

import os
import shutil
import socket
from datetime import datetime
from pathlib import Path

import yaml

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.evaluation import EVALUATIONS
from {{ cookiecutter.project_slug }}.toolkit.plug_in import NO_OPTIONS, Options
from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE
from {{ cookiecutter.project_slug }}.toolkit.sweep_record import SWEEPS_FOLDER
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    YAMLRefused,
    parse_record,
    read_text,
)

HEADER = (
    "run directory",
    "started",
    "status",
    "commit",
    "description",
    "best",
    "final test",
    "evals",
)
# Then, where a listed run is a sweep's point, its sweep and point ("<sweep id>#3"); and
# the final test's numbers that --columns asks for ("test/accuracy").
SWEEP = "sweep"
# A row fits the terminal's width (120 columns when the output goes to a file or a
# pipe), cutting the description as needed but to no fewer than MIN_DESCRIPTION.
UNSEEN_TERMINAL = (120, 24)
MIN_DESCRIPTION = 30
UNKNOWN = "?"  # a field missing from metadata.yaml, or of the wrong type
STATUS = HEADER.index("status")
# Under the table, for a status that needs one: what it means and what to do.
STATUS_NOTES = {
    "died": "its process is gone without recording how the run ended; continue it with: "
    "python run.py --resume <run directory>",
}
DESCRIPTION = HEADER.index("description")


def run_index(
    logs_root: Path,
    project_root: Path,
    columns: list[str] | None = None,
    options: Options = NO_OPTIONS,
) -> str:
    """The table of the runs under `logs_root` (logs/<model_type>/<timestamp>/), with a
    column for each final-test number in `columns` ("test/accuracy"), and what the
    project's `options` know of their status."""
    runs = logged_runs(logs_root)
    if not runs:
        return f"no logged runs yet: {logs_root.relative_to(project_root)}/ holds none"
    check_columns(columns or [], [metadata for _, metadata, _ in runs])
    # The sweep column only where it says something: a project without sweeps keeps its
    # table's width for the descriptions.
    sweeps = any(sweep_point(metadata) for _, metadata, _ in runs)
    header = (*HEADER, *([SWEEP] if sweeps else []), *(columns or []))
    rows = [header] + [
        tuple(
            map(
                printable,
                (
                    *row(path, metadata, reason, project_root, options),
                    *([sweep_point(metadata) or "-"] if sweeps else []),
                    *(final_number(metadata, column) for column in columns or []),
                ),
            )
        )
        for path, metadata, reason in runs
    ]
    lines = table(rows)
    shown = {cells[STATUS].split(" (")[0] for cells in rows}
    notes = {**STATUS_NOTES, **options.status_notes}
    lines += [f"{value}: {note}" for value, note in notes.items() if value in shown]
    return "\n".join(lines)


def logged_runs(logs_root: Path) -> list[tuple[Path, dict | None, str | None]]:
    """Every run directory under `logs_root`, read, newest first (logs/sweeps/ holds
    the sweeps' records, not runs)."""
    directories = [
        path
        for path in logs_root.glob("*/*")
        if path.is_dir() and path.parent.name != SWEEPS_FOLDER
    ]
    return sorted((read(path) for path in directories), key=start_order, reverse=True)


def read(path: Path) -> tuple[Path, dict | None, str | None]:
    """The run directory, its metadata, and why there is none when it cannot be read."""
    try:
        metadata = parse_record(read_text(path / METADATA_FILE))
    except FileNotFoundError:
        return path, None, f"no {METADATA_FILE}"
    except YAMLRefused as error:  # an alias bomb, say
        return path, None, str(error)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return path, None, f"not valid YAML (line {mark.line + 1})" if mark else "not valid YAML"
    except OSError as error:
        return path, None, f"cannot read it: {error.strerror}"
    if not isinstance(metadata, dict):
        return path, None, f"a {type(metadata).__name__}, not a mapping"
    return path, metadata, None


def start_order(run: tuple[Path, dict | None, str | None]) -> tuple[float, str]:
    # Runs without a readable start time sort by their directory's name, a timestamp too
    # (and the name breaks ties: a run started in the same second gets a suffix).
    path, metadata, _ = run
    started = start_time(metadata)
    return started.timestamp() if started else directory_time(path), path.name


def row(
    path: Path, metadata: dict | None, reason: str | None, project_root: Path, options: Options
) -> tuple[str, ...]:
    directory = str(path.relative_to(project_root))
    if metadata is None:
        return (
            directory,
            UNKNOWN,
            "unreadable",
            UNKNOWN,
            reason,
            UNKNOWN,
            UNKNOWN,
            evaluations(path),
        )
    started = start_time(metadata)
    commit = field(metadata, "git", "commit")
    description = field(metadata, "description")
    return (
        directory,
        started.strftime("%Y-%m-%d %H:%M") if started else UNKNOWN,
        status_shown(metadata, options),
        commit[:12] if isinstance(commit, str) else UNKNOWN,
        " ".join(str(description).split()) if description is not None else UNKNOWN,
        best(metadata),
        final_test(metadata),
        evaluations(path),
    )


def field(metadata: object, *keys: str) -> object:
    """metadata[key][key]..., or None where a level is missing or not a mapping."""
    for key in keys:
        metadata = metadata.get(key) if isinstance(metadata, dict) else None
    return metadata


def start_time(metadata: dict | None) -> datetime | None:
    """When the run started, in local time."""
    value = field(metadata, "started")
    try:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone() if isinstance(value, datetime) else None
    except (ValueError, OverflowError):  # not a time, or one out of range
        return None


def directory_time(path: Path) -> float:
    """The time a run directory's name says, as a timestamp; 0 if it says none."""
    try:
        return datetime.strptime(path.name[:19], "%Y-%m-%d_%H-%M-%S").timestamp()
    except (ValueError, OverflowError):
        return 0.0


def status(metadata: dict, options: Options = NO_OPTIONS) -> str:
    """The run's status as its record says it, or as the project's `options` know it now
    (a cluster job's, say)."""
    value = field(metadata, "status")
    if value == "running" and process_is_gone(metadata):
        return "died"
    if value is None:
        return UNKNOWN
    return options.status_now(metadata, str(value))


def status_shown(metadata: dict, options: Options = NO_OPTIONS) -> str:
    """The status as the table shows it: with the options' detail (a job's id, say)."""
    value = status(metadata, options)
    detail = options.status_detail(metadata) if value != UNKNOWN else None
    return f"{value} ({detail})" if detail else value


def process_is_gone(metadata: dict) -> bool:
    """Whether the run's process ran on this machine and no longer exists. A run from
    another machine, or from before the process was recorded, is taken as running."""
    host, pid = field(metadata, "process", "host"), field(metadata, "process", "pid")
    if host != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0 sends nothing: it only checks that the process exists
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # it exists under another user, or is no process number at all
    return False


def best(metadata: dict) -> str:
    """The best metric so far: "test/loss 0.0123 (epoch 7)"; "-" before the first epoch."""
    if "best" not in metadata:
        return UNKNOWN
    value = metadata["best"]
    if value is None:
        return "-"
    metric, number, epoch = (field(value, key) for key in ("metric", "value", "epoch"))
    if (
        not isinstance(metric, str)
        or isinstance(number, bool)
        or not isinstance(number, (int, float))
    ):
        return UNKNOWN
    return f"{metric} {number:.4g} (epoch {epoch})"


def final_test(metadata: dict) -> str:
    """The final test's counterpart of the selection's metric: "test/loss 0.0125" for a
    run selected on val/loss (test/loss for one selected on a training number); "-"
    before the final test."""
    if field(metadata, "final_test") is None:
        return "-"
    metric = field(metadata, "best", "metric")
    tag = (
        metric.replace("val", "test", 1)
        if isinstance(metric, str) and metric.startswith("val")
        else "test/loss"
    )
    number = field(metadata, "final_test", "results", *tag.split("/", 1))
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return UNKNOWN
    return f"{tag} {number:.4g}"


def final_numbers(metadata: dict | None) -> dict[str, object]:
    """The final test's numbers by tag ("test/loss"); none before the final test."""
    results = field(metadata, "final_test", "results")
    return {
        f"{phase}/{name}": value
        for phase, values in (results.items() if isinstance(results, dict) else ())
        for name, value in (values.items() if isinstance(values, dict) else ())
    }


def final_number(metadata: dict | None, tag: str) -> str:
    """The column `tag` of --columns: the final test's number, "-" before the final test."""
    if metadata is None:
        return UNKNOWN
    if field(metadata, "final_test") is None:
        return "-"
    number = final_numbers(metadata).get(tag)
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return UNKNOWN
    return f"{number:.4g}"


def check_columns(columns: list[str], records: list[dict | None]) -> None:
    """Each column --columns asks for must be a number some run's final test reports: a
    typo would show a column of dashes."""
    reported = sorted({tag for metadata in records for tag in final_numbers(metadata)})
    unknown = [column for column in columns if column not in reported]
    if unknown:
        raise UserError(
            f"--columns: no run's final test reports {', '.join(unknown)}; "
            f"they report {', '.join(reported) or 'nothing yet'}"
        )


def sweep_point(metadata: dict | None) -> str | None:
    """The sweep and point a run belongs to: "2024-05-01_12-00-00#3"; None for a run of
    no sweep."""
    sweep, point = field(metadata, "sweep", "id"), field(metadata, "sweep", "point")
    if not isinstance(sweep, str):
        return None
    return f"{sweep}#{point}" if isinstance(point, int) else sweep


def evaluations(path: Path) -> str:
    """How many records of run.py --evaluate the run directory holds ("-": none)."""
    count = evaluation_count(path)
    return str(count) if count else "-"


def evaluation_count(path: Path) -> int:
    return len(list((path / EVALUATIONS).glob("*.yaml")))


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """`rows` in aligned columns, the description cut so that a line fits the terminal if
    it can."""
    widths = [max(len(cells[column]) for cells in rows) for column in range(len(rows[0]))]
    others = sum(widths) - widths[DESCRIPTION] + 2 * (len(rows[0]) - 1)
    room = shutil.get_terminal_size(UNSEEN_TERMINAL).columns - others
    widths[DESCRIPTION] = min(widths[DESCRIPTION], max(MIN_DESCRIPTION, room))
    lines = []
    for cells in rows:
        cells = [shorten(cell, width) for cell, width in zip(cells, widths, strict=True)]
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        lines.append(line.rstrip())
    return lines


def printable(text: str) -> str:
    """`text` with control characters escaped (\\x1b): a description holding an ANSI
    escape sequence must not recolour, move or clear the user's terminal."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
