"""The Trainer's books: what TrainerBase's loop calls between its steps.

TrainerBase (base_trainer.py) runs the loop and calls your steps (train.py); the
methods here keep the books around them:

  checkpoints    `state` and `restore`: weights, optimizer, scheduler, the phase and
                 position in the epoch, the loss sums so far, every random generator;
  policy         when to save a checkpoint (the run directory's clock, between two
                 steps) and when to stop (a stop signal, between two batches);
  sums           the training loss and the model's metrics, summed on the device so
                 that no step waits for it, and read once per log window;
  finiteness     a NaN or infinite loss ends the run, and no checkpoint is saved of
                 weights a bad step has touched;
  shapes         each pass's first batch checks that the prediction does not broadcast
                 against the supervision (a (B, 1) output against (B,) targets);
  protocol       a loop of your own that leaves out one of these calls, or makes it in
                 the wrong place, is refused at its first pass, with the call named.
"""

import math
from typing import NoReturn

import torch
from torch.utils.data import DataLoader

from {{ cookiecutter.project_slug }}.toolkit import random_state
from {{ cookiecutter.project_slug }}.toolkit.base_model import shape_mistake
from {{ cookiecutter.project_slug }}.toolkit.loop_protocol import LoopProtocol
from {{ cookiecutter.project_slug }}.toolkit.selection import Selection
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    TrainingDiverged,
    TrainingFailed,
    TrainingStopped,
)


