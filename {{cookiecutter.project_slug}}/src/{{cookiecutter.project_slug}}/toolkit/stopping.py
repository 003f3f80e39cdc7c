"""Stopping on request: the signals clusters send before they end a job.

SIGTERM, SIGINT (Ctrl-C) and SIGUSR1 only set a flag here. The trainer looks at it
between two steps, writes a checkpoint and stops; writing a checkpoint inside a signal
handler could interrupt another write half-way. A second Ctrl-C stops at once.
A process stopped by a signal exits with 128 + its number, as the shell reports a
process that the signal ended (130 for Ctrl-C, 143 for SIGTERM).
"""

import contextlib
import ctypes
import os
import signal
import sys

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
# Set by a process that starts run.py and waits for it (a sweep, --rerun): its pid.
PARENT_VARIABLE = "RUN_PY_PARENT"
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def stop_with_parent() -> None:
    """In a run.py that a sweep (or --rerun) started and waits for: stop as on SIGTERM,
    at a checkpoint, when that process dies, even by SIGKILL, rather than train on as
    an orphan that no record follows. Linux says when a parent dies (prctl); elsewhere
    --resume-sweep waits for such an orphan to end instead."""
    parent = os.environ.pop(PARENT_VARIABLE, None)  # not for this run's own children
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != int(parent):  # it died before it could be told to
        os.kill(os.getpid(), signal.SIGTERM)


class TrainingStopped(Exception):
    """Training stopped at a step boundary because a stop signal came."""

    def __init__(self, signal_name: str):
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name


def signal_exit_code(signal_name: str) -> int:
    """The exit code of a process stopped by the signal `signal_name` (1 if unknown)."""
    number = getattr(signal.Signals, signal_name, None)
    return 128 + number if number else 1


class StopSignals:
    """Records the first stop signal this process receives."""

    def __init__(self):
        self.received: str | None = None

    def install(self) -> "StopSignals":
        for number in SIGNALS:
            signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame) -> None:
        if self.received is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: the user does not want to wait
        self.received = signal.Signals(number).name


class TrainingFailed(Exception):
    """Training cannot go on, for a reason the user can fix and every process of a job
    meets at the same step: the run ends as failed, with the message and no traceback."""


class TrainingDiverged(TrainingFailed):
    """A loss became NaN or infinite: the run ends as failed, its last checkpoint (saved
    before that step) kept, and nothing after it saved."""


class ForwardedSignals:
    """For a process that only waits on children doing the work (run.py --rerun, a
    sweep's points): every stop signal is passed on to each child, which stops as it
    would on its own, and the first is recorded. A child should run in a process group
    of its own, so that Ctrl-C in a terminal reaches it once, through here: twice would
    stop it at once."""

    def __init__(self):
        self.received: str | None = None
        self.children: set[int] = set()  # their pids

    def install(self) -> "ForwardedSignals":
        for number in SIGNALS:
            signal.signal(number, self._handle)
        return self

    def watch(self, child: int) -> None:
        """Forward to `child` from now on, and a signal that came while it was starting."""
        self.children.add(child)
        if self.received is not None:
            self._forward(child, signal.Signals[self.received])

    def forget(self, child: int) -> None:
        """Stop forwarding to `child`, which has ended."""
        self.children.discard(child)

    def _handle(self, number: int, frame) -> None:
        self.received = self.received or signal.Signals(number).name
        for child in list(self.children):
            self._forward(child, number)

    @staticmethod
    def _forward(child: int, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)
