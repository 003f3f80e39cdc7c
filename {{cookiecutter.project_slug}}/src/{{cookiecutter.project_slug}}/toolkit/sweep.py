"""Sweeps: many logged runs from one config, with a sweep file saying what varies.

    python run.py sample_runconfig.yaml --sweep sample_sweep.yaml

A sweep file holds a `grid` (dotted key: [values], every combination of them), a list
of `variants` (each a few dotted keys with their values) and `seeds`. A point of the
sweep is one combination of the grid with one variant and one seed, in that order of
nesting; every point's config (the config, its edit flags, then the point's values) is
built and validated before the first run starts, so that a typo stops the sweep with
nothing logged. Each point then runs as a child `run.py`: exactly a single logged run,
resumable and re-runnable like any, whose metadata.yaml names its sweep and point.

    logs/sweeps/<YYYY-MM-DD_HH-MM-SS>[_N]/
        sweep.yaml        the sweep file as given, the config and its edit flags, the
                          commit, and every point: its values, run directory and status
        points/<N>.yaml   point N's config as validated: the config file its run reads
        points/<N>.run    the run directory of point N (written by that run's run.py)

Only the sweep's own process writes sweep.yaml (atomically, as each point starts and
ends), so that points running side by side could never overwrite each other's state.
"""

import argparse
import copy
import itertools
from pathlib import Path

import yaml
from voluptuous import All, Length, MultipleInvalid, Optional, Schema

from {{ cookiecutter.project_slug }}.toolkit.config import key_path, load_config, set_key, validate
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.experiment import (
    METADATA_FILE,
    RunDirectory,
    atomic_write,
    cannot_write,
    lock_run_directory,
    new_timestamped_directory,
    now,
)
from {{ cookiecutter.project_slug }}.toolkit.job import repo_to_record
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.repo import repo_state
from {{ cookiecutter.project_slug }}.toolkit.rerun import run_at_commit
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    SIGNALS,
    ForwardedSignals,
    signal_exit_code,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_picture import draw_picture
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    dump,
    located,
    parse_config,
    parse_record,
    read_text,
    shown,
)

SWEEPS_FOLDER = "sweeps"  # logs/sweeps/: the sweeps' records, beside the runs' folders
SWEEP_RECORD = "sweep.yaml"
SWEEP_KEYS = ("description", "grid", "variants", "seeds")
NON_EMPTY = Length(min=1, msg="expected at least one entry")
SWEEP_FILE = Schema({
    Optional("description"): str,
    Optional("grid"): All({str: All(list, NON_EMPTY)}, NON_EMPTY),
    Optional("variants"): All([All({str: object}, NON_EMPTY)], NON_EMPTY),
    Optional("seeds"): All([int], NON_EMPTY),
})
# The exit codes of a point's run.py that stopped at a checkpoint on a signal.
STOPPED_CODES = {signal_exit_code(number.name) for number in SIGNALS}
UNFINISHED = ("pending", "running", "interrupted")  # what --resume-sweep runs again


def start_sweep(args: argparse.Namespace, project: Project) -> int:
    """Check every point of the sweep file, record the sweep, then run its points;
    returns run.py's exit code (nonzero when a point failed or a signal stopped it).
    With --print-config, print every point's config instead, and run nothing."""
    sweep_file = Path(args.sweep)
    sweep = read_sweep_file(sweep_file)
    points = sweep_points(sweep, sweep_file, project)
    base = load_config(args.config, project, args.find_replace, args.delete, args.modify)
    configs = [point_config(base, values, number, sweep_file, project)
               for number, values in enumerate(points)]
    if args.print_config:
        print("\n".join(f"# point {number}: {describe(values)}\n{dump(config)}---"
                        for number, (values, config) in enumerate(zip(points, configs,
                                                                      strict=True))))
        return 0
    repo = repo_to_record(args, project.root)  # once: every point runs this commit
    # Created last, so that a mistake found above leaves nothing in logs/.
    directory = new_timestamped_directory(project.logs / SWEEPS_FOLDER)
    lock_run_directory(directory)  # this process alone writes the sweep's record
    record = {
        "id": directory.name,
        "description": sweep.get("description", ""),
        "status": "running",
        "started": now(),
        "ended": None,
        "sweep_file": str(sweep_file),
        "sweep": sweep,  # as given
        "config": str(args.config),
        "edits": {flag: getattr(args, flag) for flag in ("find_replace", "delete", "modify")},
        "flags": {"cpu": args.cpu, "mini": args.mini},  # given to every point's run.py
        "git": repo.as_record(),
        "points": [{"point": number, "values": values, "status": "pending", "run": None,
                    "exit_code": None} for number, values in enumerate(points)],
    }
    try:
        (directory / "points").mkdir()
        for number, config in enumerate(configs):
            write_text(point_file(directory, number), dump(config))
        write_record(directory, record)
    except OSError as error:
        raise UserError(cannot_write(error, directory)) from None
    return run_points(directory, record, project.root)


