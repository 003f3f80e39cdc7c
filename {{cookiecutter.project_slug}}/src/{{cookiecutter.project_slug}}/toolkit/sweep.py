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

The record a sweep keeps, in logs/sweeps/<id>/, is described in sweep_record.py; the
sweep file in sweep_file.py; how points run in sweep_run.py.
"""

import argparse
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit import search, search_study
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import config_differences
from {{ cookiecutter.project_slug }}.toolkit.config import load_config
from {{ cookiecutter.project_slug }}.toolkit.directory_lock import in_use, lock_run_directory
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.job import repo_to_record
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.repo import RepoState
from {{ cookiecutter.project_slug }}.toolkit.run_directory import (
    RunDirectory,
    cannot_write,
    new_timestamped_directory,
    now,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_file import (
    check_values,
    describe,
    point_config,
    read_sweep_file,
    sweep_points,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_record import (
    BASE_CONFIG,
    POINTS_INDEX,
    SWEEP_RECORD,
    SWEEPS_FOLDER,
    new_point,
    point_file,
    point_run,
    read_point,
    read_record,
    read_sweep,
    run_record,
    sweep_base,
    write_point,
    write_sweep,
    write_text,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_run import run_points, search_trials
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump


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
        print(
            f"# every trial of the search: this config, with the values the study "
            f"samples for {', '.join(params)}\n{dump(base)}",
            end="",
        )
        return 0
    if args.print_config:
        print(
            "\n".join(
                f"# point {number}: {describe(values)}\n"
                f"{dump(point_config(base, values, number, sweep_file, project))}---"
                for number, values in enumerate(points)
            )
        )
        return 0
    if params is None:
        check_values(sweep, base, sweep_file, project)
    directory, record, study = create_sweep(args, project, sweep, points, base, params)
    return run_points(directory, record, project, args.jobs or 1, study)


def create_sweep(
    args: argparse.Namespace,
    project: Project,
    sweep: dict,
    points: list[dict],
    base: dict,
    params: dict | None = None,
    configs: list[dict] | None = None,
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
        record["search"] = {
            **search.study_record(sweep["search"], directory, base),
            "params": params,
        }
        try:
            study = search.open_study(
                record["search"], directory, lambda: search_trials(record, project.root)
            )
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


def resume_sweep(
    directory: Path,
    project: Project,
    jobs: int,
    take_over: Callable[[Path, dict, Path], None] = lambda directory, record, root: None,
) -> int:
    """Run a sweep's pending points and resume its interrupted ones, at its commit, up to
    `jobs` at once; a point that failed for a reason that may no longer hold is retried.
    `take_over(directory, record, project root)`: what an option does first with a sweep
    that it started elsewhere (plug_in.py's take_sweep_over)."""
    read_record(directory)  # a sweep directory, before a lock file is made in it
    lock_run_directory(directory)
    record = read_record(directory)  # as its last owner left it
    if record["status"] == "finished":
        raise UserError(f"the sweep in {directory} has finished; there is nothing to resume.")
    take_over(directory, record, project.root)
    repo = repo_to_record(
        argparse.Namespace(no_logging=False, allow_dirty_repo=False), project.root
    )
    commit = record["git"]["commit"]
    if repo.commit != commit:
        raise UserError(
            f"the sweep was made at commit {commit[:12]}, but HEAD is "
            f"{repo.commit[:12]}; its points must all run the same code. "
            f"`git checkout {commit[:12]}` and resume the sweep again."
        )
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
        study = search.open_study(
            record["search"],
            directory,
            lambda: search_trials(record, project.root),
            asked=len(record["points"]),
        )
    record.update(status="running", ended=None)
    write_sweep(directory, record)
    return run_points(directory, record, project, jobs, study)


def settle(point: dict, directory: Path, project_root: Path) -> None:
    """A point whose end the sweep's process did not see (it was killed): finished (or
    pruned) if its run says so, else interrupted, to be resumed from its checkpoint.
    A run still held by its process (stopping at a checkpoint, as a point does when its
    sweep dies, or an orphan where the system cannot tell it so) is waited for first."""
    status = run_status(point, directory, project_root)
    point["status"] = status if status in ("finished", "pruned") else "interrupted"


def retried(point: dict, directory: Path, project_root: Path) -> str | None:
    """A failed point of a grid, looked at again by --resume-sweep: set to run again
    (or to what its run says it is) unless its failure would repeat; what was done."""
    if point.get("error"):
        return None  # the schema rejected its values: it would again
    status = run_status(point, directory, project_root)
    if point["run"] is None:
        point.update(status="pending", exit_code=None)  # refused before its run began
        return "is retried: it was refused before its run began (see the sweep's output)"
    if status == "failed":
        return None  # its training failed: the same code and config would fail again
    if status in ("finished", "pruned"):
        point["status"] = status
        return f"its run {point['run']} has {status} since: recorded so"
    point["status"] = "interrupted"
    return f"is resumed: its run {point['run']} stopped before its end, not failing"


def run_status(point: dict, directory: Path, project_root: Path) -> str | None:
    """What the point's own run records of how it went, once no process holds the run;
    None if it has no run (it stopped before its run directory was made). The point
    takes note of its run directory."""
    point["run"] = point["run"] or point_run(directory, point["point"])
    if point["run"] is None:
        return None
    wait_for_run(project_root / point["run"], point["point"])
    return run_record(project_root, point["run"]).get("status")


def wait_for_run(run: Path, number: int) -> None:
    """Wait while another process holds the point's run directory: that process is
    training it, and the run's own record says how it ended once it lets go."""
    if not in_use(run):
        return
    print(
        f"sweep point {number}: its run {run} is still held by its process (a point "
        "stops at a checkpoint when its sweep dies); waiting for it to end",
        flush=True,
    )
    try:
        while in_use(run):
            time.sleep(0.5)
    except KeyboardInterrupt:
        raise UserError(
            "stopped waiting; the sweep is as it was. Resume it again once "
            f"{run} is no longer in use."
        ) from None


def point_check(directory: str, number: str, project: Project) -> Callable[[dict, RepoState], None]:
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
                f"{sweep_directory}"
            )
        point = read_point(sweep_directory, point_number)
        expected = point_config(
            sweep_base(sweep_directory, record),
            point["values"],
            point_number,
            Path(record["sweep_file"]),
            project,
        )
        differences = config_differences(expected, config, names=("the sweep's record", "the file"))
        if differences:
            listed = "\n  ".join(differences)
            raise UserError(
                f"{point_file(sweep_directory, point_number)} is not the config sweep "
                f"{record['id']} recorded for point {point_number}:\n  {listed}\nA point "
                "runs its sweep's values; to run others, start another sweep."
            )

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
            "number": point["trial"],
            "study_name": study["study_name"],
            "storage": study["storage"],
            "pruner": study["pruner"],
            "search": search_study.search_attrs(study),
        }  # its study's attrs, as TrialPruning checks
    run.write_metadata()
    write_text(directory / "points" / f"{number}.run", str(run.path.relative_to(project_root)))
