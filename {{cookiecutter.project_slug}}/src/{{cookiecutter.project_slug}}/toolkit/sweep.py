"""Sweeps: many logged runs from one config, with a sweep file saying what varies.

    python run.py sample_runconfig.yaml --sweep sample_sweep.yaml

A sweep file holds a `grid` (dotted key: [values], every combination of them), a list
of `variants` (each a few dotted keys with their values) and `seeds`. A point of the
sweep is one combination of the grid with one variant and one seed, in that order of
nesting; every point's config (the config, its edit flags, then the point's values) is
checked before the first run starts, so that a typo stops the sweep with nothing
logged: every value of the grid, each variant and each seed is set on the config and
validated, and each point's whole config again as the point starts (a combination the
schema rejects fails that point alone). Each point then runs as a child `run.py`:
exactly a single logged run, resumable and re-runnable like any, whose metadata.yaml
names its sweep and point. It runs the sweep's commit and the config the sweep recorded
for it, or it is refused before it trains.
With --jobs N, up to N points run at once, each with its share of the CPU threads and
GPUs (job_slots) and its output in a file of its own.
A sweep file may hold a `search` instead: Optuna's trials, each a point (search.py).

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

import argparse
import copy
import hashlib
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from voluptuous import All, Length, MultipleInvalid, Optional, Schema

from {{ cookiecutter.project_slug }}.toolkit import search
from {{ cookiecutter.project_slug }}.toolkit.config import key_path, load_config, set_key, validate
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.job import repo_to_record
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.repo import RepoState, repo_state
from {{ cookiecutter.project_slug }}.toolkit.run_directory import (
    METADATA_FILE,
    RunDirectory,
    cannot_write,
    config_differences,
    in_use,
    lock_run_directory,
    new_timestamped_directory,
    now,
)
{% if cookiecutter.slurm %}
from {{ cookiecutter.project_slug }}.toolkit.slurm_queue import job_has_ended
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    SIGNALS,
    ForwardedSignals,
    signal_exit_code,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_picture import draw_picture
from {{ cookiecutter.project_slug }}.toolkit.worktree import shell_exit_code, start_at_commit
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    atomic_write,
    dump,
    located,
    parse_config,
    parse_record,
    read_text,
    shown,
)

SWEEPS_FOLDER = "sweeps"  # logs/sweeps/: the sweeps' records, beside the runs' folders
SWEEP_RECORD = "sweep.yaml"
BASE_CONFIG = "base_config.yaml"  # the config on which each point sets its values
POINTS_INDEX = "points.json"  # a grid's points, values only: their states have files
SWEEP_KEYS = ("description", "grid", "variants", "seeds", "search")
NON_EMPTY = Length(min=1, msg="expected at least one entry")
SWEEP_FILE = Schema({
    Optional("description"): str,
    Optional("grid"): All({str: All(list, NON_EMPTY)}, NON_EMPTY),
    Optional("variants"): All([All({str: object}, NON_EMPTY)], NON_EMPTY),
    Optional("seeds"): All([int], NON_EMPTY),
    Optional("search"): search.SEARCH,  # Optuna's trials (search.py)
})
# The exit codes of a point's run.py that stopped at a checkpoint on a signal.
STOPPED_CODES = {signal_exit_code(number.name) for number in SIGNALS}
UNFINISHED = ("pending", "running", "interrupted")  # what --resume-sweep runs again
ENDED = ("finished", "pruned", "failed")  # a point's run that will not run again
SUMMARY_POINTS = 20  # the unfinished points a sweep's last message names
PROGRESS_EVERY = 2.0  # seconds between two lines of a long check's progress


def start_sweep(args: argparse.Namespace, project: Project) -> int:
    """Check the sweep file's points, record the sweep, then run its points; returns
    run.py's exit code (nonzero when a point failed or a signal stopped it). With
    --print-config, print every point's config instead, and run nothing."""
    sweep_file = Path(args.sweep)
    sweep = read_sweep_file(sweep_file)
    base = load_config(args.config, project, args.find_replace, args.delete, args.modify)
    params = None
    if "search" in sweep:
        search.require_optuna(sweep_file)
        params = search.checked_params(sweep["search"]["params"], base, sweep_file, project)
        points = []  # the study gives the trials' values as they start
    else:
        points = sweep_points(sweep, sweep_file, project)
    if args.print_config and params is not None:
        print(f"# every trial of the search: this config, with the values the study "
              f"samples for {', '.join(params)}\n{dump(base)}", end="")
        return 0
    if args.print_config:
        print("\n".join(f"# point {number}: {describe(values)}\n"
                        f"{dump(point_config(base, values, number, sweep_file, project))}---"
                        for number, values in enumerate(points)))
        return 0
    if params is None:
        check_values(sweep, base, sweep_file, project)
    directory, record, study = create_sweep(args, project, sweep, points, base, params)
    return run_points(directory, record, project, args.jobs or 1, study)


