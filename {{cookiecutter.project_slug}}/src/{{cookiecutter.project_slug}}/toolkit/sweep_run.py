"""Running a sweep's points: each a child run.py at the sweep's commit, up to --jobs
at once, each with its share of the CPU threads and GPUs (job slots) and, side by side,
its output in a file of its own; for a search, the study's trials as slots free up.
"""

import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from {{ cookiecutter.project_slug }}.toolkit import search
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.repo import repo_state
from {{ cookiecutter.project_slug }}.toolkit.run_directory import now
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    SIGNALS,
    ForwardedSignals,
    signal_exit_code,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_file import describe, point_config
from {{ cookiecutter.project_slug }}.toolkit.sweep_picture import draw_picture
from {{ cookiecutter.project_slug }}.toolkit.sweep_record import (
    new_point,
    point_file,
    point_log,
    point_run,
    run_record,
    summary,
    sweep_base,
    write_point,
    write_sweep,
    write_text,
)
from {{ cookiecutter.project_slug }}.toolkit.worktree import shell_exit_code, start_at_commit
{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump, parse_config, read_text
{% else %}
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump
{% endif %}

# The exit codes of a point's run.py that stopped at a checkpoint on a signal.
STOPPED_CODES = {signal_exit_code(number.name) for number in SIGNALS}
UNFINISHED = ("pending", "running", "interrupted")  # what --resume-sweep runs again
ENDED = ("finished", "pruned", "failed")  # a point's run that will not run again


def run_points(directory: Path, record: dict, project: Project, jobs: int, study=None) -> int:
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


def run_points_until_done(
    directory: Path, record: dict, project: Project, jobs: int, study=None
) -> int:
    signals = ForwardedSignals().install()
    points = record["points"]
    announce(directory, record, jobs, searching=study is not None)
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
    return end_sweep(directory, record, project, signals.received, change)


def announce(directory: Path, record: dict, jobs: int, searching: bool) -> None:
    points = len(record["points"])
    print(
        f"sweep {record['id']}: "
        + (
            f"a search of {record['search']['trials']} trials (its study: "
            f"{record['search']['storage']})"
            if searching
            else f"{points} point{'s' if points != 1 else ''}"
        )
        + (f", up to {jobs} at once" if jobs > 1 else "")
        + f", recorded in {directory}",
        flush=True,
    )


def end_sweep(
    directory: Path, record: dict, project: Project, stopped_by: str | None, change: str | None
) -> int:
    """Record how the sweep ended, once no point runs: interrupted by a stop signal
    (`stopped_by`) or a `change` that let no further point start, failed if a point
    failed, else finished; run.py's exit code."""
    if change:
        record["status"] = "interrupted"
        record["ended"] = now()
        write_sweep(directory, record)
        raise UserError(change)
    points = record["points"]
    failed = [point["point"] for point in points if point["status"] == "failed"]
    record["status"] = "interrupted" if stopped_by else "failed" if failed else "finished"
    record["ended"] = now()
    record["picture"] = draw_picture(directory, record, project.root)  # or why not
    write_sweep(directory, record)
    print(summary(directory, record), flush=True)
    if stopped_by:
        return signal_exit_code(stopped_by)
    return 1 if failed else 0


def ask_trial(study, directory: Path, record: dict) -> dict:
    """A new point of a search: the study's next trial, with the values it samples."""
    number, values = search.ask(study, record["search"]["params"])
    point = {**new_point(len(record["points"]), values), "trial": number}
    record["points"].append(point)
    write_point(directory, point)
    return point


def config_written(
    point: dict, base: dict, directory: Path, record: dict, project: Project
) -> bool:
    """Before a point starts afresh: its config (the base config with its values),
    validated and written for its run.py to read. False, with the point failed, where
    the schema rejects that combination of values."""
    if point["status"] == "interrupted" and point["run"]:
        return True  # resumed from its run, which holds its config
    try:
        config = point_config(
            base, point["values"], point["point"], Path(record["sweep_file"]), project
        )
    except UserError as error:
        point.update(status="failed", error=str(error))
        write_point(directory, point)
        print(
            f"sweep point {point['point']} failed: its values are not a valid config: {error}",
            file=sys.stderr,
            flush=True,
        )
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
    """The search's trials as its points record them, from which search_study.py rebuilds a
    lost study: each one's number, values, status and (finished) its run's best value."""
    return [
        {
            "number": point["trial"],
            "values": point["values"],
            "status": point["status"],
            "value": (run_record(project_root, point["run"]).get("best") or {}).get("value"),
        }
        for point in record["points"]
    ]


def start_point(
    directory: Path,
    record: dict,
    point: dict,
    slot: "Slot",
    project_root: Path,
    signals: ForwardedSignals,
) -> subprocess.Popen:
    """Record the point running and start its run.py at the sweep's commit, in `slot`;
    `end_point` settles it when it ends. A point interrupted before resumes in its own
    run directory with the CPU threads it had (threads change floating-point results)."""
    number = point["point"]
    if point["status"] == "interrupted" and point["run"]:
        arguments = ["--resume", point["run"]]
        threads = point["threads"] if "threads" in point else point_threads(directory, number, slot)
    else:
        flags = [f"--{flag}" for flag, given in record["flags"].items() if given]
        arguments = [
            str(point_file(directory, number)),
            *flags,
            "--sweep-point",
            str(directory),
            str(number),
        ]
        threads = point_threads(directory, number, slot)
    variables = {"OMP_NUM_THREADS": str(threads)} if threads is not None else {}
    if slot.gpus is not None:
        variables["CUDA_VISIBLE_DEVICES"] = slot.gpus
    point.update(status="running", threads=threads, gpus=slot.gpus)
    write_point(directory, point)
    total = record["search"]["trials"] if "search" in record else len(record["points"])
    described = f"sweep point {number} ({number + 1} of {total}): {describe(point['values'])}"
    if not slot.own_log:
        print(described, flush=True)  # flushed now: the point's run.py writes after it
        return start_at_commit(project_root, arguments, signals, variables)
    log = point_log(directory, number)
    given = (
        f"{threads} CPU thread{'s' if threads != 1 else ''}"
        if threads is not None
        else "a plain run's CPU threads"
    ) + (f", GPU {slot.gpus}" if slot.gpus else "")
    print(f"{described}; {given}; its output goes to {log}", flush=True)
    with open(log, "ab") as output:  # appended to: a resumed point adds to its log
        return start_at_commit(project_root, arguments, signals, variables, output)


def end_point(
    directory: Path,
    point: dict,
    child: subprocess.Popen,
    signals: ForwardedSignals,
    project_root: Path,
) -> None:
    """Settle in the sweep's record a point whose run.py (`child`) has ended: finished,
    pruned (a search's trial), interrupted or failed."""
    signals.forget(child.pid)
    number = point["point"]
    exit_code = shell_exit_code(child.returncode)
    point["run"] = point["run"] or point_run(directory, number)
    point["exit_code"] = exit_code
    point["status"] = (
        "finished" if exit_code == 0 else "interrupted" if exit_code in STOPPED_CODES else "failed"
    )
    if exit_code == 0 and run_record(project_root, point["run"]).get("status") == "pruned":
        point["status"] = "pruned"  # its trial's pruner stopped it early
    write_point(directory, point)
    print(
        f"sweep point {number} {point['status']} (exit code {exit_code}), run directory "
        f"{point['run'] or 'none'}",
        flush=True,
    )
    log = point_log(directory, number)
    if point["status"] == "failed" and log.exists():
        print(
            f"the end of point {number}'s output ({log}):\n{log_tail(log)}",
            file=sys.stderr,
            flush=True,
        )


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
    change = (
        f"HEAD moved from {commit[:12]} to {state.commit[:12]}"
        if state.commit != commit
        else f"the tree has uncommitted changes ({state.dirty_files[0].strip()}...)"
    )
    return (
        f"{change} while the sweep ran, so its next point would not run the sweep's "
        f"code; no further point started (those running went on to their end). "
        f"Put the checkout back to {commit[:12]}, clean, and continue: python run.py "
        f"--resume-sweep {directory}. (Work on the code in another clone while a sweep "
        "runs.)"
    )


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
    return [",".join(ids[slot * share : (slot + 1) * share]) for slot in range(jobs)]


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
