"""Where the processes of a training job agree: `SingleProcess`, a job of one.

TrainerBase asks its `processes` wherever a job's processes would have to agree (on
stopping, on checkpointing, on the sums). A job of one process agrees with itself,
and its own numbers are the job's.
{% if cookiecutter.multi_gpu %}
distributed_training.py's `Ranks` gives the same answers for a job of several.
{% endif %}
"""

from contextlib import AbstractContextManager, nullcontext

import torch
from torch.utils.data import DataLoader

from {{ cookiecutter.project_slug }}.toolkit.run_directory import RunDirectory
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals


class SingleProcess:
    """The points where the processes of a job agree, for a job of one process: it
    agrees with itself, and its own numbers are the job's."""

    is_main = True  # it prints

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The network the training steps go through."""
        return model

    def start_epoch(self, loader: DataLoader, epoch: int) -> None:
        """Called before each training pass."""

    def gradient_sync(self, before_step: bool) -> AbstractContextManager:
        """The context of a batch's forward and backward pass; `before_step`: the
        optimizer steps after it (else its gradients only add up)."""
        return nullcontext()

    def stop_requested(
        self, stop_signals: StopSignals | None, done: int, log_interval: int, epoch_end: bool
    ) -> bool:
        """Whether to stop after `done` optimizer steps of the epoch (`epoch_end`: the
        epoch's last)."""
        return stop_signals is not None and stop_signals.received is not None

    def checkpoint_due(self, run: RunDirectory | None, done: int, log_interval: int) -> bool:
        """Whether to save a mid-epoch checkpoint after `done` optimizer steps."""
        return run is not None and run.checkpoint_due()

    def main_decides(self, decision: bool) -> bool:
        """The main process's `decision`, on every process."""
        return decision

    def start_held_out(self, loader: DataLoader, phase: str, log_interval: int) -> None:
        """Called before each held-out pass."""

    def held_out_stop_requested(self, stop_signals: StopSignals | None, done: int) -> bool:
        """Whether to stop after `done` batches of a held-out pass."""
        return stop_signals is not None and stop_signals.received is not None

    def stop_signal(self, stop_signals: StopSignals) -> str:
        """The signal a stop was requested by, once `stop_requested` said so."""
        return stop_signals.received

    def sum_window(self, loss_sum: float, samples: int) -> tuple[float, float]:
        """A log window's training loss sum and sample count, the job's."""
        return loss_sum, samples

    def add_up(self, sums: dict[str, float], samples: int) -> tuple[dict[str, float], int]:
        """A pass's sums and sample count, the job's."""
        return sums, samples

    def first_bad_step(self, finite_steps: int) -> int:
        """The steps before the first one whose loss was not finite, the job's."""
        return finite_steps

    def checkpoint_part(self, process_state: dict) -> dict:
        """The checkpoint's entries that hold the processes' own states."""
        return {"process_state": process_state}

    def own_state(self, checkpoint: dict) -> dict | None:
        """This process's state in `checkpoint` (None: it starts afresh)."""
        return checkpoint["process_state"]

    def finish(self, model: torch.nn.Module, run: RunDirectory | None) -> None:
        """Called when the last epoch is done."""

    def share_weights(self, model: torch.nn.Module) -> None:
        """Give every process the main process's weights of `model`."""
