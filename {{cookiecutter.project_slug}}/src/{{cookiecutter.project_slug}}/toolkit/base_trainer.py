"""TrainerBase: the loop that runs your steps, and keeps the books around them.

train.py's Trainer extends TrainerBase and writes the steps: `training_step`, a
batch's loss and prediction; `held_out_step`, a batch's loss and metrics in a
held-out phase; and `<kind>_step`, the same for the phase of a further kind of
dataset that schema.py's DATA_LOADERS names (`<name>_<kind>`). TrainerBase runs them:

  fit            every epoch left: a training pass, then the epoch's held-out phases,
                 then the epoch's end (results, selection, checkpoint); then the
                 final test, with the selected epoch's weights;
  train_loop     one pass over the training data: the device, gradient accumulation,
                 mixed precision, clipping, optimizer and scheduler steps, logging;
  evaluate       one held-out pass, with no gradients.

Between the steps, the loop calls the books (bookkeeping.py: checkpoints and
resuming, stop signals, loss sums, NaN checks, shapes) at the places that make a
stopped run continue exactly where it stood. Override a loop only when your task needs
it, and keep those calls: a pass that leaves one out is refused at the first epoch,
with the call named. Where a job's processes would have to agree, TrainerBase asks its
`processes` (processes.py).
"""

import math
from collections.abc import Iterator
from contextlib import nullcontext
from functools import partial

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from {{ cookiecutter.project_slug }}.toolkit.base_model import FishboticsModel, WarmupCosine
from {{ cookiecutter.project_slug }}.toolkit.bookkeeping import Bookkeeping
from {{ cookiecutter.project_slug }}.toolkit.builders import DATASET_KEY
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import read_checkpoint
from {{ cookiecutter.project_slug }}.toolkit.processes import SingleProcess
from {{ cookiecutter.project_slug }}.toolkit.run_directory import RunDirectory, tagged
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
    StopSignals,
    TrainingDiverged,
    TrainingFailed,
)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    # non_blocking only pays off from pinned memory, which the loaders use on CUDA only.
    non_blocking = device.type == "cuda"
    return {key: value.to(device, non_blocking=non_blocking) for key, value in batch.items()}


