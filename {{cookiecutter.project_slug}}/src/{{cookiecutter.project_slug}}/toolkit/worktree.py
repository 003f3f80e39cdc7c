"""Running a commit's own code, whatever the checkout holds: a temporary git worktree
of the commit, with the project's data linked in, and its run.py started there.

`--rerun`, `--evaluate` of a run made at another commit, and a sweep's points use it.
It imports no torch, so that a process which only starts another run.py starts quickly.
"""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.repo import git_environment
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    PARENT_VARIABLE,
    ForwardedSignals,
    signal_exit_code,
)


@contextmanager
def checked_out(
    project_root: Path, commit: str, config: dict, purpose: str, parent: Path | None = None
) -> Iterator[Path]:
    """A git worktree of `commit` in a new folder named after `purpose` (in `parent`, or
    the system's temporary folder), with the data folder `config` reads linked in;
    removed with its folder at the end. That folder is the caller's scratch space too."""
    with tempfile.TemporaryDirectory(prefix=f"{purpose}-", dir=parent) as scratch:
        worktree = Path(scratch) / "code"
        git(project_root, "worktree", "add", "--detach", str(worktree), commit)
        try:
            link_data(config, project_root, worktree)
            yield worktree
        finally:
            git(project_root, "worktree", "remove", "--force", str(worktree))


def run_at_commit(
    worktree: Path,
    arguments: list[str],
    signals: ForwardedSignals,
    variables: dict[str, str] | None = None,
    launcher: Sequence[str] = (),
) -> int:
    """run.py of the worktree, with `arguments`, to its end; its exit code (128 + N for
    signal N). See start_at_commit for `variables` and `launcher`."""
    if signals.received:
        return signal_exit_code(signals.received)  # stopped before it began
    child = start_at_commit(worktree, arguments, signals, variables, launcher=launcher)
    try:
        returncode = child.wait()
    finally:
        signals.forget(child.pid)
    return shell_exit_code(returncode)


def start_at_commit(
    worktree: Path,
    arguments: list[str],
    signals: ForwardedSignals,
    variables: dict[str, str] | None = None,
    output: BinaryIO | None = None,
    launcher: Sequence[str] = (),
) -> subprocess.Popen:
    """run.py of the worktree, with `arguments`, started and left running, with these
    environment `variables` set and its output into `output` (None: this process's).
    `launcher`, if given, is the command that starts it (run.py's command line follows
    it). `signals` go on to it until `signals.forget(child.pid)`.

    It runs in a session of its own, so that a Ctrl-C in the terminal reaches it once,
    forwarded from here, rather than twice (which stops a run without a checkpoint).
    Started by this process itself, it stops at a checkpoint if this process dies.
    """
    variables = {"PYTHONPATH": str(worktree / "src"), **(variables or {})}
    if not launcher:
        variables[PARENT_VARIABLE] = str(os.getpid())  # for stop_with_parent
    child = subprocess.Popen(
        [*launcher, sys.executable, "run.py", *arguments],
        cwd=worktree,
        start_new_session=True,
        env={**git_environment(), **variables},
        stdout=output,
        stderr=output,
    )
    signals.watch(child.pid)
    return child


def shell_exit_code(returncode: int) -> int:
    """A child's exit code as a shell reports it: a negative returncode means it was
    killed by that signal, without a say (128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def git(root: Path, *args: str) -> None:
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, env=git_environment()
    )
    if result.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed: {result.stderr.strip()}")


def commit_is_gone(root: Path, commit: str) -> bool:
    """Whether git says the repository at `root` no longer holds `commit`: amended or
    rebased away, then garbage-collected. (Other trouble, such as no repository at all,
    is left to the git command that needs the commit to report.)"""
    result = subprocess.run(
        ["git", "cat-file", "-e", commit], cwd=root, capture_output=True, env=git_environment()
    )
    return result.returncode == 1  # 0: it is there; 128: git could not look


def link_data(config: dict, project_root: Path, worktree: Path) -> None:
    """Make a data folder inside the project (ignored by git) visible in the worktree."""
    relative = Path(config["data_directory"]).expanduser()
    if relative.is_absolute():
        return
    source = (project_root / relative).resolve()
    if not source.exists():
        raise UserError(
            f"the run read its data from {source}, which does not exist. "
            "Write it again (scripts/make_dataset.py) before re-running."
        )
    # A real folder of links: `.gitignore` patterns such as `data/` match folders only.
    target = worktree / relative
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        (target / entry.name).symlink_to(entry)