def check_values(sweep: dict, base: dict, sweep_file: Path, project: Project) -> None:
    """Each value of the grid, each variant and each seed set alone on the config and
    validated, so that a typo or a wrong type stops the sweep before anything is logged,
    however many points it has. A combination of values is validated as its point starts."""
    started = shown = time.monotonic()
    alone = [{key: value} for key, values in sweep.get("grid", {}).items() for value in values]
    alone += sweep.get("variants", []) + [{"seed": seed} for seed in sweep.get("seeds", [])]
    for checked, values in enumerate(alone, start=1):
        point_config(base, values, None, sweep_file, project)
        if time.monotonic() - shown > PROGRESS_EVERY:  # tens of thousands take seconds
            shown = time.monotonic()
            print(f"checking the sweep's values on the config: {checked} of {len(alone)}",
                  flush=True)
    print(f"checked the sweep's {len(alone)} value{'s' if len(alone) != 1 else ''} on the "
          f"config in {time.monotonic() - started:.1f} s; each point's whole config is "
          "checked as it starts", flush=True)


def create_sweep(args: argparse.Namespace, project: Project, sweep: dict, points: list[dict],
                 base: dict, params: dict | None = None, configs: list[dict] | None = None
                 ) -> tuple[Path, dict, object]:
    """Record a checked sweep: its directory (locked by this process), sweep.yaml, the
    base config and the points' values (every point pending), and the points' `configs`
    where they are given (a job array's, submitted at once); and for a search (the
    `params` it samples), its study, opened."""
    repo = repo_to_record(args, project.root)  # once: every point runs this commit
    # Created last, so that a mistake found above leaves nothing in logs/.
    directory = new_timestamped_directory(project.logs / SWEEPS_FOLDER)
    lock_run_directory(directory)  # this process alone writes the sweep's record
    base_text = dump(base)
    record = {
        "id": directory.name,
        "description": sweep.get("description", ""),
        "status": "running",
        "started": now(),
        "ended": None,
        "sweep_file": str(Path(args.sweep)),
        "sweep": sweep,  # as given
        "config": str(args.config),
        "edits": {flag: getattr(args, flag) for flag in ("find_replace", "delete", "modify")},
        "flags": {"cpu": args.cpu, "mini": args.mini},  # given to every point's run.py
        "git": repo.as_record(),
        # What each point's config is built on: a base_config.yaml edited since is refused.
        "base_config_sha256": hashlib.sha256(base_text.encode()).hexdigest(),
    }
    # With "threads" and "gpus" (as given to the point's run.py) once it starts.
    record["points"] = [new_point(number, values) for number, values in enumerate(points)]
    study = None
    if params is not None:
        record["search"] = {**search.study_record(sweep["search"], directory, base),
                            "params": params}
        try:
            study = search.open_study(record["search"], directory,
                                      lambda: search_trials(record, project.root))
        except UserError:
            # A storage that cannot be reached, or another search's study: nothing logged.
            shutil.rmtree(directory)
            raise
    try:
        (directory / "points").mkdir()
        write_text(directory / BASE_CONFIG, base_text)
        if params is None:
            write_text(directory / POINTS_INDEX, json.dumps(points))
        for number, config in enumerate(configs or []):
            write_text(point_file(directory, number), dump(config))
        write_sweep(directory, record)  # last: a directory without it is no sweep's
    except OSError as error:
        raise UserError(cannot_write(error, directory)) from None
    return directory, record, study


