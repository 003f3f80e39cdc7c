{% if cookiecutter.include_rollout_phase %}
"""The Trainer: the training, test and evaluation loops of every epoch.
{% else %}
"""The Trainer: the training and test loops of every epoch.
{% endif %}

Each epoch runs
  1. train_loop       one pass over the training data, updating the model;
  2. test_loop        the same cheap loss on held-out data, without updates;
{% if cookiecutter.include_rollout_phase %}
  3. rollout_loop  the expensive rollout, on a fresh random subset of at most
                      `rollout_max_samples` held-out samples.
{% endif %}
A phase whose data loader the config leaves out is skipped. The best checkpoint
{% if cookiecutter.include_rollout_phase %}
is the one with the lowest evaluation loss, else test loss, else training loss.
{% else %}
is the one with the lowest test loss, else training loss.
{% endif %}
{% if cookiecutter.multi_gpu %}

Under multi-GPU every rank runs this same code on its share of the data (see
distributed.py); the numbers reported are the job's, summed over the ranks, and only
rank 0 prints and writes to the run directory.
{% endif %}

A checkpoint (`state`) holds everything needed to continue exactly where training
stood: weights, optimizer, scheduler, the phase and position in the epoch, the loss sums
of the epoch (or of the held-out phase) so far, the results of the phases already done,
and every random generator's state. `restore` puts all of it back.

