"""Re-running a logged experiment, months later, with the code it was made from.

The run's commit is checked out into a temporary git worktree, so the user's checkout
is left as it is. The recorded config and flags run there with that commit's own
run.py, the new run directory moves into this project's logs/ with a note of what it
re-ran, and its final results are compared with the recorded ones. A re-run stopped by
a signal moves there too, resumable like any run, before the worktree is removed.
"""

import math
import shutil
import sys
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.config import resolve_path
from {{ cookiecutter.project_slug }}.toolkit.fingerprint import check_data
from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE
from {{ cookiecutter.project_slug }}.toolkit.stopping import ForwardedSignals
from {{ cookiecutter.project_slug }}.toolkit.worktree import checked_out, run_at_commit
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    atomic_write,
    dump,
    parse_record,
    read_text,
)

# Off the CPU (or with another thread count) results differ in the last bits.
TOLERANCE = 1e-4  # relative
REPLAYED_FLAGS = ("cpu", "mini")  # the rest only concern logging, which a re-run needs


def rerun(
    run_path: Path,
    metadata: dict,
    project_root: Path,
    logs_root: Path,
    allow_changed_data: bool = False,
) -> int:
    """Re-run the run at `run_path`; returns run.py's exit code.

    Data that differ from the run's are refused unless `allow_changed_data`: then the
    re-run's record lists the differences under `data_changed`.

    A stop signal goes on to the re-run, which stops at a checkpoint as any run does;
    its directory still moves into logs/ before the worktree is removed, so that it
    can be resumed.
    """
    commit = metadata["git"]["commit"]
    # The re-run records its own fingerprint; this says what differs from the original's.
    _, data_changed = check_data(
        metadata.get("data"),
        resolve_path(metadata["config"]["data_directory"], project_root),
        (),
        allow_changed_data,
        "re-run",
    )
    signals = ForwardedSignals().install()
    with checked_out(project_root, commit, metadata["config"], "rerun") as worktree:
        config_file = worktree.parent / "config.yaml"  # outside the worktree: it stays clean
        config_file.write_text(dump(metadata["config"]), encoding="utf-8")
        flags = [f"--{flag}" for flag in REPLAYED_FLAGS if metadata["flags"].get(flag)]
        # Flushed now: the re-run writes to the same output.
        print(f"re-running {run_path.name} at commit {commit[:12]} in {worktree}", flush=True)
        exit_code = run_at_commit(worktree, [str(config_file), *flags], signals)
        new_runs = sorted((worktree / "logs").glob(f"*/*/{METADATA_FILE}"))
        if not new_runs:
            print(
                f"stopped by {signals.received} before the re-run began"
                if signals.received
                else "error: the re-run left no run directory",
                file=sys.stderr,
            )
            return exit_code or 1
        destination = move_run(new_runs[-1].parent, logs_root)
    record_origin(destination, run_path, data_changed)
    tell_how_it_went(metadata, destination)
    return exit_code


def tell_how_it_went(metadata: dict, destination: Path) -> None:
    """The re-run's results beside the original's (`metadata`), or why there are none."""
    status = parse_record(read_text(destination / METADATA_FILE))["status"]
    if status == "finished":
        report(metadata, destination)
    elif status == "interrupted" and any(destination.glob("*.pth")):
        explain_resume(destination, metadata["git"]["commit"])
    else:
        print(
            f"the re-run did not finish ({status}); its record is in {destination}", file=sys.stderr
        )


def explain_resume(run_path: Path, commit: str) -> None:
    """How to continue an interrupted re-run: in this checkout, at the re-run's commit."""
    print(
        f"The re-run stopped with a checkpoint; its run directory is now\n  {run_path}\n"
        "(the one in the worktree, printed above, is gone). It resumes with the code of\n"
        f"commit {commit[:12]}: check that out, resume, then switch back:\n"
        f"  git checkout {commit[:12]}\n"
        f"  python run.py --resume {run_path}\n"
        "  git switch -",
        file=sys.stderr,
    )


def move_run(path: Path, logs_root: Path) -> Path:
    destination = logs_root / path.parent.name / path.name
    suffix = 0
    while destination.exists():
        suffix += 1
        destination = logs_root / path.parent.name / f"{path.name}_{suffix}"
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, destination)
    return destination


def record_origin(run_path: Path, original: Path, data_changed: list[str]) -> None:
    metadata = parse_record(read_text(run_path / METADATA_FILE))
    metadata["rerun_of"] = str(original)
    if data_changed:
        metadata["data_changed"] = data_changed  # allowed by --allow-changed-data
    text = dump(metadata)
    atomic_write(run_path / METADATA_FILE, lambda file: file.write(text.encode()))


def report(original: dict, run_path: Path) -> None:
    """Print whether the re-run's final results match the recorded ones."""
    rerun_metadata = parse_record(read_text(run_path / METADATA_FILE))
    recorded = (original.get("progress") or {}).get("last_results") or {}
    reproduced = (rerun_metadata.get("progress") or {}).get("last_results") or {}
    lines, exact, close = [], True, True
    for phase, values in recorded.items():
        for name, value in values.items():
            new = reproduced.get(phase, {}).get(name)
            exact &= new == value
            close &= new is not None and math.isclose(new, value, rel_tol=TOLERANCE)
            lines.append(f"  {phase}/{name}: recorded {value!r}, re-run {new!r}")
    verdict = (
        "match bit for bit"
        if exact
        else f"match within a relative {TOLERANCE:g}"
        if close
        else "DIFFER"
    )
    print(f"re-run in {run_path}\nfinal results {verdict}:\n" + "\n".join(lines))