def new_point(number: int, values: dict) -> dict:
    return {"point": number, "values": values, "status": "pending", "run": None,
            "exit_code": None}


def resume_sweep(directory: Path, project: Project, jobs: int) -> int:
    """Run a sweep's pending points and resume its interrupted ones, at its commit, up to
    `jobs` at once; a point that failed for a reason that may no longer hold is retried."""
    read_record(directory)  # a sweep directory, before a lock file is made in it
    lock_run_directory(directory)
    record = read_record(directory)  # as its last owner left it
    if record["status"] == "finished":
        raise UserError(f"the sweep in {directory} has finished; there is nothing to resume.")
{% if cookiecutter.slurm %}
    if record["status"] == "submitted":
        take_sweep_from_slurm(directory, record, project.root)
{% endif %}
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
        elif point["status"] == "failed" and "search" not in record:
            retry = retried(point, directory, project.root)
            if retry:
                print(f"sweep point {point['point']} failed before, and {retry}", flush=True)
        else:
            continue
        write_point(directory, point)
    study = None
    if "search" in record:
        search.require_optuna(directory / SWEEP_RECORD)
        study = search.open_study(record["search"], directory,
                                  lambda: search_trials(record, project.root),
                                  asked=len(record["points"]))
    record.update(status="running", ended=None)
    write_sweep(directory, record)
    return run_points(directory, record, project, jobs, study)


{% if cookiecutter.slurm %}
def take_sweep_from_slurm(directory: Path, record: dict, project_root: Path) -> None:
    """A sweep submitted as a job array (slurm_sweep.py), to be resumed here: refused
    while any task of the array is in SLURM's queue; after that, each point is as its
    run ended, and a point whose task ended without ending its run (cancelled in the
    queue, killed while training) is interrupted, to be resumed here."""
    array_id = record["slurm"]["array_job_id"]
    if not job_has_ended(array_id):
        raise UserError(
            f"the sweep in {directory} was submitted as SLURM job array {array_id}, and "
            f"its points are SLURM's to run (and to requeue after preemption) while a task "
            f"of it is in the queue, or while SLURM cannot say (squeue must answer here). "
            f"Watch them: python run.py --list --sweep {record['id']}; once no task is "
            f"left (`scancel {array_id}` stops them all), --resume-sweep runs the "
            "unfinished points here.")
    for point in record["points"]:
        if point["status"] == "queued":  # as submitted: its run says how it went
            status = run_record(project_root, point["run"]).get("status")
            point["status"] = status if status in ENDED else "interrupted"
            write_point(directory, point)
    record["status"] = "interrupted"  # and resumed here, as a sweep stopped here is
    record["slurm"]["resumed_here"] = now()
    write_sweep(directory, record)


{% endif %}
def settle(point: dict, directory: Path, project_root: Path) -> None:
    """A point whose end the sweep's process did not see (it was killed): finished (or
    pruned) if its run says so, else interrupted, to be resumed from its checkpoint.
    A run still held by its process (stopping at a checkpoint, as a point does when its
    sweep dies, or an orphan where the system cannot tell it so) is waited for first."""
    point["run"] = point["run"] or point_run(directory, point["point"])
    if point["run"]:
        wait_for_run(project_root / point["run"], point["point"])
    status = run_record(project_root, point["run"]).get("status")
    point["status"] = status if status in ("finished", "pruned") else "interrupted"


