"""Stopping on request: the signals clusters send before they end a job.

SIGTERM, SIGINT (Ctrl-C) and SIGUSR1 only set a flag here. The trainer looks at it
between two steps, writes a checkpoint and stops; writing a checkpoint inside a signal
handler could interrupt another write half-way. A second Ctrl-C stops at once.
"""

{% if cookiecutter.multi_gpu %}
import contextlib
import os
{% endif %}
import signal

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class TrainingStopped(Exception):
    """Training stopped at a step boundary because a stop signal came."""

    def __init__(self, signal_name: str):
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name


class StopSignals:
    """Records the first stop signal this process receives."""

    def __init__(self):
        self.received: str | None = None
{% if cookiecutter.multi_gpu %}
        # Processes this one started, which get the signals a cluster sends to it alone.
        # Not Ctrl-C: a terminal sends that to every process in the foreground already.
        self.forward_to: list[int] = []
{% endif %}

    def install(self) -> "StopSignals":
        for number in SIGNALS:
            signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame) -> None:
        if self.received is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: the user does not want to wait
        self.received = signal.Signals(number).name
{% if cookiecutter.multi_gpu %}
        if number != signal.SIGINT:
            for pid in self.forward_to:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, number)
{% endif %}


class TrainingDiverged(Exception):
    """A loss became NaN or infinite: the run ends as failed, its last checkpoint (saved
    before that step) kept, and nothing after it saved."""