{% if cookiecutter.include_rollout_phase %}
A stop signal is honoured between two batches of any phase: a rollout can take hours,
so the held-out phases check too, and a run stopped in one continues it where it stood.
{% else %}
A stop signal is honoured between two batches of any phase, held-out phases included,
and a run stopped in one continues it where it stood.
{% endif %}
"""

import math
{% if cookiecutter.multi_gpu %}
import signal
{% endif %}
from contextlib import nullcontext
from functools import partial
from typing import NoReturn

import torch
{% if cookiecutter.multi_gpu %}
from torch.nn.parallel import DistributedDataParallel
{% endif %}
from torch.utils.data import DataLoader
from tqdm import tqdm

{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit import distributed, random_state
{% else %}
from {{ cookiecutter.project_slug }}.toolkit import random_state
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.base_model import FishboticsModel
from {{ cookiecutter.project_slug }}.toolkit.experiment import RunDirectory
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals, TrainingDiverged, TrainingStopped


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    # non_blocking only pays off from pinned memory, which the loaders use on CUDA only.
    non_blocking = device.type == "cuda"
    return {key: value.to(device, non_blocking=non_blocking) for key, value in batch.items()}


class Trainer:
    def __init__(self, model: FishboticsModel, loss_function, train_loader: DataLoader, *,
                 epochs: int, device: torch.device, test_loader: DataLoader | None = None,
{% if cookiecutter.include_rollout_phase %}
                 rollout_loader: DataLoader | None = None,
{% endif %}
                 log_interval: int = 50, mixed_precision: str | None = None,
                 compile_model: bool = False, run: RunDirectory | None = None,
{% if cookiecutter.multi_gpu %}
                 stop_signals: StopSignals | None = None,
                 process: distributed.Process | None = None):
{% else %}
                 stop_signals: StopSignals | None = None):
{% endif %}
        self.model = model.to(device)
        self.optimizer = model.optimizer()
        self.scheduler = model.scheduler(self.optimizer)
{% if cookiecutter.multi_gpu %}
        self.process = process  # None: a single process
        self.is_main = process is None or process.is_main
        # Training steps go through DDP, which averages the gradients across ranks.
        # Evaluation calls the model itself: it needs no gradients, hence no collectives.
        network = model if process is None else DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
        # Only the training step is compiled: it is what runs most often.
        self.network = torch.compile(network) if compile_model else network
{% else %}
        # Training steps go through `network`, compiled if asked: it is what runs most
        # often. Checkpoints and evaluation use the model itself.
        self.network = torch.compile(model) if compile_model else model
{% endif %}
        # bfloat16 has float32's range, so unlike float16 it needs no gradient scaling.
        self.autocast = (partial(torch.autocast, device.type, dtype=torch.bfloat16)
                         if mixed_precision == "bf16" else nullcontext)
        self.loss_function = loss_function
        self.train_loader = train_loader
        self.test_loader = test_loader
{% if cookiecutter.include_rollout_phase %}
        self.rollout_loader = rollout_loader
{% endif %}
        self.epochs = epochs
        self.device = device
        self.log_interval = log_interval
{% if cookiecutter.multi_gpu %}
        self.run = run  # None: nothing is logged or saved (and on every rank but 0)
{% else %}
        self.run = run  # None: nothing is logged or saved
{% endif %}
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
        # A NaN or infinite loss stays so in the window's sum, so the steps at which the
        # sum is still finite count the steps before the first bad one, on the device
        # too; it is read with the sum, and before any checkpoint is saved.
        self.finite_steps = torch.zeros((), dtype=torch.long, device=device)
        self.epoch_loss, self.epoch_samples = 0.0, 0
        self.epoch_metrics: dict[str, torch.Tensor] = {}  # the model's metrics, summed likewise
        # The training order is drawn at an epoch's start; a resumed epoch draws it again.
        self.train_order_state = train_loader.generator.get_state()
        # The held-out phase in progress: its order's generator state at its start, and
{% if cookiecutter.multi_gpu %}
        # its loss and metric sums so far (this rank's), kept on the device.
{% else %}
        # its loss and metric sums so far, kept on the device.
{% endif %}
        self.held_out_order_state: torch.Tensor | None = None
        self.held_out_totals: dict[str, torch.Tensor] = {}
        self.held_out_samples = 0

    def fit(self) -> dict[str, dict[str, float]]:
        """Train for every epoch left; returns the last epoch's results by phase."""
        results = {}
        for epoch in range(self.first_epoch, self.epochs):
            results = self.epoch_results  # phases done before a resume, else none yet
            if "train" not in results:
                results["train"] = self.train_loop(epoch, self.resumed_position("train"))
                if self.scheduler is not None:
                    self.scheduler.step()
            if self.test_loader is not None and "test" not in results:
                results["test"] = self.test_loop(epoch, self.resumed_position("test"))
{% if cookiecutter.include_rollout_phase %}
            if self.rollout_loader is not None:
                results["rollout"] = self.rollout_loop(epoch, self.resumed_position("rollout"))
            metric = "rollout" if "rollout" in results else "test" if "test" in results else "train"
{% else %}
            metric = "test" if "test" in results else "train"
{% endif %}
            check_finite(epoch, results)
{% if cookiecutter.multi_gpu %}
            if self.is_main:
                tqdm.write(epoch_summary(epoch, results))
{% else %}
            tqdm.write(epoch_summary(epoch, results))
{% endif %}
            state = self.state(epoch, position=None)
            self.epoch_results = {}
            if self.run is not None:
                self.run.end_epoch(epoch, self.step, results, f"{metric}/loss", state)
{% if cookiecutter.multi_gpu %}
        if self.process is not None:
            self.check_replicas()
{% endif %}
        return results

    def loaders(self) -> dict[str, DataLoader]:
        loaders = {"train": self.train_loader, "test": self.test_loader}
{% if cookiecutter.include_rollout_phase %}
        loaders["rollout"] = self.rollout_loader
{% endif %}
        return {phase: loader for phase, loader in loaders.items() if loader is not None}

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
{% if cookiecutter.multi_gpu %}
            # Each rank's own random numbers and loss sums, in rank order.
            "process_states": self.gathered_process_states(),
{% else %}
            "process_state": self.process_state(),
{% endif %}
        }

    def process_state(self) -> dict:
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
        if checkpoint["position"] is None:
            self.first_epoch, self.resume_position = checkpoint["epoch"] + 1, 0
        else:
            self.first_epoch, self.resume_position = checkpoint["epoch"], checkpoint["position"]
            self.resume_phase = checkpoint["phase"]
            self.epoch_results = checkpoint["results"]
{% if cookiecutter.multi_gpu %}
        rank = 0 if self.process is None else self.process.rank
        if rank >= len(checkpoint["process_states"]):
            return  # a rank the run did not have (run.py warned): it starts afresh
        own = checkpoint["process_states"][rank]
{% else %}
        own = checkpoint["process_state"]
{% endif %}
        self.window_loss = own["window_loss"].to(self.device)
        self.window_samples = own["window_samples"]
        self.epoch_loss, self.epoch_samples = own["epoch_loss"], own["epoch_samples"]
        self.epoch_metrics = {name: total.to(self.device)
                              for name, total in own["epoch_metrics"].items()}
        self.held_out_totals = {name: total.to(self.device)
                                for name, total in own["held_out_totals"].items()}
        self.held_out_samples = own["held_out_samples"]
        random_state.restore(own["random"])  # last: nothing may draw from them after this

    def resumed_position(self, phase: str) -> int:
        """Batches of `phase` done before the run resumed: 0 unless it resumed in it."""
        if self.resume_phase != phase:
            return 0
        position, self.resume_phase, self.resume_position = self.resume_position, None, 0
        return position

    # ----------------------------------------------------------------------------------
    # The phases

    def train_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        """One pass over the training data, of which `resume_position` batches were
        done before the run was resumed."""
        self.network.train()
{% if cookiecutter.multi_gpu %}
        if self.process is not None:
            # A new shuffle every epoch, the same on every rank.
            self.train_loader.sampler.set_epoch(epoch)
{% endif %}
        if resume_position:
            self.train_loader.generator.set_state(self.train_order_state)
            self.train_loader.sampler.skip = resume_position * self.train_loader.batch_size
        else:
            self.train_order_state = self.train_loader.generator.get_state()
            self.window_loss.zero_()
            self.window_samples, self.epoch_loss, self.epoch_samples = 0, 0.0, 0
            self.epoch_metrics = {}
        steps = len(self.train_loader)
{% if cookiecutter.multi_gpu %}
        progress = tqdm(self.train_loader, desc=f"epoch {epoch} train", leave=False,
                        total=steps, initial=resume_position, disable=not self.is_main)
{% else %}
        progress = tqdm(self.train_loader, desc=f"epoch {epoch} train", leave=False,
                        total=steps, initial=resume_position)
{% endif %}
        for step, batch in enumerate(progress, start=resume_position):
            batch = self.model.transform(to_device(batch, self.device))
            with self.autocast():
                prediction = self.network(batch)
                loss = self.loss_function(prediction, batch["supervision"])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1

            size = len(batch["supervision"])
            self.window_loss.add_(loss.detach(), alpha=size)
            # |x| < inf is false for NaN and both infinities: two kernels, where
            # isfinite() launches four.
            self.finite_steps.add_(self.window_loss.abs() < math.inf)
            self.window_samples += size
            for name, value in self.model.metrics(prediction.detach(), batch).items():
                self.epoch_metrics[name] = self.epoch_metrics.get(name, 0) + value.float() * size
            if (step + 1) % self.log_interval == 0:
                mean = self.close_log_window()
                if not math.isfinite(mean):
                    self.diverged(epoch)
                # Shown at the bar's next refresh: forcing one here costs a write per interval.
                progress.set_postfix(loss=f"{mean:.4g}", refresh=False)
                if self.run is not None:
                    self.run.log_scalars(self.step, {"train_step/loss": mean})
            if self.stop_requested(step):
                self.save_mid_epoch_checkpoint(epoch, step + 1, steps)
{% if cookiecutter.multi_gpu %}
                raise TrainingStopped(getattr(self.stop_signals, "received", None)
                                      or "a signal to another rank")
{% else %}
                raise TrainingStopped(self.stop_signals.received)
{% endif %}
            if self.checkpoint_due(step):
                self.save_mid_epoch_checkpoint(epoch, step + 1, steps)
        sums = {"loss": self.epoch_loss + self.window_loss.item(),
                **{name: total.item() for name, total in self.epoch_metrics.items()}}
        samples = self.epoch_samples + self.window_samples
{% if cookiecutter.multi_gpu %}
        if self.process is not None:
            sums, samples = distributed.add_up(sums, samples)
{% endif %}
        if not math.isfinite(sums["loss"]):
            self.diverged(epoch)
        return {name: total / samples for name, total in sums.items()}

    def close_log_window(self) -> float:
        """The mean training loss of the log window just ended; starts the next one."""
        window_sum = self.window_loss.item()
        self.window_loss.zero_()
        self.epoch_loss += window_sum
        self.epoch_samples += self.window_samples
{% if cookiecutter.multi_gpu %}
        window_sum, window_samples = self.summed_numbers(window_sum, self.window_samples)
{% else %}
        window_samples = self.window_samples
{% endif %}
        self.window_samples = 0
        return window_sum / window_samples

    def diverged(self, epoch: int) -> NoReturn:
        """Stop the run: a training loss since the last check was not finite."""
        finite_steps = self.finite_steps.item()
{% if cookiecutter.multi_gpu %}
        if self.process is not None:
            # Every rank is here (they all saw the same sum); the step is the earliest.
            finite_steps = min(distributed.gather(finite_steps))
{% endif %}
        raise TrainingDiverged(
            f"the training loss became NaN or infinite at optimizer step {finite_steps + 1} "
            f"(epoch {epoch}); the run stopped there and saved nothing after it. A lower "
            "learning rate usually helps; so may a look at that step's batch.")

    def save_mid_epoch_checkpoint(self, epoch: int, position: int, steps: int) -> None:
        if self.finite_steps.item() != self.step:
            self.diverged(epoch)  # never a checkpoint of weights a bad step has touched
{% if cookiecutter.multi_gpu %}
        state = self.state(epoch, position)  # on every rank: it gathers from each
{% else %}
        state = self.state(epoch, position)
{% endif %}
        if self.run is not None:
            self.run.save_mid_epoch_checkpoint(epoch, 100 * position // steps, state)

    def test_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
{% if cookiecutter.multi_gpu %}
        # A test batch costs about what a training step does: the ranks agree on
        # stopping as often as in training.
        return self.evaluate(self.test_loader, epoch, "test", resume_position,
                             agreement_interval=self.log_interval)
{% else %}
        return self.evaluate(self.test_loader, epoch, "test", resume_position)
{% endif %}
{% if cookiecutter.include_rollout_phase %}

    def rollout_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
{% if cookiecutter.multi_gpu %}
        # A rollout batch runs the model over a whole horizon, and may take long: the
        # ranks agree on stopping after every batch, a small cost next to it.
        return self.evaluate(self.rollout_loader, epoch, "rollout", resume_position,
                             agreement_interval=1)
{% else %}
        return self.evaluate(self.rollout_loader, epoch, "rollout", resume_position)
{% endif %}
{% endif %}

    @torch.no_grad()
{% if cookiecutter.multi_gpu %}
    def evaluate(self, loader: DataLoader, epoch: int, phase: str, resume_position: int = 0,
                 agreement_interval: int = 1) -> dict[str, float]:
{% else %}
    def evaluate(self, loader: DataLoader, epoch: int, phase: str,
                 resume_position: int = 0) -> dict[str, float]:
{% endif %}
        """Sample-weighted means of the loss and the model's metrics over `loader`, of
        which `resume_position` batches were done before the run was resumed."""
        self.model.eval()
        # On a resume, restore() set the generator back to the state the pass began with.
        self.held_out_order_state = loader.generator.get_state()
        if resume_position:
            loader.sampler.skip = resume_position * loader.batch_size
        else:
            self.held_out_totals, self.held_out_samples = {}, 0
{% if cookiecutter.multi_gpu %}
        agreement_points = self.agreement_points(loader, agreement_interval)
{% endif %}
        description = f"epoch {epoch} {phase}"
{% if cookiecutter.multi_gpu %}
        progress = tqdm(loader, desc=description, leave=False, total=len(loader),
                        initial=resume_position, disable=not self.is_main)
{% else %}
        progress = tqdm(loader, desc=description, leave=False, total=len(loader),
                        initial=resume_position)
{% endif %}
        for position, batch in enumerate(progress, start=resume_position):
            batch = self.model.transform(to_device(batch, self.device))
            with self.autocast():
{% if cookiecutter.include_rollout_phase %}
                if phase == "rollout":
                    prediction = self.model.rollout(batch)
                    metrics = self.model.rollout_metrics(prediction, batch)
                else:
                    prediction = self.model(batch)
                    metrics = self.model.metrics(prediction, batch)
{% else %}
                prediction = self.model(batch)
                metrics = self.model.metrics(prediction, batch)
{% endif %}
                values = {"loss": self.loss_function(prediction, batch["supervision"]),
                          **metrics}
            size = len(batch["supervision"])
            for name, value in values.items():
                # In float32: a bfloat16 sum over many batches would lose the small ones.
                self.held_out_totals[name] = (self.held_out_totals.get(name, 0)
                                              + value.float() * size)
            self.held_out_samples += size
{% if cookiecutter.multi_gpu %}
            if self.held_out_stop_requested(position + 1, agreement_points):
{% else %}
            if self.stop_signals is not None and self.stop_signals.received is not None:
{% endif %}
                self.save_held_out_checkpoint(epoch, phase, position + 1)
{% if cookiecutter.multi_gpu %}
                raise TrainingStopped(getattr(self.stop_signals, "received", None)
                                      or "a signal to another rank")
        sums = {name: total.item() for name, total in self.held_out_totals.items()}
        samples = self.held_out_samples
        if self.process is not None:
            # Each rank saw its own share of the data; together they saw all of it once.
            sums, samples = distributed.add_up(sums, samples)
        return {name: total / samples for name, total in sums.items()}
{% else %}
                raise TrainingStopped(self.stop_signals.received)
        return {name: total.item() / self.held_out_samples
                for name, total in self.held_out_totals.items()}
{% endif %}

    def save_held_out_checkpoint(self, epoch: int, phase: str, position: int) -> None:
{% if cookiecutter.multi_gpu %}
        state = self.state(epoch, position, phase)  # on every rank: it gathers from each
{% else %}
        state = self.state(epoch, position, phase)
{% endif %}
        if self.run is not None:
            # Named like a checkpoint at the end of the epoch's training, which it follows.
            self.run.save_mid_epoch_checkpoint(epoch, 100, state)

    # ----------------------------------------------------------------------------------
    # When to checkpoint, and when to stop

    def checkpoint_due(self, step: int) -> bool:
{% if cookiecutter.multi_gpu %}
        if self.process is not None:
            # Rank 0's clock decides, and every rank hears the decision at the log
            # boundaries where the ranks meet anyway: ranks asking their own clocks would
            # disagree, and the checkpoint, which gathers from every rank, would hang.
            if (step + 1) % self.log_interval:
                return False
            return distributed.broadcast_from_main(
                self.run is not None and self.run.checkpoint_due())
{% endif %}
        return self.run is not None and self.run.checkpoint_due()

    def stop_requested(self, step: int) -> bool:
        """Whether a stop signal came; checked between steps, never inside one."""
        requested = self.stop_signals is not None and self.stop_signals.received is not None
{% if cookiecutter.multi_gpu %}
        if self.process is not None:
            # The ranks stop together, at a log boundary, if any of them was signalled.
            if (step + 1) % self.log_interval:
                return False
            return self.agreed_stop()
{% endif %}
        return requested
{% if cookiecutter.multi_gpu %}

    def held_out_stop_requested(self, done: int, agreement_points: range) -> bool:
        """Whether to stop after `done` batches of a held-out phase. The ranks agree at
        `agreement_points` only, batch counts that every one of them reaches."""
        if self.process is not None:
            return done in agreement_points and self.agreed_stop()
        return self.stop_signals is not None and self.stop_signals.received is not None

    def agreement_points(self, loader: DataLoader, interval: int) -> range:
        """Every `interval`-th batch count of a held-out pass that every rank reaches:
        the ranks' shares of held-out data may differ by a batch (none is padded)."""
        if self.process is None:
            return range(0)  # a single process looks at its flag after every batch
        fewest = min(distributed.gather(len(loader)))
        return range(interval, fewest + 1, interval)

    def agreed_stop(self) -> bool:
        """Whether any rank received a stop signal: a collective, at a point every rank
        reaches. Every rank then records the same signal (the highest-numbered one
        received), so that all of them report it and exit with the same code."""
        received = getattr(self.stop_signals, "received", None)
        number = torch.tensor(signal.Signals[received].value if received else 0,
                              device=self.device)
        agreed = int(distributed.max_over_ranks(number).item())
        if agreed and self.stop_signals is not None:
            self.stop_signals.received = signal.Signals(agreed).name
        return agreed > 0

    # ----------------------------------------------------------------------------------
    # Agreement between ranks

    def summed(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over the ranks (itself in a single process)."""
        return tensor if self.process is None else distributed.sum_over_ranks(tensor)

    def summed_numbers(self, *numbers: float) -> list[float]:
        totals = torch.tensor(numbers, dtype=torch.float64, device=self.device)
        return self.summed(totals).tolist()

    def gathered_process_states(self) -> list[dict]:
        """Every rank's `process_state`, in rank order (one in a single process)."""
        state = self.process_state()
        return [state] if self.process is None else distributed.gather_state(state)

    def check_replicas(self) -> None:
        identical = distributed.replicas_identical(self.model)
        if self.run is not None:
            self.run.record_replicas_identical(identical)
        if self.is_main and not identical:
            tqdm.write("warning: the ranks ended with different weights; a part of the "
                       "model that DDP does not synchronise (a buffer changed outside "
                       "forward?) has drifted. The checkpoints hold rank 0's weights.")
{% endif %}


def epoch_summary(epoch: int, results: dict[str, dict[str, float]]) -> str:
    return f"epoch {epoch}: " + " | ".join(
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