def retried(point: dict, directory: Path, project_root: Path) -> str | None:
    """A failed point of a grid, looked at again by --resume-sweep: set to run again
    (or to what its run says it is) unless its failure would repeat; what was done."""
    if point.get("error"):
        return None  # the schema rejected its values: it would again
    point["run"] = point["run"] or point_run(directory, point["point"])
    if point["run"] is None:
        point.update(status="pending", exit_code=None)  # refused before its run began
        return "is retried: it was refused before its run began (see the sweep's output)"
    wait_for_run(project_root / point["run"], point["point"])
    status = run_record(project_root, point["run"]).get("status")
    if status == "failed":
        return None  # its training failed: the same code and config would fail again
    if status in ("finished", "pruned"):
        point["status"] = status
        return f"its run {point['run']} has {status} since: recorded so"
    point["status"] = "interrupted"
    return f"is resumed: its run {point['run']} stopped before its end, not failing"


def wait_for_run(run: Path, number: int) -> None:
    """Wait while another process holds the point's run directory: that process is
    training it, and the run's own record says how it ended once it lets go."""
    if not in_use(run):
        return
    print(f"sweep point {number}: its run {run} is still held by its process (a point "
          "stops at a checkpoint when its sweep dies); waiting for it to end", flush=True)
    try:
        while in_use(run):
            time.sleep(0.5)
    except KeyboardInterrupt:
        raise UserError("stopped waiting; the sweep is as it was. Resume it again once "
                        f"{run} is no longer in use.") from None


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


def point_check(directory: str, number: str, project: Project
                ) -> Callable[[dict, RepoState], None]:
    """In a point's own run.py (--sweep-point), called before its run directory is made:
    refuses a point whose commit or config is not the one its sweep recorded."""
    def check(config: dict, repo: RepoState) -> None:
        sweep_directory, point_number = Path(directory), int(number)
        record = read_sweep(sweep_directory)
        commit = record["git"]["commit"]
        if repo.commit != commit:
            raise UserError(
                f"point {point_number} of sweep {record['id']} must run the sweep's commit "
                f"{commit[:12]}, but HEAD is now {repo.commit[:12]}: refused before "
                "training, and the sweep starts no further point. Put the checkout back "
                f"(git checkout {commit[:12]}) and continue: python run.py --resume-sweep "
                f"{sweep_directory}")
        point = read_point(sweep_directory, point_number)
        expected = point_config(sweep_base(sweep_directory, record), point["values"],
                                point_number, Path(record["sweep_file"]), project)
        differences = config_differences(expected, config, names=("the sweep's record",
                                                                  "the file"))
        if differences:
            listed = "\n  ".join(differences)
            raise UserError(
                f"{point_file(sweep_directory, point_number)} is not the config sweep "
                f"{record['id']} recorded for point {point_number}:\n  {listed}\nA point "
                "runs its sweep's values; to run others, start another sweep.")
    return check


def join_sweep(run: RunDirectory, directory: str, number: str, project_root: Path) -> None:
    """In a point's own run.py (--sweep-point): name the sweep and point in the run's
    metadata.yaml, and tell the sweep which run directory is the point's."""
    directory, number = Path(directory), int(number)
    record = read_sweep(directory)
    point = read_point(directory, number)
    run.metadata["sweep"] = {"id": record["id"], "point": number, "values": point["values"]}
    if "search" in record:  # where the run reports to its trial, which may prune it
        study = record["search"]
        run.metadata["sweep"]["trial"] = {
            "number": point["trial"], "study_name": study["study_name"],
            "storage": study["storage"], "pruner": study["pruner"],
            "search": search.search_attrs(study)}  # its study's attrs, as TrialPruning checks
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
    if not ({"grid", "variants", "seeds", "search"} & sweep.keys()):
        raise UserError(f"{path} holds no points: give a grid, variants, seeds or a search")
    combined = [key for key in ("grid", "variants", "seeds") if key in sweep]
    if "search" in sweep and combined:
        raise UserError(f"{path}: a search samples its own points; leave out {combined[0]} "
                        "(each trial runs the config's seed unless the search varies seed)")
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


