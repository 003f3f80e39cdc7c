"""The loop's protocol: a loop of your own makes every bookkeeping call, in its place.

TrainerBase's loop (base_trainer.py) makes them all. A Trainer that overrides
`train_loop` or `evaluate` must keep them (docs/extending.md): the books count the calls
of each pass (bookkeeping.py), and the loop checks the counts after it, so that a loop
that leaves one out, or makes it too often, is refused at its first pass with the call
named, rather than resume inexactly later.
"""

from typing import NoReturn

from {{ cookiecutter.project_slug }}.toolkit.stopping import TrainingFailed


class LoopProtocol:
    """The checks of a pass's calls, on the counts Bookkeeping keeps."""

    def start_counting(self, phase: str, resume_position: int) -> None:
        self.pass_started, self.pass_resumed_at = phase, resume_position
        self.batches_added = self.stops_checked = self.windows_closed = 0

    def check_training_pass(self, resume_position: int) -> None:
        """Refuse a training pass that left out a call: checked after every pass, so
        a loop of your own is refused at its first epoch."""
        batches = self.train_batches - resume_position
        steps = self.steps_per_epoch - self.optimizer_steps_done(resume_position)
        if self.pass_started != "train":
            self.refuse(
                "train_loop never called start_training_pass(epoch, resume_position) "
                "before its first batch"
            )
        self.check_count(
            "train_loop",
            "add_step",
            self.batches_added,
            batches,
            "batches: once after each batch's backward pass",
        )
        self.check_count(
            "train_loop",
            "checkpoint_or_stop",
            self.stops_checked,
            steps,
            "optimizer steps: once after each",
        )
        if steps >= self.log_interval and not self.windows_closed:
            self.refuse(
                f"train_loop never called close_log_window in {steps} optimizer steps "
                f"(log_interval {self.log_interval}): call it every log_interval steps"
            )
        self.pass_started = None

    def check_held_out_pass(self, phase: str, resume_position: int) -> None:
        """Refuse a held-out pass (evaluate) that left out a call."""
        batches = len(self.held_out_loaders[phase]) - resume_position
        if self.pass_started != phase:
            self.refuse(
                f"evaluate never called start_held_out_pass(loader, {phase!r}, "
                "resume_position) before its first batch"
            )
        self.check_count(
            "evaluate",
            "add_held_out",
            self.batches_added,
            batches,
            f"batches of {phase}: once after each batch",
        )
        self.check_count(
            "evaluate",
            "stop_if_requested",
            self.stops_checked,
            batches,
            f"batches of {phase}: once after each batch's add_held_out",
        )
        self.pass_started = None

    def check_count(self, loop: str, call: str, calls: int, expected: int, what: str) -> None:
        if calls == expected:
            return
        if calls == 0:
            self.refuse(f"{loop} never called {call}, for {expected} {what}")
        self.refuse(f"{loop} called {call} {calls} times, for {expected} {what}")

    def refuse(self, mistake: str) -> NoReturn:
        raise TrainingFailed(
            f"{mistake}. The loop in toolkit/base_trainer.py shows each "
            "call in its place; a loop of your own must keep them all."
        )