def resume_sweep(directory: Path, project: Project) -> int:
    """Run a sweep's pending points and resume its interrupted ones, at its commit."""
    read_record(directory)  # a sweep directory, before a lock file is made in it
    lock_run_directory(directory)
    record = read_record(directory)  # as its last owner left it
    if record["status"] == "finished":
        raise UserError(f"the sweep in {directory} has finished; there is nothing to resume.")
    repo = repo_to_record(argparse.Namespace(no_logging=False, allow_dirty_repo=False),
                          project.root)
    commit = record["git"]["commit"]
    if repo.commit != commit:
        raise UserError(f"the sweep was made at commit {commit[:12]}, but HEAD is "
                        f"{repo.commit[:12]}; its points must all run the same code. "
                        f"`git checkout {commit[:12]}` and resume the sweep again.")
    for point in record["points"]:
        if point["status"] == "running":  # the sweep's process was killed while it ran
            settle(point, directory, project.root)
    return run_points(directory, record, project.root)


def settle(point: dict, directory: Path, project_root: Path) -> None:
    """A point whose end the sweep's process did not see: finished if its run says so
    (it may have ended after the sweep's process was killed), else interrupted."""
    point["run"] = point["run"] or point_run(directory, point["point"])
    metadata = None
    if point["run"]:  # None: it was stopped before its run directory was made
        try:
            metadata = parse_record(read_text(project_root / point["run"] / METADATA_FILE))
        except (OSError, yaml.YAMLError):
            pass  # resuming the run will say what is wrong with it
    finished = isinstance(metadata, dict) and metadata.get("status") == "finished"
    point["status"] = "finished" if finished else "interrupted"


def join_sweep(run: RunDirectory, directory: str, number: str, project_root: Path) -> None:
    """In a point's own run.py (--sweep-point): name the sweep and point in the run's
    metadata.yaml, and tell the sweep which run directory is the point's."""
    directory, number = Path(directory), int(number)
    record = read_record(directory)
    run.metadata["sweep"] = {"id": record["id"], "point": number,
                             "values": record["points"][number]["values"]}
    run.write_metadata()
    write_text(directory / "points" / f"{number}.run", str(run.path.relative_to(project_root)))


# --------------------------------------------------------------------------------------
# The sweep file and its points