def point_config(base: dict, values: dict, number: int | None, sweep_file: Path,
                 project: Project) -> dict:
    """The base config with the point's values set, validated as a single run's is.
    Its description names the values (unless a point sets one itself): the base config's
    alone would say the same of every point, and be wrong where a value changes it."""
    config = copy.deepcopy(base)
    for dotted, value in values.items():
        set_key(config, dotted, value, f"{sweep_file}:", project.schema)
    if values and "description" not in values:
        config["description"] = f"{config.get('description', '')} [{describe(values)}]".lstrip()
    point = f"point {number} " if number is not None else ""
    return validate(config, f"{sweep_file}, {point}({describe(values)})", project)


def describe(values: dict) -> str:
    return ", ".join(f"{key}={shown(value)}" for key, value in values.items()) or "the config"


# --------------------------------------------------------------------------------------
# Running the points


def run_points(directory: Path, record: dict, project: Project, jobs: int,
               study=None) -> int:
    """Run the unfinished points, up to `jobs` at once, each a child run.py; for a search
    (`study`, an Optuna study), ask it for new trials until `trials` have been asked. A
    stop signal goes to every running point, and no further point starts. The record
    says `running` only while this runs: an error ends it `interrupted`, to be resumed."""
    try:
        return run_points_until_done(directory, record, project, jobs, study)
    except BaseException:
        if record["status"] == "running":
            record.update(status="interrupted", ended=now())
            write_sweep(directory, record)
        raise


def run_points_until_done(directory: Path, record: dict, project: Project, jobs: int,
                          study=None) -> int:
    signals = ForwardedSignals().install()
    points = record["points"]
    print(f"sweep {record['id']}: " + (
        f"a search of {record['search']['trials']} trials (its study: "
        f"{record['search']['storage']})" if study is not None
        else f"{len(points)} point{'s' if len(points) != 1 else ''}")
        + (f", up to {jobs} at once" if jobs > 1 else "")
        + f", recorded in {directory}", flush=True)
    base = sweep_base(directory, record)
    if study is not None:
        for point in points:
            if point["status"] in ENDED:  # again, after a resume: telling twice is harmless
                tell(study, point, record, directory, project.root)
    waiting = [point for point in points if point["status"] in UNFINISHED]
    free_slots = job_slots(jobs, record["flags"]["cpu"])
    running: dict[int, tuple[dict, Slot]] = {}  # by the child's pid: its point and slot
    ended: queue.SimpleQueue = queue.SimpleQueue()  # the children that have ended
    # Why no further point starts: the checkout changed while the sweep ran, or its study
    # was lost for good (neither rebuilt nor restored) or became another search's.
    change = None
    while True:
        while free_slots and not (signals.received or change):
            # A search asks its next trial when a slot is free; every trial asked ends
            # (or is interrupted, and resumed later), so `trials` asked are enough.
            if not waiting and study is not None and len(points) < record["search"]["trials"]:
                try:
                    waiting.append(ask_trial(study, directory, record))
                except UserError as error:  # its study lost for good, or another search's
                    change = str(error)
                    break
            if not waiting:
                break
            change = code_changed(project.root, record, directory)
            if change:
                break
            point = waiting.pop(0)
            if not config_written(point, base, directory, record, project):
                if study is not None:  # a trial whose values the schema rejects
                    try:
                        tell(study, point, record, directory, project.root)
                    except UserError as error:
                        change = str(error)
                continue
            slot = free_slots.pop(0)
            child = start_point(directory, record, point, slot, project.root, signals)
            running[child.pid] = (point, slot)
            wait_in_background(child, ended)
        if not running:
            break
        child = ended.get()
        point, slot = running.pop(child.pid)
        end_point(directory, point, child, signals, project.root)
        if study is not None and point["status"] in ENDED:
            try:
                tell(study, point, record, directory, project.root)
            except UserError as error:  # the point's status is recorded: a resume tells it
                change = str(error)
        free_slots.insert(0, slot)
    if change:
        record["status"] = "interrupted"
        record["ended"] = now()
        write_sweep(directory, record)
        raise UserError(change)
    failed = [point["point"] for point in points if point["status"] == "failed"]
    record["status"] = ("interrupted" if signals.received else
                        "failed" if failed else "finished")
    record["ended"] = now()
    record["picture"] = draw_picture(directory, record, project.root)  # or why not
    write_sweep(directory, record)
    print(summary(directory, record), flush=True)
    if signals.received:
        return signal_exit_code(signals.received)
    return 1 if failed else 0


