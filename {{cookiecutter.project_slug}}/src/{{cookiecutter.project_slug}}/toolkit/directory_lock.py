"""Run (and sweep) directories belong to one process at a time: its lock.

A process takes a directory's lock before it writes in it (lock_run_directory), and the
operating system lets go of it when the process ends, however it ends (SIGKILL too).
"""

import fcntl
import os
import socket
from pathlib import Path
from typing import BinaryIO

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError

LOCK_FILE = ".lock"


# Locks this process holds, by run directory: the OS releases them when it exits, however
# it ends (SIGKILL included), so a lock never outlives the run that took it.
_held_locks: dict[Path, BinaryIO] = {}


def lock_run_directory(path: Path) -> None:
    """Make this process the owner of the run directory at `path` until it exits.

    Raises a UserError naming the process that owns it already.
    """
    path = path.resolve()
    if path in _held_locks:
        return
    file = open(path / LOCK_FILE, "a+b")  # noqa: SIM115 -- held open for the process's life
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        owner = file.read().decode(errors="replace").strip() or "another process"
        file.close()
        raise UserError(
            f"{path} is in use by {owner}: a run (or sweep) directory belongs to one process "
            "at a time, and its process is still running. Let it end (or stop it: it writes "
            "a checkpoint on SIGTERM) and resume it then."
        ) from None
    file.truncate(0)
    file.write(f"process {os.getpid()} on {socket.gethostname()}\n".encode())
    file.flush()
    _held_locks[path] = file


def in_use(path: Path) -> bool:
    """Whether a process holds the run (or sweep) directory at `path` now: one that was
    killed holds it no more, whatever its record says."""
    try:
        file = open(path / LOCK_FILE, "rb")  # noqa: SIM115 -- closed below
    except FileNotFoundError:
        return False  # never locked
    with file:
        try:
            # Shared, and let go at once: it cannot keep the owner's exclusive lock out.
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def release_run_directory(path: Path) -> None:
    """Let go of a run directory this process locked, for another process to take."""
    file = _held_locks.pop(path.resolve(), None)
    if file is not None:
        file.close()
