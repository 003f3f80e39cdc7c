"""The Trainer's bookkeeping: what train.py's loops call between their steps.

train.py holds the loops themselves (the epoch, the training step, the held-out
phases). `TrainerBase`, which its Trainer extends, keeps the books around them:

  checkpoints    `state` and `restore`: weights, optimizer, scheduler, the phase and
                 position in the epoch, the loss sums so far, every random generator;
  policy         when to save a checkpoint (the run directory's clock, between two
                 steps) and when to stop (a stop signal, between two batches);
  sums           the training loss and the model's metrics, summed on the device so
                 that no step waits for it, and read once per log window;
  finiteness     a NaN or infinite loss ends the run, and no checkpoint is saved of
                 weights a bad step has touched;
  shapes         each pass's first batch checks that the prediction does not broadcast
                 against the supervision (a (B, 1) output against (B,) targets).

Where a job's processes would have to agree (on stopping, on checkpointing, on the
sums), TrainerBase asks its `processes`; the default, `SingleProcess`, is this one
process alone.
"""

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import NoReturn

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from {{ cookiecutter.project_slug }}.toolkit import random_state
from {{ cookiecutter.project_slug }}.toolkit.base_model import FishboticsModel, WarmupCosine, shape_mistake
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import read_checkpoint
from {{ cookiecutter.project_slug }}.toolkit.run_directory import RunDirectory, tagged
from {{ cookiecutter.project_slug }}.toolkit.selection import Selection
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    StopSignals,
    TrainingDiverged,
    TrainingFailed,
    TrainingStopped,
)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    # non_blocking only pays off from pinned memory, which the loaders use on CUDA only.
    non_blocking = device.type == "cuda"
    return {key: value.to(device, non_blocking=non_blocking) for key, value in batch.items()}


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

    def stop_requested(self, stop_signals: StopSignals | None, done: int,
                       log_interval: int, epoch_end: bool) -> bool:
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