def ask_trial(study, directory: Path, record: dict) -> dict:
    """A new point of a search: the study's next trial, with the values it samples."""
    number, values = search.ask(study, record["search"]["params"])
    point = {**new_point(len(record["points"]), values), "trial": number}
    record["points"].append(point)
    write_point(directory, point)
    return point


def config_written(point: dict, base: dict, directory: Path, record: dict,
                   project: Project) -> bool:
    """Before a point starts afresh: its config (the base config with its values),
    validated and written for its run.py to read. False, with the point failed, where
    the schema rejects that combination of values."""
    if point["status"] == "interrupted" and point["run"]:
        return True  # resumed from its run, which holds its config
    try:
        config = point_config(base, point["values"], point["point"],
                              Path(record["sweep_file"]), project)
    except UserError as error:
        point.update(status="failed", error=str(error))
        write_point(directory, point)
        print(f"sweep point {point['point']} failed: its values are not a valid config: "
              f"{error}", file=sys.stderr, flush=True)
        return False
    write_text(point_file(directory, point["point"]), dump(config))
    return True


def tell(study, point: dict, record: dict, directory: Path, project_root: Path) -> None:
    """Tell the study how the point's trial ended, and record the study's best trial."""
    best = run_record(project_root, point["run"]).get("best") or {}
    search.tell(study, point["trial"], point["status"], best.get("value"))
    record["search"]["best"] = search.best_trial(study)
    write_sweep(directory, record)


def search_trials(record: dict, project_root: Path) -> list[dict]:
    """The search's trials as its points record them, from which search.py rebuilds a
    lost study: each one's number, values, status and (finished) its run's best value."""
    return [{"number": point["trial"], "values": point["values"], "status": point["status"],
             "value": (run_record(project_root, point["run"]).get("best") or {}).get("value")}
            for point in record["points"]]


def start_point(directory: Path, record: dict, point: dict, slot: "Slot",
                project_root: Path, signals: ForwardedSignals) -> subprocess.Popen:
    """Record the point running and start its run.py at the sweep's commit, in `slot`;
    `end_point` settles it when it ends. A point interrupted before resumes in its own
    run directory with the CPU threads it had (threads change floating-point results)."""
    number = point["point"]
    if point["status"] == "interrupted" and point["run"]:
        arguments = ["--resume", point["run"]]
        threads = (point["threads"] if "threads" in point
                   else point_threads(directory, number, slot))
    else:
        flags = [f"--{flag}" for flag, given in record["flags"].items() if given]
        arguments = [str(point_file(directory, number)), *flags,
                     "--sweep-point", str(directory), str(number)]
        threads = point_threads(directory, number, slot)
    variables = {"OMP_NUM_THREADS": str(threads)} if threads is not None else {}
    if slot.gpus is not None:
        variables["CUDA_VISIBLE_DEVICES"] = slot.gpus
    point.update(status="running", threads=threads, gpus=slot.gpus)
    write_point(directory, point)
    total = record["search"]["trials"] if "search" in record else len(record["points"])
    described = (f"sweep point {number} ({number + 1} of {total}): "
                 f"{describe(point['values'])}")
    if not slot.own_log:
        print(described, flush=True)  # flushed now: the point's run.py writes after it
        return start_at_commit(project_root, arguments, signals, variables)
    log = point_log(directory, number)
    given = (f"{threads} CPU thread{'s' if threads != 1 else ''}" if threads is not None
             else "a plain run's CPU threads") + (f", GPU {slot.gpus}" if slot.gpus else "")
    print(f"{described}; {given}; its output goes to {log}", flush=True)
    with open(log, "ab") as output:  # appended to: a resumed point adds to its log
        return start_at_commit(project_root, arguments, signals, variables, output)


