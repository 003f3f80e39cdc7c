"""A sweep's record: its directory, and reading and writing what it holds.

    logs/sweeps/<YYYY-MM-DD_HH-MM-SS>[_N]/
        sweep.yaml        the sweep file as given, the config and its edit flags, the
                          commit, and the sweep's status
        base_config.yaml  the config with its edits, on which each point sets its values
        points.json       the values of every point of a grid, in order (not a search's)
        points/<N>.json   point N's status, values and run directory, once it has started
                          (a point without one is pending, with its values in points.json)
        points/<N>.yaml   point N's config as validated, written as it starts: the config
                          file its run reads
        points/<N>.run    the run directory of point N (written by that run's run.py)
        points/<N>.log    point N's output, when points run side by side (--jobs)
        study.db          a search's Optuna study, unless the sweep file names a storage

The record grows by a few small files per point, never by rewriting what it holds, so
that a sweep of 20,000 points is recorded, listed and resumed as quickly as one of ten.
Only the sweep's own process writes sweep.yaml and points/<N>.json (atomically), so
that points running side by side could never overwrite each other's state.
"""

import hashlib
import json
import os
from pathlib import Path

import yaml

from {{ cookiecutter.project_slug }}.toolkit.directory_lock import in_use
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE
from {{ cookiecutter.project_slug }}.toolkit.sweep_file import describe
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    atomic_write,
    dump,
    parse_config,
    parse_record,
    read_text,
)

SWEEPS_FOLDER = "sweeps"  # logs/sweeps/: the sweeps' records, beside the runs' folders
SWEEP_RECORD = "sweep.yaml"
BASE_CONFIG = "base_config.yaml"  # the config on which each point sets its values
POINTS_INDEX = "points.json"  # a grid's points, values only: their states have files
SUMMARY_POINTS = 20  # the unfinished points a sweep's last message names


def new_point(number: int, values: dict) -> dict:
    return {"point": number, "values": values, "status": "pending", "run": None, "exit_code": None}


def point_file(directory: Path, number: int) -> Path:
    return directory / "points" / f"{number}.yaml"


def point_log(directory: Path, number: int) -> Path:
    """Point N's output, when several points run at once (--jobs)."""
    return directory / "points" / f"{number}.log"


def point_run(directory: Path, number: int) -> str | None:
    """The run directory the point's run.py created; None if it stopped before."""
    try:
        return read_text(directory / "points" / f"{number}.run").strip()
    except FileNotFoundError:
        return None


def point_state_file(directory: Path, number: int) -> Path:
    return directory / "points" / f"{number}.json"


def write_sweep(directory: Path, record: dict) -> None:
    """sweep.yaml: the record but its points, which have files of their own."""
    write_text(
        directory / SWEEP_RECORD,
        dump({key: value for key, value in record.items() if key != "points"}),
    )


def write_point(directory: Path, point: dict) -> None:
    write_text(point_state_file(directory, point["point"]), json.dumps(point))


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda file: file.write(text.encode()))


def read_record(directory: Path) -> dict:
    """The sweep's record, sweep.yaml with its `points` from their own files, in order."""
    record = read_sweep(directory)
    if isinstance(record.get("points"), list):
        return record  # recorded before 0.5, every point in sweep.yaml
    index = read_json(directory / POINTS_INDEX) if "search" not in record else []
    states = {}
    with os.scandir(directory / "points") as entries:
        for entry in entries:
            stem, _, suffix = entry.name.partition(".")
            if suffix == "json" and stem.isdigit():
                states[int(stem)] = read_json(Path(entry.path))
    if not isinstance(index, list):
        raise UserError(f"{directory / POINTS_INDEX} is damaged: it holds no list of points")
    count = max(len(index), max(states, default=-1) + 1)
    missing = [number for number in range(len(index), count) if number not in states]
    if missing:
        raise UserError(
            f"the record of the sweep in {directory} is damaged: "
            f"{point_state_file(directory, missing[0])} is missing"
        )
    record["points"] = [
        states.get(number) or new_point(number, index[number]) for number in range(count)
    ]
    return record


def read_sweep(directory: Path) -> dict:
    """sweep.yaml alone: what the sweep is, and its status."""
    path = directory / SWEEP_RECORD
    try:
        record = parse_record(read_text(path))
    except FileNotFoundError:
        raise UserError(f"{directory} is not a sweep directory: it has no {SWEEP_RECORD}") from None
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    if not isinstance(record, dict) or not {"id", "status", "git"} <= record.keys():
        raise UserError(f"{path} is not a sweep's record (id, status, git)")
    return record


def read_point(directory: Path, number: int) -> dict:
    """Point `number` of the sweep: its state file, or as planned if it has none yet."""
    path = point_state_file(directory, number)
    if path.exists():
        return read_json(path)
    index = read_json(directory / POINTS_INDEX)
    if not isinstance(index, list) or not 0 <= number < len(index):
        raise UserError(f"the sweep in {directory} has no point {number}")
    return new_point(number, index[number])


def read_json(path: Path) -> object:
    """One of the sweep's own JSON records, which the sweep alone writes."""
    try:
        return json.loads(read_text(path))
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else error
        raise UserError(f"cannot read {path}: {reason}") from None


def sweep_base(directory: Path, record: dict) -> dict:
    """The config each point sets its values on, as the sweep recorded it."""
    path = directory / BASE_CONFIG
    try:
        text = read_text(path)
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    recorded = record.get("base_config_sha256")
    if recorded is not None and hashlib.sha256(text.encode()).hexdigest() != recorded:
        raise UserError(
            f"{path} has changed since sweep {record['id']} recorded it, so "
            "its points would not run the config it was started with. Put it "
            "back as it was, or start a new sweep."
        )
    return parse_config(text)


def run_record(project_root: Path, run: str | None) -> dict:
    """The metadata.yaml of a point's run; empty if it has none (it was stopped before
    its run directory was made) or it cannot be read (resuming the run will say why)."""
    if run is None:
        return {}
    try:
        metadata = parse_record(read_text(project_root / run / METADATA_FILE))
    except (OSError, yaml.YAMLError):
        return {}
    return metadata if isinstance(metadata, dict) else {}


def status_now(directory: Path, record: dict) -> str:
    """The sweep's status as its record says, unless it says `running` while no process
    holds the sweep (it was killed): then it is interrupted, to be resumed."""
    if record["status"] == "running" and not in_use(directory):
        return "interrupted (its process is gone; python run.py --resume-sweep continues it)"
    return record["status"]


def summary(directory: Path, record: dict) -> str:
    counts = {}
    for point in record["points"]:
        counts[point["status"]] = counts.get(point["status"], 0) + 1
    lines = [
        f"sweep {record['id']} {record['status']}: "
        + ", ".join(f"{count} {status}" for status, count in counts.items())
    ]
    unfinished = [point for point in record["points"] if point["status"] != "finished"]
    for point in unfinished[:SUMMARY_POINTS]:
        lines.append(
            f"  point {point['point']} ({describe(point['values'])}): "
            f"{point['status']}, run directory {point['run'] or 'none'}"
        )
    if len(unfinished) > SUMMARY_POINTS:
        lines.append(
            f"  ... and {len(unfinished) - SUMMARY_POINTS} more: python run.py "
            f"--list --sweep {record['id']}"
        )
    if record["status"] == "interrupted":
        lines.append(f"continue it with: python run.py --resume-sweep {directory}")
    return "\n".join(lines)