class TrainerBase:
    """The Trainer's state and bookkeeping; train.py's Trainer adds the loops."""

    def __init__(self, model: FishboticsModel, loss_function,
                 train_loader: DataLoader | None, *, epochs: int, device: torch.device,
                 held_out_loaders: dict[str, DataLoader | None] | None = None,
                 log_interval: int = 50, gradient_accumulation_steps: int = 1,
                 gradient_clip_norm: float | None = None,
                 learning_rate_schedule: dict | None = None, mixed_precision: str | None = None,
                 compile_model: bool = False, run: RunDirectory | None = None,
                 stop_signals: StopSignals | None = None,
                 processes: SingleProcess | None = None, config: dict | None = None):
        # The run's whole config: a field you add to schema.py is read here, in train.py.
        self.config = config or {}
        self.processes = processes or SingleProcess()
        self.model = model.to(device)
        self.optimizer = model.optimizer()
        self.gradient_accumulation_steps = gradient_accumulation_steps  # batches per step
        self.gradient_clip_norm = gradient_clip_norm  # None: no clipping
        schedule = learning_rate_schedule or {"type": "exponential"}
        # An epoch's last optimizer step takes the batches left over, however few. A
        # Trainer without a train_loader only evaluates (run.py --evaluate).
        self.steps_per_epoch = (math.ceil(len(train_loader) / gradient_accumulation_steps)
                                if train_loader is not None else 0)
        # train.py steps the scheduler after every optimizer step, or after every epoch.
        self.scheduler_per_step = schedule["type"] == "warmup_cosine"
        if self.scheduler_per_step:
            self.scheduler = WarmupCosine(
                self.optimizer, schedule["warmup_steps"], epochs * self.steps_per_epoch,
                schedule["final_learning_rate"])
        else:
            self.scheduler = model.scheduler(self.optimizer)
        # Training steps go through `network`, compiled if asked: it is what runs most
        # often. Checkpoints and held-out phases use the model itself.
        network = self.processes.wrap(self.model)
        self.network = torch.compile(network) if compile_model else network
        # bfloat16 has float32's range, so unlike float16 it needs no gradient scaling.
        self.autocast = (partial(torch.autocast, device.type, dtype=torch.bfloat16)
                         if mixed_precision == "bf16" else nullcontext)
        # train.py calls `loss_function`. Each pass's first call goes through
        # `first_batch_loss`, which checks the shapes and hands the rest of the pass to
        # the loss function itself: the check costs nothing after the first batch.
        self.unchecked_loss_function = loss_function
        self.loss_function = loss_function
        self.checked_phase = "train"  # the pass whose first batch is checked
        self.train_loader = train_loader
        # By phase: "val"{% if cookiecutter.include_rollout_phase %} and "val_rollout"{% endif %} every epoch, "test"{% if cookiecutter.include_rollout_phase %} and "test_rollout"{% endif %} once at
        # the end; a phase whose data loader the config leaves out is not there.
        self.held_out_loaders = {phase: loader for phase, loader
                                 in (held_out_loaders or {}).items() if loader is not None}
        self.epochs = epochs
        self.device = device
        self.log_interval = log_interval
        self.run = run  # None: nothing is logged or saved
        self.stop_signals = stop_signals
        self.step = 0  # optimizer steps so far: the x axis of every curve
        self.first_epoch, self.resume_position = 0, 0  # where fit() starts
        self.resume_phase: str | None = None  # the phase a resumed run continues in
        self.epoch_results: dict[str, dict[str, float]] = {}  # the epoch's phases done so far
        # The training loss, weighted by batch size, is summed on the device in one
        # in-place op per step: reading it every step would make the CPU wait for the GPU.
        # Each log window's sum is read at its end and added to the epoch's on the host.
        self.window_loss = torch.zeros((), device=device)
        self.window_samples = 0
        # A NaN or infinite loss stays so in the window's sum, so the optimizer steps at
        # which the sum is still finite count the steps before the first bad one, on the
        # device too; it is read with the sum, and before any checkpoint is saved.
        self.finite_steps = torch.zeros((), dtype=torch.long, device=device)
        self.epoch_loss, self.epoch_samples = 0.0, 0
        self.epoch_metrics: dict[str, torch.Tensor] = {}  # the model's metrics, summed likewise
        # The training order is drawn at an epoch's start; a resumed epoch draws it again.
        self.train_order_state = (train_loader.generator.get_state()
                                  if train_loader is not None else None)
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

    def loaders(self) -> dict[str, DataLoader]:
        return {"train": self.train_loader, **self.held_out_loaders}

    def check_first_batch(self, phase: str) -> None:
        """Have the next call of `loss_function`, `phase`'s first batch, check shapes."""
        self.checked_phase = phase
        self.loss_function = self.first_batch_loss

    def first_batch_loss(self, prediction: torch.Tensor,
                         supervision: torch.Tensor) -> torch.Tensor:
        self.loss_function = self.unchecked_loss_function  # the pass's other batches
        mistake = shape_mistake(prediction, supervision)
        if mistake:
            raise TrainingFailed(f"{mistake} (the first batch of {self.checked_phase}). "
                                 "Make the model's forward return the supervision's shape.")
        return self.loss_function(prediction, supervision)

    def progress_bar(self, loader: DataLoader, epoch: int | None, phase: str,
                     done: int) -> tqdm:
        """`loader` with a progress bar, `done` of its batches already behind it."""
        description = phase if epoch is None else f"epoch {epoch} {phase}"
        return tqdm(loader, desc=description, leave=False, total=len(loader), initial=done,
                    disable=not self.processes.is_main)

    # ----------------------------------------------------------------------------------
    # Epochs

    def resumed_position(self, phase: str) -> int:
        """Batches of `phase` done before the run resumed: 0 unless it resumed in it."""
        if self.resume_phase != phase:
            return 0
        position, self.resume_phase, self.resume_position = self.resume_position, None, 0
        return position

    def remaining_epochs(self) -> Iterator[int]:
        """The epochs left to train, until the selection's patience runs out."""
        for epoch in range(self.first_epoch, self.epochs):
            if self.selection.out_of_patience():
                if self.processes.is_main:
                    tqdm.write(f"stopping early: no better {self.selection.metric} for "
                               f"{self.selection.patience} epochs after epoch "
                               f"{self.selection.best_epoch}")
                return
            if self.pruned:
                if self.processes.is_main:
                    tqdm.write(f"stopping early: the search's pruner stopped this trial "
                               f"after epoch {epoch - 1}")
                return
            yield epoch

    def end_epoch(self, epoch: int, results: dict[str, dict[str, float]]) -> None:
        """Print and record the epoch's `results`, note whether it is the best by the
        config's selection, and save its checkpoint."""
        check_finite(epoch, results)
        if self.processes.is_main:
            tqdm.write(epoch_summary(epoch, results))
        scalars = tagged(results)
        improved = self.selection.add_epoch(epoch, scalars)
        if improved and self.run is None and self.processes.is_main:
            self.best_weights = {name: tensor.detach().to("cpu", copy=True)
                                 for name, tensor in self.model.state_dict().items()}
        # Once per epoch, and only in a trial: every process takes the main one's word.
        self.pruned = self.processes.main_decides(
            self.trial is not None
            and self.trial.should_prune(epoch, scalars[self.selection.metric]))
        state = self.state(epoch, position=None)
        self.epoch_results = {}
        if self.run is not None:
            self.run.end_epoch(epoch, self.step, results, self.selection, state, self.pruned)

    def finish(self) -> None:
        """Called after the last epoch."""
        self.processes.finish(self.model, self.run)

    # ----------------------------------------------------------------------------------
    # The final test

    def load_selected_weights(self) -> None:
        """Give the model the selected epoch's weights: its checkpoint's, or, in a run
        that saves none, the copy kept in memory."""
        epoch = self.selection.best_epoch
        if self.run is not None:
            weights = read_checkpoint(self.run.epoch_checkpoint(epoch))["model_state_dict"]
        else:
            weights = self.best_weights
        if weights is not None:  # None: the main process shares its own now
            self.model.load_state_dict(weights)
        self.processes.share_weights(self.model)

    def record_final_test(self, results: dict[str, dict[str, float]]) -> None:
        """Print and record the final test's results (none: the config has no test phase)."""
        if not results:
            return
        if self.processes.is_main:
            tqdm.write(f"final test, with the weights of epoch {self.selection.best_epoch} "
                       f"(the best by {self.selection.describe()}): {phase_summary(results)}")
        if self.run is not None:
            self.run.record_final_test(self.step, self.selection.best_epoch, results)

    # ----------------------------------------------------------------------------------
    # Checkpoints and resuming

    def state(self, epoch: int, position: int | None, phase: str = "train") -> dict:
        """Everything a resumed run needs to continue from here.

        `position`: batches of `phase` done in `epoch`; None when the epoch is complete.
        """
        orders = {name: loader.generator.get_state() for name, loader in self.loaders().items()}
        if position is not None:
            # The phase in progress draws its order again, from the state at its start.
            orders[phase] = (self.train_order_state if phase == "train"
                             else self.held_out_order_state)
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
        return {"random": random_state.capture(), "window_loss": self.window_loss.cpu(),
                "window_samples": self.window_samples, "epoch_loss": self.epoch_loss,
                "epoch_samples": self.epoch_samples,
                "epoch_metrics": {name: total.cpu() for name, total in self.epoch_metrics.items()},
                "held_out_totals": {name: total.cpu()
                                    for name, total in self.held_out_totals.items()},
                "held_out_samples": self.held_out_samples}

    def restore(self, checkpoint: dict) -> None:
        """Continue from `checkpoint` (from `state`): call just before `fit`."""
        self.model.load_state_dict(checkpoint["model_state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
        self.step = checkpoint["step"]
        self.finite_steps.fill_(self.step)  # checkpoints are saved only while finite
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
        self.epoch_metrics = {name: total.to(self.device)
                              for name, total in own["epoch_metrics"].items()}
        self.held_out_totals = {name: total.to(self.device)
                                for name, total in own["held_out_totals"].items()}
        self.held_out_samples = own["held_out_samples"]
        random_state.restore(own["random"])  # last: nothing may draw from them after this

    # ----------------------------------------------------------------------------------
    # The training pass

    def start_training_pass(self, epoch: int, resume_position: int) -> None:
        """Draw the epoch's order (again, on a resume) and clear the sums of a new epoch."""
        self.processes.start_epoch(self.train_loader, epoch)
        self.check_first_batch("train")
        if resume_position:
            self.train_loader.generator.set_state(self.train_order_state)
            self.train_loader.sampler.skip = resume_position * self.train_loader.batch_size
        else:
            self.train_order_state = self.train_loader.generator.get_state()
            self.window_loss.zero_()
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
        last = min(first + per_step, len(self.train_loader))  # one past its last
        samples_per_epoch = len(self.train_loader.sampler)
        batch_size = self.train_loader.batch_size
        step_samples = min(last * batch_size, samples_per_epoch) - first * batch_size
        return size / step_samples

    def add_step(self, loss: torch.Tensor, prediction: torch.Tensor,
                 batch: dict[str, torch.Tensor], before_step: bool = True) -> None:
        """Add a training batch's loss and metrics to the sums, on the device: nothing
        here makes the CPU wait for the step to finish. `before_step`: the optimizer
        steps after this batch."""
        size = len(batch["supervision"])
        self.window_loss.add_(loss.detach(), alpha=size)
        if before_step:
            # |x| < inf is false for NaN and both infinities: two kernels, where
            # isfinite() launches four.
            self.finite_steps.add_(self.window_loss.abs() < math.inf)
        self.window_samples += size
        for name, value in self.model.metrics(prediction.detach(), batch).items():
            self.epoch_metrics[name] = self.epoch_metrics.get(name, 0) + value.float() * size

    def close_log_window(self, epoch: int) -> float:
        """The mean training loss of the log window just ended; starts the next one.
        Stops the run if the loss became NaN or infinite in the window."""
        window_sum = self.window_loss.item()
        self.window_loss.zero_()
        self.epoch_loss += window_sum
        self.epoch_samples += self.window_samples
        window_sum, window_samples = self.processes.sum_window(window_sum, self.window_samples)
        self.window_samples = 0
        mean = window_sum / window_samples
        if not math.isfinite(mean):
            self.diverged(epoch)
        return mean

    def checkpoint_or_stop(self, epoch: int, done: int) -> None:
        """After an optimizer step, `done` batches into the epoch: stop if asked to,
        with a checkpoint to resume from, or save one if the run's checkpoint interval
        has passed. Only after an optimizer step: a checkpoint holds no gradients, so
        one taken halfway through an accumulation would lose its first batches."""
        steps = self.optimizer_steps_done(done)
        epoch_end = done == len(self.train_loader)
        if self.processes.stop_requested(self.stop_signals, steps, self.log_interval, epoch_end):
            self.save_mid_epoch_checkpoint(epoch, done)
            raise TrainingStopped(self.processes.stop_signal(self.stop_signals))
        if self.processes.checkpoint_due(self.run, steps, self.log_interval):
            self.save_mid_epoch_checkpoint(epoch, done)

    def training_results(self, epoch: int) -> dict[str, float]:
        """The epoch's sample-weighted means of the training loss and metrics."""
        sums = {"loss": self.epoch_loss + self.window_loss.item(),
                **{name: total.item() for name, total in self.epoch_metrics.items()}}
        sums, samples = self.processes.add_up(sums, self.epoch_samples + self.window_samples)
        if not math.isfinite(sums["loss"]):
            self.diverged(epoch)
        return {name: total / samples for name, total in sums.items()}

    def diverged(self, epoch: int) -> NoReturn:
        """Stop the run: a training loss since the last check was not finite."""
        finite_steps = self.processes.first_bad_step(self.finite_steps.item())
        raise TrainingDiverged(
            f"the training loss became NaN or infinite at optimizer step {finite_steps + 1} "
            f"(epoch {epoch}); the run stopped there and saved nothing after it. A lower "
            "learning rate usually helps; so may a look at that step's batch.")

    def save_mid_epoch_checkpoint(self, epoch: int, position: int) -> None:
        if self.finite_steps.item() != self.step:
            self.diverged(epoch)  # never a checkpoint of weights a bad step has touched
        state = self.state(epoch, position)  # every process takes part: see `processes`
        if self.run is not None:
            percent = 100 * position // len(self.train_loader)
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

    def add_held_out(self, values: dict[str, torch.Tensor], size: int) -> None:
        """Add a held-out batch's loss and metrics (means over its `size` samples)."""
        for name, value in values.items():
            # In float32: a bfloat16 sum over many batches would lose the small ones.
            self.held_out_totals[name] = self.held_out_totals.get(name, 0) + value.float() * size
        self.held_out_samples += size

    def stop_if_requested(self, epoch: int | None, phase: str, done: int) -> None:
        """After `done` batches of a held-out pass of `epoch`: stop if asked to, with a
        checkpoint from which a resumed run continues the pass. The final test's pass
        (epoch None) saves none: a resumed run tests again, from the start."""
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


def epoch_summary(epoch: int, results: dict[str, dict[str, float]]) -> str:
    return f"epoch {epoch}: " + phase_summary(results)


def phase_summary(results: dict[str, dict[str, float]]) -> str:
    return " | ".join(
        f"{phase} " + " ".join(f"{name} {value:.4g}" for name, value in values.items())
        for phase, values in results.items()
    )


def check_finite(epoch: int, results: dict[str, dict[str, float]]) -> None:
    """A held-out loss that is NaN or infinite fails the run rather than become its best."""
    for phase, values in results.items():
        if not math.isfinite(values["loss"]):
            raise TrainingDiverged(
                f"the {phase} loss of epoch {epoch} is {values['loss']} (NaN or infinite); "
                "the run stopped there and saved nothing of that epoch.")