def end_point(directory: Path, point: dict, child: subprocess.Popen,
              signals: ForwardedSignals, project_root: Path) -> None:
    """Settle in the sweep's record a point whose run.py (`child`) has ended: finished,
    pruned (a search's trial), interrupted or failed."""
    signals.forget(child.pid)
    number = point["point"]
    exit_code = shell_exit_code(child.returncode)
    point["run"] = point["run"] or point_run(directory, number)
    point["exit_code"] = exit_code
    point["status"] = ("finished" if exit_code == 0 else
                       "interrupted" if exit_code in STOPPED_CODES else "failed")
    if exit_code == 0 and run_record(project_root, point["run"]).get("status") == "pruned":
        point["status"] = "pruned"  # its trial's pruner stopped it early
    write_point(directory, point)
    print(f"sweep point {number} {point['status']} (exit code {exit_code}), run directory "
          f"{point['run'] or 'none'}", flush=True)
    log = point_log(directory, number)
    if point["status"] == "failed" and log.exists():
        print(f"the end of point {number}'s output ({log}):\n{log_tail(log)}",
              file=sys.stderr, flush=True)


def wait_in_background(child: subprocess.Popen, ended: queue.SimpleQueue) -> None:
    """Wait for `child` in a thread of its own, which puts it on `ended` when it ends: the
    sweep's main thread settles whichever point ends first, and forwards signals while
    it waits."""
    def wait() -> None:
        child.wait()
        ended.put(child)

    threading.Thread(target=wait, daemon=True).start()


def code_changed(project_root: Path, record: dict, directory: Path) -> str | None:
    """Before each point: the checkout is still the sweep's commit, and clean (None), or
    what changed. Work on the code while a sweep runs would otherwise fail the points
    after it (a dirty tree), or run them with other code than the points before (a new
    commit)."""
    state = repo_state(project_root)
    commit = record["git"]["commit"]
    if state.commit == commit and not state.dirty_files:
        return None
    change = (f"HEAD moved from {commit[:12]} to {state.commit[:12]}" if state.commit != commit
              else f"the tree has uncommitted changes ({state.dirty_files[0].strip()}...)")
    return (f"{change} while the sweep ran, so its next point would not run the sweep's "
            f"code; no further point started (those running went on to their end). "
            f"Put the checkout back to {commit[:12]}, clean, and continue: python run.py "
            f"--resume-sweep {directory}. (Work on the code in another clone while a sweep "
            "runs.)")


@dataclass(frozen=True)
class Slot:
    """One of the --jobs places a point runs in, and its share of the machine."""

    threads: int | None  # CPU threads of a point here; None: a plain run's (--jobs 1)
    gpus: str | None  # CUDA_VISIBLE_DEVICES of a point here; None: every GPU, as a plain run
    own_log: bool  # its output into points/<N>.log, not mixed with other points' output


