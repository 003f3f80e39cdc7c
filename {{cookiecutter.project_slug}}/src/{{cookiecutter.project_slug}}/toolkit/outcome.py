"""How a run ended, recorded in its run directory and told on the terminal.

Training ends finished, stopped by a signal (after writing a checkpoint), failed for a
reason the user can fix (a loss that was not finite, a prediction of the wrong shape),
refused by the file system, or failed with an error. Each end gets its status in
metadata.yaml, one message, and run.py's exit code.
"""

import errno
import sys
from collections.abc import Callable
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.job import Job
from {{ cookiecutter.project_slug }}.toolkit.run_directory import (
    METADATA_FILE,
    RunDirectory,
    cannot_write,
)
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    TrainingFailed,
    TrainingStopped,
    signal_exit_code,
)

# Errors of the file system, not of the program, when writing into the run directory: a
# full disk, a read-only or foreign logs/. The run ends as failed, with one message.
STORAGE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def announce(job: Job) -> None:
    if job.evaluation:
        print(job.evaluation.describe())
    elif job.run is None:
        print("logging is off: nothing from this run is saved")
    elif job.checkpoint:
        print(f"resuming {job.run.path} from {job.checkpoint.name}")
    else:
        print(f"logging to {job.run.path}")


def supervise(
    run: RunDirectory | None,
    training: Callable[[], None],
    ended_otherwise: Callable[[RunDirectory | None, BaseException], int | None] | None = None,
) -> int:
    """Run `training` and record how it ended in the run directory. `ended_otherwise`,
    if given, records an end that the caller knows of, from the error training raised
    (its exit code; None: an error like any other)."""
    try:
        training()
    except TrainingStopped as stop:
        return stopped(run, stop.signal_name)
    except TrainingFailed as error:  # a diverged loss, a prediction of the wrong shape
        return failed(run, str(error))
    except KeyboardInterrupt:
        if run:
            run.finish("interrupted")
        print("interrupted", file=sys.stderr)
        return 130
    except BaseException as error:
        code = ended_otherwise(run, error) if ended_otherwise else None
        if code is not None:
            return code
        if run and refused_by_storage(error, run):
            return storage_failed(run, error)
        if run:
            run.finish("failed", error=f"{type(error).__name__}: {error}")
        raise
    if run:
        run.finish("finished")
        print(f"run directory: {run.path}")
    return 0


def failed(run: RunDirectory | None, reason: str | None) -> int:
    """A run training could not go on with (a loss that was not finite, a prediction of
    the wrong shape): failed, with the reason, and no traceback."""
    if run:
        run.finish("failed", error=reason)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
    return 1


def refused_by_storage(error: BaseException, run: RunDirectory) -> bool:
    """Whether the file system refused a write into the run directory. torch.save writes
    through a file object, so its errors carry no file name."""
    return (
        isinstance(error, OSError)
        and error.errno in STORAGE_ERRORS
        and (error.filename is None or Path(error.filename).is_relative_to(run.path))
    )


def storage_failed(run: RunDirectory, error: OSError) -> int:
    """A run the file system stopped (full, read-only): recorded as failed if it still
    can be, its checkpoints as they were (every file is written whole or not at all)."""
    message = cannot_write(error, run.path)
    try:
        run.finish("failed", error=f"{error.strerror}: {error.filename or run.path}")
    except OSError:
        message += (
            f"\nIts {METADATA_FILE} could not record the failure either and still "
            "says running (`run.py --list` shows it as died)."
        )
    print(
        f"error: {message}\nContinue it later with: python run.py --resume {run.path}",
        file=sys.stderr,
    )
    return 2


def stopped(run: RunDirectory | None, signal_name: str) -> int:
    if run:
        run.finish("interrupted", error=f"stopped by {signal_name}")
        print(
            f"stopped by {signal_name} after writing a checkpoint. Continue with:\n"
            f"  python run.py --resume {run.path}",
            file=sys.stderr,
        )
    else:
        print(f"stopped by {signal_name}", file=sys.stderr)
    return signal_exit_code(signal_name)
