"""Copies of a logged run kept elsewhere than its run directory (a lab's web service
for comparing runs): what the run directory tells them, and when.

A mirror is an option's (its JobHooks' `mirrors`, job.py); the run directory calls
every mirror it was given, and names none. It is told the points the
run's TensorBoard log is handed, in the same batches (every few seconds, at each
epoch's end and checkpoint, at the end: never per step), when the process that logs
stops logging, and how the run ended. A mirror that fails must never fail the run: one
that raises is dropped, with a warning.
"""

import sys
from typing import Any, Protocol

# A point of the run's log: (optimizer step, {tag: value}, when it was logged, in
# seconds since the epoch).
Point = tuple[int, dict[str, float], float]


class Mirror(Protocol):
    """A copy of one logged run elsewhere. `run` is its run_directory.RunDirectory."""

    def points(self, run: Any, points: list[Point]) -> None:
        """The points the run logged since the last call, in the order logged."""

    def close(self, run: Any) -> None:
        """This process logs nothing more of the run: what it holds back, sent (another
        process may end the run, or continue it)."""

    def finish(self, run: Any, status: str) -> None:
        """How the run ended: finished, pruned, failed or interrupted."""


def tell_mirrors(run: Any, event: str, *args) -> None:
    """Call `event` ("points", "close" or "finish") of each of `run.mirrors`. A mirror handles
    its own failures; one that raises all the same is a bug, which must not end the run."""
    for mirror in list(run.mirrors):
        try:
            getattr(mirror, event)(run, *args)
        except Exception as error:  # whatever it is, training goes on
            run.mirrors.remove(mirror)
            print(
                f"warning: {type(mirror).__name__} failed and no longer mirrors this run: "
                f"{type(error).__name__}: {error}",
                file=sys.stderr,
            )