def job_slots(jobs: int, cpu: bool) -> list[Slot]:
    """With --jobs 1 a point runs as `python run.py` would. With N > 1, each slot gets
    1/N of the CPU threads a run uses here (torch's default, the physical cores, or
    OMP_NUM_THREADS) and of the GPUs, so that N points do not fight over them."""
    if jobs == 1:
        return [Slot(threads=None, gpus=None, own_log=False)]
    threads = max(1, torch.get_num_threads() // jobs)
    gpus = [None] * jobs if cpu else gpu_shares(jobs)
    return [Slot(threads=threads, gpus=share, own_log=True) for share in gpus]


def gpu_shares(jobs: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each of `jobs` slots: the GPUs dealt out in equal blocks
    (the remainder unused), or with fewer GPUs than jobs, one each, slots sharing them.
    Counting the GPUs does not initialise CUDA in this process."""
    count = torch.cuda.device_count()
    if count == 0:
        return [None] * jobs
    # The ids as this process sees them: those CUDA_VISIBLE_DEVICES lists, if it is set.
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = visible.split(",")[:count] if visible else [str(index) for index in range(count)]
    if count < jobs:
        return [ids[slot % count] for slot in range(jobs)]
    share = count // jobs
    return [",".join(ids[slot * share:(slot + 1) * share]) for slot in range(jobs)]


def point_threads(directory: Path, number: int, slot: Slot) -> int | None:
{% if cookiecutter.multi_gpu %}
    """OMP_NUM_THREADS for the point's processes: its slot's threads, split between the
    processes its config spawns (multigpu_parameters.ngpus_per_node)."""
    if slot.threads is None:
        return None  # a plain run's: launch.py gives spawned processes one each
    config = parse_config(read_text(point_file(directory, number)))
    processes = (config.get("multigpu_parameters") or {}).get("ngpus_per_node", 1)
    return max(1, slot.threads // processes)
{% else %}
    """OMP_NUM_THREADS for the point's run.py: its slot's threads (None: unset)."""
    return slot.threads
{% endif %}


def log_tail(path: Path, lines: int = 10) -> str:
    """The last lines of a point's output, as a terminal would show them: a progress
    bar's redrawn states (carriage returns) collapsed into the last."""
    text = path.read_bytes()[-20_000:].decode(errors="replace")
    shown_lines = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(f"  | {line}" for line in shown_lines if line.strip())


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
    lines = [f"sweep {record['id']} {record['status']}: "
             + ", ".join(f"{count} {status}" for status, count in counts.items())]
    unfinished = [point for point in record["points"] if point["status"] != "finished"]
    for point in unfinished[:SUMMARY_POINTS]:
        lines.append(f"  point {point['point']} ({describe(point['values'])}): "
                     f"{point['status']}, run directory {point['run'] or 'none'}")
    if len(unfinished) > SUMMARY_POINTS:
        lines.append(f"  ... and {len(unfinished) - SUMMARY_POINTS} more: python run.py "
                     f"--list --sweep {record['id']}")
    if record["status"] == "interrupted":
        lines.append(f"continue it with: python run.py --resume-sweep {directory}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# The sweep's directory


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
    write_text(directory / SWEEP_RECORD,
               dump({key: value for key, value in record.items() if key != "points"}))


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
        raise UserError(f"the record of the sweep in {directory} is damaged: "
                        f"{point_state_file(directory, missing[0])} is missing")
    record["points"] = [states.get(number) or new_point(number, index[number])
                        for number in range(count)]
    return record


def read_sweep(directory: Path) -> dict:
    """sweep.yaml alone: what the sweep is, and its status."""
    path = directory / SWEEP_RECORD
    try:
        record = parse_record(read_text(path))
    except FileNotFoundError:
        raise UserError(f"{directory} is not a sweep directory: it has no {SWEEP_RECORD}"
                        ) from None
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
        raise UserError(f"{path} has changed since sweep {record['id']} recorded it, so "
                        "its points would not run the config it was started with. Put it "
                        "back as it was, or start a new sweep.")
    return parse_config(text)