class Bookkeeping(LoopProtocol):
    """The books of TrainerBase, which extends this class and sets the model, optimizer,
    scheduler, loaders, device, run, stop signals and processes before `open_books`."""

    def open_books(self) -> None:
        """Empty books: no step taken, no sums, no phase in progress."""
        self.step = 0  # optimizer steps so far: the x axis of every curve
        self.first_epoch, self.resume_position = 0, 0  # where fit() starts
        self.resume_phase: str | None = None  # the phase a resumed run continues in
        self.epoch_results: dict[str, dict[str, float]] = {}  # the epoch's phases done so far
        # The training loss, weighted by batch size, is summed on the device in one
        # in-place op per step: reading it every step would make the CPU wait for the GPU.
        # Each log window's sum is read at its end and added to the epoch's on the host.
        self.window_loss = torch.zeros((), device=self.device)
        self.window_samples = 0
        # A NaN or infinite loss stays so in the window's sum: the sum, read at the
        # window's end and before any checkpoint, tells whether a step went bad. To tell
        # which one, the sum after each optimizer step of the window is copied into a
        # slot of `window_trace` (one copy, no new tensor), read only then.
        self.window_trace = torch.zeros(self.log_interval, device=self.device)
        self.trace_slots = self.window_trace.unbind()  # views: no indexing per step
        self.traced_steps = 0  # the window's optimizer steps in the trace
        self.epoch_loss, self.epoch_samples = 0.0, 0
        self.epoch_metrics: dict[str, torch.Tensor] = {}  # the model's metrics, summed likewise
        # The training order is drawn at an epoch's start; a resumed epoch draws it again.
        self.train_order_state = (
            self.train_loader.generator.get_state() if self.train_loader is not None else None
        )
        # The held-out phase in progress: its order's generator state at its start, and
        # its loss and metric sums so far (this process's), kept on the device.
        self.held_out_order_state: torch.Tensor | None = None
        self.held_out_totals: dict[str, torch.Tensor] = {}
        self.held_out_samples = 0
        self.selection = Selection(**self.config.get("selection", {}))  # the best epoch so far
        # The best epoch's weights, kept by the main process of an unlogged run, which
        # saves no checkpoint to read them from.
        self.best_weights: dict[str, torch.Tensor] | None = None
        # A trial of a search (sweep.py) reports every epoch to its study, whose pruner
        # may stop it there like an early stop (None: a run of no search). Set by whoever
        # builds the Trainer (job_training.py), from trial_pruning.py.
        self.trial = None
        self.pruned = False
        # The calls of the pass in progress, counted to check a loop of your own.
        self.pass_started: str | None = None  # its phase, once its start is called
        self.pass_resumed_at = 0  # its batches done before a resume
        self.batches_added = self.stops_checked = self.windows_closed = 0

    def loaders(self) -> dict[str, DataLoader]:
        return {"train": self.train_loader, **self.held_out_loaders}

    def check_first_batch(self, phase: str) -> None:
        """Have the next call of `loss_function`, `phase`'s first batch, check shapes."""
        self.checked_phase = phase
        self.loss_function = self.first_batch_loss

    def first_batch_loss(self, prediction: torch.Tensor, supervision: torch.Tensor) -> torch.Tensor:
        self.loss_function = self.unchecked_loss_function  # the pass's other batches
        mistake = shape_mistake(prediction, supervision)
        if mistake:
            raise TrainingFailed(
                f"{mistake} (the first batch of {self.checked_phase}). "
                "Make the model's forward return the supervision's shape."
            )
        return self.loss_function(prediction, supervision)

    def resumed_position(self, phase: str) -> int:
        """Batches of `phase` done before the run resumed: 0 unless it resumed in it."""
        if self.resume_phase != phase:
            return 0
        position, self.resume_phase, self.resume_position = self.resume_position, None, 0
        return position

    # ----------------------------------------------------------------------------------
    # Checkpoints and resuming

    def state(self, epoch: int, position: int | None, phase: str = "train") -> dict:
        """Everything a resumed run needs to continue from here.

        `position`: batches of `phase` done in `epoch`; None when the epoch is complete.
        """
        orders = {name: loader.generator.get_state() for name, loader in self.loaders().items()}
        if position is not None:
            # The phase in progress draws its order again, from the state at its start.
            orders[phase] = (
                self.train_order_state if phase == "train" else self.held_out_order_state
            )
        return {
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": epoch,
            "phase": None if position is None else phase,
            "position": position,
            "results": self.epoch_results,  # of the epoch's phases done before this one
            "step": self.step,
            "data_order": orders,
            "selection": self.selection.state(),
            "pruned": self.pruned,
            **self.processes.checkpoint_part(self.process_state()),
        }

    def process_state(self) -> dict:
        """This process's own random numbers and loss sums."""
        return {
            "random": random_state.capture(),
            "window_loss": self.window_loss.cpu(),
            "window_samples": self.window_samples,
            "epoch_loss": self.epoch_loss,
            "epoch_samples": self.epoch_samples,
            "epoch_metrics": {name: total.cpu() for name, total in self.epoch_metrics.items()},
            "held_out_totals": {name: total.cpu() for name, total in self.held_out_totals.items()},
            "held_out_samples": self.held_out_samples,
        }

    def restore(self, checkpoint: dict) -> None:
        """Continue from `checkpoint` (from `state`): call just before `fit`."""
        self.model.load_state_dict(checkpoint["model_state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
        self.step = checkpoint["step"]
        self.traced_steps = 0  # checkpoints are saved only while finite
        for phase, loader in self.loaders().items():
            loader.generator.set_state(checkpoint["data_order"][phase])
        self.train_order_state = checkpoint["data_order"]["train"]
        self.selection.restore(checkpoint["selection"])
        self.pruned = checkpoint.get("pruned", False)  # absent from checkpoints before 0.4
        if checkpoint["position"] is None:
            self.first_epoch, self.resume_position = checkpoint["epoch"] + 1, 0
        else:
            self.first_epoch, self.resume_position = checkpoint["epoch"], checkpoint["position"]
            self.resume_phase = checkpoint["phase"]
            self.epoch_results = checkpoint["results"]
        own = self.processes.own_state(checkpoint)
        if own is None:
            return
        self.window_loss = own["window_loss"].to(self.device)
        self.window_samples = own["window_samples"]
        self.epoch_loss, self.epoch_samples = own["epoch_loss"], own["epoch_samples"]
        self.epoch_metrics = {
            name: total.to(self.device) for name, total in own["epoch_metrics"].items()
        }
        self.held_out_totals = {
            name: total.to(self.device) for name, total in own["held_out_totals"].items()
        }
        self.held_out_samples = own["held_out_samples"]
        random_state.restore(own["random"])  # last: nothing may draw from them after this

    # ----------------------------------------------------------------------------------
    # The training pass

    def start_training_pass(self, epoch: int, resume_position: int) -> None:
        """Draw the epoch's order (again, on a resume) and clear the sums of a new epoch."""
        self.processes.start_epoch(self.train_loader, epoch)
        self.check_first_batch("train")
        self.start_counting("train", resume_position)
        if resume_position:
            self.train_loader.generator.set_state(self.train_order_state)
            self.train_loader.sampler.skip = resume_position * self.train_loader.batch_size
        else:
            self.train_order_state = self.train_loader.generator.get_state()
            self.window_loss.zero_()
            self.traced_steps = 0
            self.window_samples, self.epoch_loss, self.epoch_samples = 0, 0.0, 0
            self.epoch_metrics = {}

    def optimizer_steps_done(self, done: int) -> int:
        """The epoch's optimizer steps once `done` of its batches are trained on."""
        return math.ceil(done / self.gradient_accumulation_steps)

    def share_of_step(self, position: int, size: int) -> float:
        """The share of its optimizer step's samples that the batch at `position` in
        the epoch, of `size` samples, holds. Each batch's mean loss weighted by it, the
        gradients add up to the mean over all of the step's samples: what one batch of
        them all would give (the epoch's last batch may be smaller, and its last step
        may have fewer batches)."""
        per_step = self.gradient_accumulation_steps
        first = position - position % per_step  # the step's first batch
        last = min(first + per_step, self.train_batches)  # one past its last
        samples_per_epoch = len(self.train_loader.sampler)
        batch_size = self.train_loader.batch_size
        step_samples = min(last * batch_size, samples_per_epoch) - first * batch_size
        return size / step_samples

    def add_step(
        self,
        loss: torch.Tensor,
        prediction: torch.Tensor,
        batch: dict[str, torch.Tensor],
        before_step: bool = True,
    ) -> None:
        """Add a training batch's loss and metrics to the sums, on the device: nothing
        here makes the CPU wait for the step to finish. `before_step`: the optimizer
        steps after this batch."""
        self.batches_added += 1
        size = batch["supervision"].shape[0]  # len() of a tensor is four Python calls
        self.window_loss.add_(loss.detach(), alpha=size)
        if before_step:
            self.trace_slots[self.traced_steps].copy_(self.window_loss)
            self.traced_steps += 1
        self.window_samples += size
        for name, value in self.model.metrics(prediction.detach(), batch).items():
            self.epoch_metrics[name] = self.epoch_metrics.get(name, 0) + value.float() * size

    def close_log_window(self, epoch: int) -> float:
        """The mean training loss of the log window just ended; starts the next one.
        Stops the run if the loss became NaN or infinite in the window."""
        self.windows_closed += 1
        window_sum = self.window_loss.item()
        self.window_loss.zero_()
        self.epoch_loss += window_sum
        self.epoch_samples += self.window_samples
        window_sum, window_samples = self.processes.sum_window(window_sum, self.window_samples)
        self.window_samples = 0
        mean = window_sum / window_samples
        if not math.isfinite(mean):
            self.diverged(epoch)
        self.traced_steps = 0
        return mean

    def checkpoint_or_stop(self, epoch: int, done: int) -> None:
        """After an optimizer step, `done` batches into the epoch: stop if asked to,
        with a checkpoint to resume from, or save one if the run's checkpoint interval
        has passed. Only after an optimizer step: a checkpoint holds no gradients, so
        one taken halfway through an accumulation would lose its first batches."""
        steps = self.optimizer_steps_done(done)
        epoch_end = done == self.train_batches
        self.stops_checked += 1
        if done != self.pass_resumed_at + self.batches_added:
            if not self.batches_added:
                self.refuse(
                    "train_loop never called add_step before checkpoint_or_stop: "
                    "call it after each batch's backward pass"
                )
            self.refuse(
                f"train_loop called checkpoint_or_stop(epoch, {done}) after add_step "
                f"of batch {self.pass_resumed_at + self.batches_added}: call it after "
                "the optimizer step, once the step's batches are added"
            )
        if done % self.gradient_accumulation_steps and not epoch_end:
            self.refuse(
                f"train_loop called checkpoint_or_stop(epoch, {done}) between two "
                "optimizer steps: call it only after an optimizer step"
            )
        if self.processes.stop_requested(self.stop_signals, steps, self.log_interval, epoch_end):
            self.save_mid_epoch_checkpoint(epoch, done)
            raise TrainingStopped(self.processes.stop_signal(self.stop_signals))
        if self.processes.checkpoint_due(self.run, steps, self.log_interval):
            self.save_mid_epoch_checkpoint(epoch, done)

    def training_results(self, epoch: int) -> dict[str, float]:
        """The epoch's sample-weighted means of the training loss and metrics."""
        sums = {
            "loss": self.epoch_loss + self.window_loss.item(),
            **{name: total.item() for name, total in self.epoch_metrics.items()},
        }
        sums, samples = self.processes.add_up(sums, self.epoch_samples + self.window_samples)
        if not math.isfinite(sums["loss"]):
            self.diverged(epoch)
        return {name: total / samples for name, total in sums.items()}

    def diverged(self, epoch: int) -> NoReturn:
        """Stop the run: a training loss since the last check was not finite."""
        finite_steps = self.processes.first_bad_step(self.finite_steps())
        raise TrainingDiverged(
            f"the training loss became NaN or infinite at optimizer step {finite_steps + 1} "
            f"(epoch {epoch}); the run stopped there and saved nothing after it. A lower "
            "learning rate usually helps; so may a look at that step's batch."
        )

    def finite_steps(self) -> int:
        """The optimizer steps before the first after which the window's sum was NaN or
        infinite: all of them if none was. The windows before this one were finite."""
        trace = self.window_trace[: self.traced_steps]
        [bad] = (~trace.isfinite()).nonzero(as_tuple=True)
        return self.step - self.traced_steps + (int(bad[0]) if len(bad) else self.traced_steps)

    def save_mid_epoch_checkpoint(self, epoch: int, position: int) -> None:
        if not math.isfinite(self.window_loss.item()):
            self.diverged(epoch)  # never a checkpoint of weights a bad step has touched
        state = self.state(epoch, position)  # every process takes part: see `processes`
        if self.run is not None:
            percent = 100 * position // self.train_batches
            self.run.save_mid_epoch_checkpoint(epoch, percent, state)

    # ----------------------------------------------------------------------------------
    # Held-out passes

    def start_held_out_pass(self, loader: DataLoader, phase: str, resume_position: int) -> None:
        """Note where `loader`'s order starts (restore() set it back on a resume) and
        clear the sums, unless the pass resumes."""
        self.held_out_order_state = loader.generator.get_state()
        if resume_position:
            loader.sampler.skip = resume_position * loader.batch_size
        else:
            self.held_out_totals, self.held_out_samples = {}, 0
        self.processes.start_held_out(loader, phase, self.log_interval)
        self.check_first_batch(phase)
        self.start_counting(phase, resume_position)

    def add_held_out(self, values: dict[str, torch.Tensor], size: int) -> None:
        """Add a held-out batch's loss and metrics (means over its `size` samples)."""
        self.batches_added += 1
        for name, value in values.items():
            # In float32: a bfloat16 sum over many batches would lose the small ones.
            self.held_out_totals[name] = self.held_out_totals.get(name, 0) + value.float() * size
        self.held_out_samples += size

    def stop_if_requested(self, epoch: int | None, phase: str, done: int) -> None:
        """After `done` batches of a held-out pass of `epoch`: stop if asked to, with a
        checkpoint from which a resumed run continues the pass. The final test's pass
        (epoch None) saves none: a resumed run tests again, from the start."""
        self.stops_checked += 1
        if done != self.pass_resumed_at + self.batches_added:
            if not self.batches_added:
                self.refuse(
                    "evaluate never called add_held_out before stop_if_requested: "
                    "call it after each batch"
                )
            self.refuse(
                f"evaluate called stop_if_requested(epoch, {phase!r}, {done}) after "
                f"add_held_out of batch {self.pass_resumed_at + self.batches_added}: "
                "call it after each batch's add_held_out"
            )
        if self.processes.held_out_stop_requested(self.stop_signals, done):
            if epoch is not None:
                state = self.state(epoch, done, phase)  # every process takes part
                if self.run is not None:
                    # Named like a checkpoint at the end of the epoch's training, which
                    # it follows.
                    self.run.save_mid_epoch_checkpoint(epoch, 100, state)
            raise TrainingStopped(self.processes.stop_signal(self.stop_signals))

    def held_out_results(self) -> dict[str, float]:
        """The pass's sample-weighted means of the loss and metrics."""
        sums = {name: total.item() for name, total in self.held_out_totals.items()}
        sums, samples = self.processes.add_up(sums, self.held_out_samples)
        return {name: total / samples for name, total in sums.items()}