class TrainerBase(Bookkeeping):
    """The loop; train.py's Trainer adds the steps."""

    def __init__(
        self,
        config: dict,
        model: FishboticsModel,
        loss_function,
        loaders: dict[str, DataLoader | None],
        *,
        device: torch.device,
        run: RunDirectory | None = None,
        stop_signals: StopSignals | None = None,
        processes: SingleProcess | None = None,
    ):
        """`config`: the run's whole config (a field you add to schema.py is read here,
        as self.config[...]); `loaders`: by phase, "train" and the held-out phases, a
        phase whose loader is None or absent skipped (no "train": evaluation only)."""
        self.config = config
        self.processes = processes or SingleProcess()
        self.model = model.to(device)
        self.optimizer = model.optimizer()
        self.device = device
        # The loaders' batches are on the CPU already: a CPU run skips moving them, a
        # call per tensor and step.
        self.moves_batches = device.type != "cpu"
        self.epochs = config["epochs"]
        self.log_interval = config["log_interval"]
        self.gradient_accumulation_steps = config["gradient_accumulation_steps"]
        self.gradient_clip_norm = config["gradient_clip_norm"]  # None: no clipping
        self.run = run  # None: nothing is logged or saved
        self.stop_signals = stop_signals
        self.train_loader = loaders.get("train")
        # The training pass's length, asked once: a DataLoader's len() is six Python calls.
        self.train_batches = len(self.train_loader) if self.train_loader is not None else 0
        # By phase: "val" every epoch and "test" once at the end, each followed by the
        # phases of any further kind of dataset; a phase whose data loader the config
        # leaves out is not there.
        self.held_out_loaders = {
            phase: loader
            for phase, loader in loaders.items()
            if phase != "train" and loader is not None
        }
        # An epoch's last optimizer step takes the batches left over, however few.
        self.steps_per_epoch = math.ceil(self.train_batches / self.gradient_accumulation_steps)
        self.scheduler_per_step, self.scheduler = self.learning_rate_scheduler()
        # Training steps go through `network`, compiled if asked: it is what runs most
        # often. Checkpoints and held-out phases use the model itself.
        network = self.processes.wrap(self.model)
        self.network = torch.compile(network) if config["compile_model"] else network
        # bfloat16 has float32's range, so unlike float16 it needs no gradient scaling.
        self.autocast = (
            partial(torch.autocast, device.type, dtype=torch.bfloat16)
            if config["mixed_precision"] == "bf16"
            else nullcontext
        )
        # The steps call `loss_function`. Each pass's first call goes through
        # `first_batch_loss`, which checks the shapes and hands the rest of the pass to
        # the loss function itself: the check costs nothing after the first batch.
        self.unchecked_loss_function = loss_function
        self.loss_function = loss_function
        self.checked_phase = "train"  # the pass whose first batch is checked
        self.open_books()

    def learning_rate_scheduler(self) -> tuple[bool, object]:
        """Whether the scheduler steps after every optimizer step (else after every
        epoch), and the scheduler (None: a constant rate)."""
        schedule = self.config["learning_rate_schedule"] or {"type": "exponential"}
        if schedule["type"] == "warmup_cosine":
            return True, WarmupCosine(
                self.optimizer,
                schedule["warmup_steps"],
                self.epochs * self.steps_per_epoch,
                schedule["final_learning_rate"],
            )
        return False, self.model.scheduler(self.optimizer)

    # ----------------------------------------------------------------------------------
    # Your steps: train.py's Trainer writes them

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch's mean loss and the network's prediction."""
        raise NotImplementedError("train.py's Trainer writes training_step")

    def held_out_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A held-out batch's mean loss and metrics, by name."""
        raise NotImplementedError("train.py's Trainer writes held_out_step")

    # ----------------------------------------------------------------------------------
    # The loop

    def fit(self) -> dict[str, dict[str, float]]:
        """Train for every epoch left, then test; returns the final test's results."""
        # The phases of every epoch after its training: the validation ones.
        epoch_phases = [phase for phase in self.held_out_loaders if phase.startswith("val")]
        for epoch in self.remaining_epochs():  # until the selection's patience runs out
            results = self.epoch_results  # phases done before a resume, else none yet
            if "train" not in results:
                position = self.resumed_position("train")
                results["train"] = self.train_loop(epoch, position)
                self.check_training_pass(position)
                if self.scheduler is not None and not self.scheduler_per_step:
                    self.scheduler.step()
            for phase in epoch_phases:
                if phase not in results:
                    position = self.resumed_position(phase)
                    results[phase] = self.evaluate(phase, epoch, position)
                    self.check_held_out_pass(phase, position)
            self.end_epoch(epoch, results)
        self.finish()
        return self.final_test()

    def train_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        """One pass over the training data, of which `resume_position` batches were
        done before the run was resumed."""
        self.network.train()
        self.start_training_pass(epoch, resume_position)
        progress = self.progress_bar(self.train_loader, epoch, "train", resume_position)
        accumulation = self.gradient_accumulation_steps
        batches = self.train_batches
        for position, batch in enumerate(progress, start=resume_position):
            done = position + 1
            # The optimizer steps once every `accumulation` batches, whose gradients add
            # up until then, and after the epoch's last batch.
            before_step = done % accumulation == 0 or done == batches
            if self.moves_batches:
                batch = to_device(batch, self.device)
            batch = self.model.transform(batch)
            # A job of several processes averages their gradients only before a step.
            with self.processes.gradient_sync(before_step):
                with self.autocast():
                    loss, prediction = self.training_step(batch)
                if accumulation == 1:
                    loss.backward()
                else:  # weighted by its share of the step's samples, the batches' gradients
                    # add up to the mean over all of them, as one big batch's would be
                    (loss * self.share_of_step(position, len(batch["supervision"]))).backward()
            self.add_step(loss, prediction, batch, before_step)  # summed on the device: no wait
            if before_step:
                self.optimizer_step(epoch, done, progress)
        return self.training_results(epoch)

    def optimizer_step(self, epoch: int, done: int, progress: tqdm) -> None:
        """The optimizer's step after `done` batches of the epoch, then the log window's
        end if due, then a checkpoint or a stop if due."""
        if self.gradient_clip_norm is not None:  # the norm stays on the device: no wait
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler_per_step:
            self.scheduler.step()
        self.step += 1
        if self.optimizer_steps_done(done) % self.log_interval == 0:
            mean = self.close_log_window(epoch)  # reads the sums; stops on NaN
            # Shown at the bar's next refresh: forcing one here costs a write per interval.
            progress.set_postfix(loss=f"{mean:.4g}", refresh=False)
            if self.run is not None:
                self.run.log_scalars(self.step, {"train_step/loss": mean})
        self.checkpoint_or_stop(epoch, done)  # only between optimizer steps

    @torch.no_grad()
    def evaluate(
        self, phase: str, epoch: int | None = None, resume_position: int = 0
    ) -> dict[str, float]:
        """Sample-weighted means of the loss and the model's metrics over the held-out
        phase's data, of which `resume_position` batches were done before the run was
        resumed. `epoch` is None outside training (the final test, run.py --evaluate)."""
        loader = self.held_out_loaders[phase]
        self.model.eval()
        step = self.step_of(phase)
        self.start_held_out_pass(loader, phase, resume_position)
        progress = self.progress_bar(loader, epoch, phase, resume_position)
        for position, batch in enumerate(progress, start=resume_position):
            if self.moves_batches:
                batch = to_device(batch, self.device)
            batch = self.model.transform(batch)
            with self.autocast():
                values = step(batch)
            self.add_held_out(values, size=len(batch["supervision"]))
            self.stop_if_requested(epoch, phase, done=position + 1)
        return self.held_out_results()

    def step_of(self, phase: str):
        """The step a held-out phase runs: `held_out_step`, or for the phase of a further
        kind of dataset, `<name>_<kind>`, the Trainer's `<kind>_step`."""
        kinds = [key.removesuffix(DATASET_KEY) for key in self.config if key.endswith(DATASET_KEY)]
        kind = next(
            (
                kind
                for kind in kinds
                if kind not in ("train", "test") and phase.endswith(f"_{kind}")
            ),
            None,
        )
        if kind is None:
            return self.held_out_step
        if not hasattr(self, f"{kind}_step"):
            raise TrainingFailed(
                f"the config reads a {kind} dataset ({kind}{DATASET_KEY}), but train.py's "
                f"Trainer has no {kind}_step for its {phase} phase: write one, or set "
                f"{kind}{DATASET_KEY}: null."
            )
        return getattr(self, f"{kind}_step")

    def final_test(self) -> dict[str, dict[str, float]]:
        """The test phases, read once, with the weights of the epoch the selection chose."""
        self.load_selected_weights()
        results = {}
        for phase in self.held_out_loaders:
            if phase.startswith("test"):
                results[phase] = self.evaluate(phase)
                self.check_held_out_pass(phase, 0)
        self.record_final_test(results)
        return results

    def progress_bar(self, loader: DataLoader, epoch: int | None, phase: str, done: int) -> tqdm:
        """`loader` with a progress bar, `done` of its batches already behind it."""
        description = phase if epoch is None else f"epoch {epoch} {phase}"
        return tqdm(
            loader,
            desc=description,
            leave=False,
            total=len(loader),
            initial=done,
            disable=not self.processes.is_main,
        )

    # ----------------------------------------------------------------------------------
    # Epochs

    def remaining_epochs(self) -> Iterator[int]:
        """The epochs left to train, until the selection's patience runs out."""
        for epoch in range(self.first_epoch, self.epochs):
            if self.selection.out_of_patience():
                if self.processes.is_main:
                    tqdm.write(
                        f"stopping early: no better {self.selection.metric} for "
                        f"{self.selection.patience} epochs after epoch "
                        f"{self.selection.best_epoch}"
                    )
                return
            if self.pruned:
                if self.processes.is_main:
                    tqdm.write(
                        f"stopping early: the search's pruner stopped this trial "
                        f"after epoch {epoch - 1}"
                    )
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
            self.best_weights = {
                name: tensor.detach().to("cpu", copy=True)
                for name, tensor in self.model.state_dict().items()
            }
        # Once per epoch, and only in a trial: every process takes the main one's word.
        self.pruned = self.processes.main_decides(
            self.trial is not None
            and self.trial.should_prune(epoch, scalars[self.selection.metric])
        )
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
            tqdm.write(
                f"final test, with the weights of epoch {self.selection.best_epoch} "
                f"(the best by {self.selection.describe()}): {phase_summary(results)}"
            )
        if self.run is not None:
            self.run.record_final_test(self.step, self.selection.best_epoch, results)


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
                "the run stopped there and saved nothing of that epoch."
            )