def read_sweep_file(path: Path) -> dict:
    try:
        sweep = parse_config(read_text(path))
    except OSError as error:
        raise UserError(f"cannot read sweep file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML:\n{located(error, path)}") from None
    if not isinstance(sweep, dict):
        raise UserError(f"{path} must hold a mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = [key for key in sweep if key not in SWEEP_KEYS]
    if unknown:
        raise UserError(f"{path}: unknown key {shown(unknown[0])}; a sweep file holds "
                        f"{', '.join(SWEEP_KEYS)}")
    try:
        sweep = SWEEP_FILE(sweep)
    except MultipleInvalid as error:
        problems = "\n".join(f"  - {'.'.join(map(str, problem.path))}: {problem.msg}"
                             for problem in error.errors)
        raise UserError(f"{path} has {len(error.errors)} problem(s):\n{problems}") from None
    if not ({"grid", "variants", "seeds"} & sweep.keys()):
        raise UserError(f"{path} holds no points: give a grid, variants or seeds")
    return sweep


def sweep_points(sweep: dict, path: Path, project: Project) -> list[dict]:
    """The values of each point: every combination of the grid, with each variant,
    with each seed (the innermost, so that a point's seeds run one after another)."""
    grid = sweep.get("grid", {})
    variants = sweep.get("variants", [{}])
    seeds = [{"seed": seed} for seed in sweep.get("seeds", [])] or [{}]
    for where, keys in [("grid", grid), *((f"variants[{index}]", variant)
                                          for index, variant in enumerate(variants))]:
        for dotted in keys:
            key_path(dotted, f"{path}: {where}:", project.schema)  # one a config can hold
            if where != "grid" and dotted in grid:
                raise UserError(f"{path}: {dotted} is in both the grid and {where}; "
                                "a key varies in one of them")
            if dotted == "seed" and seeds != [{}]:
                raise UserError(f"{path}: seed is in {where} and seeds is given; "
                                "set the seeds in one of them")
    combinations = [dict(zip(grid, values, strict=True))
                    for values in itertools.product(*grid.values())]
    return [{**combination, **variant, **seed} for combination in combinations
            for variant in variants for seed in seeds]


def point_config(base: dict, values: dict, number: int, sweep_file: Path,
                 project: Project) -> dict:
    """The base config with the point's values set, validated as a single run's is."""
    config = copy.deepcopy(base)
    for dotted, value in values.items():
        set_key(config, dotted, value, f"{sweep_file}:", project.schema)
    return validate(config, f"{sweep_file}, point {number} ({describe(values)})", project)


def describe(values: dict) -> str:
    return ", ".join(f"{key}={shown(value)}" for key, value in values.items()) or "the config"


# --------------------------------------------------------------------------------------
# Running the points


def run_points(directory: Path, record: dict, project_root: Path) -> int:
    """Run the unfinished points one after another, each a child run.py; a stop
    signal goes to the running point, and no further point starts."""
    signals = ForwardedSignals().install()
    points = record["points"]
    print(f"sweep {record['id']}: {len(points)} points, recorded in "
          f"{directory / SWEEP_RECORD}", flush=True)
    for point in points:
        if point["status"] not in UNFINISHED or signals.received:
            continue
        check_code_unchanged(project_root, record, directory)
        if point["status"] == "interrupted" and point["run"]:
            arguments = ["--resume", point["run"]]
        else:
            flags = [f"--{flag}" for flag, given in record["flags"].items() if given]
            arguments = [str(point_file(directory, point["point"])), *flags,
                         "--sweep-point", str(directory), str(point["point"])]
        point["status"] = "running"
        write_record(directory, record)
        # Flushed now: the point's run.py writes to the same output.
        print(f"sweep point {point['point']} ({point['point'] + 1} of {len(points)}): "
              f"{describe(point['values'])}", flush=True)
        exit_code = run_at_commit(project_root, arguments, signals)
        point["run"] = point["run"] or point_run(directory, point["point"])
        point["exit_code"] = exit_code
        point["status"] = ("finished" if exit_code == 0 else
                           "interrupted" if exit_code in STOPPED_CODES else "failed")
        write_record(directory, record)
    failed = [point["point"] for point in points if point["status"] == "failed"]
    record["status"] = ("interrupted" if signals.received else
                        "failed" if failed else "finished")
    record["ended"] = now()
    record["picture"] = draw_picture(directory, record, project_root)  # or why not
    write_record(directory, record)
    print(summary(directory, record), flush=True)
    if signals.received:
        return signal_exit_code(signals.received)
    return 1 if failed else 0


def check_code_unchanged(project_root: Path, record: dict, directory: Path) -> None:
    """Before each point: the checkout is still the sweep's commit, and clean. Work on
    the code while a sweep runs would otherwise fail the points after it (a dirty tree),
    or run them with other code than the points before (a new commit)."""
    state = repo_state(project_root)
    commit = record["git"]["commit"]
    if state.commit == commit and not state.dirty_files:
        return
    record["status"] = "interrupted"
    record["ended"] = now()
    write_record(directory, record)
    change = (f"HEAD moved from {commit[:12]} to {state.commit[:12]}" if state.commit != commit
              else f"the tree has uncommitted changes ({state.dirty_files[0].strip()}...)")
    raise UserError(f"{change} while the sweep ran, so its next point would not run the "
                    f"sweep's code; it stopped before that point. Put the checkout back to "
                    f"{commit[:12]}, clean, and continue: python run.py --resume-sweep "
                    f"{directory}. (Work on the code in another clone while a sweep runs.)")


def summary(directory: Path, record: dict) -> str:
    counts = {}
    for point in record["points"]:
        counts[point["status"]] = counts.get(point["status"], 0) + 1
    lines = [f"sweep {record['id']} {record['status']}: "
             + ", ".join(f"{count} {status}" for status, count in counts.items())]
    for point in record["points"]:
        if point["status"] != "finished":
            lines.append(f"  point {point['point']} ({describe(point['values'])}): "
                         f"{point['status']}, run directory {point['run'] or 'none'}")
    if record["status"] == "interrupted":
        lines.append(f"continue it with: python run.py --resume-sweep {directory}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# The sweep's directory


def point_file(directory: Path, number: int) -> Path:
    return directory / "points" / f"{number}.yaml"


def point_run(directory: Path, number: int) -> str | None:
    """The run directory the point's run.py created; None if it stopped before."""
    try:
        return read_text(directory / "points" / f"{number}.run").strip()
    except FileNotFoundError:
        return None


def write_record(directory: Path, record: dict) -> None:
    write_text(directory / SWEEP_RECORD, dump(record))


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda file: file.write(text.encode()))


def read_record(directory: Path) -> dict:
    path = directory / SWEEP_RECORD
    try:
        record = parse_record(read_text(path))
    except FileNotFoundError:
        raise UserError(f"{directory} is not a sweep directory: it has no {SWEEP_RECORD}"
                        ) from None
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    if not isinstance(record, dict) or not {"id", "status", "git", "points"} <= record.keys():
        raise UserError(f"{path} is not a sweep's record (id, status, git, points)")
    return record
