{% if cookiecutter.include_rollout_phase %}
"""The Trainer: the training, test and evaluation loops of every epoch.
{% else %}
"""The Trainer: the training and test loops of every epoch.
{% endif %}

Each epoch runs
  1. train_loop       one pass over the training data, updating the model;
  2. test_loop        the same cheap loss on held-out data, without updates;
{% if cookiecutter.include_rollout_phase %}
  3. evaluation_loop  the expensive rollout, on a fresh random subset of at most
                      `eval_max_samples` held-out samples.
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
"""

import torch
{% if cookiecutter.multi_gpu %}
from torch.nn.parallel import DistributedDataParallel
{% endif %}
from torch.utils.data import DataLoader
from tqdm import tqdm

{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }} import distributed
{% endif %}
from {{ cookiecutter.project_slug }}.experiment import RunDirectory
from {{ cookiecutter.project_slug }}.model import FishboticsModel


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    # non_blocking only pays off from pinned memory, which the loaders use on CUDA only.
    non_blocking = device.type == "cuda"
    return {key: value.to(device, non_blocking=non_blocking) for key, value in batch.items()}


class Trainer:
    def __init__(self, model: FishboticsModel, loss_function, train_loader: DataLoader, *,
                 epochs: int, device: torch.device, test_loader: DataLoader | None = None,
{% if cookiecutter.include_rollout_phase %}
                 eval_loader: DataLoader | None = None,
{% endif %}
{% if cookiecutter.multi_gpu %}
                 log_interval: int = 50, run: RunDirectory | None = None,
                 process: distributed.Process | None = None):
{% else %}
                 log_interval: int = 50, run: RunDirectory | None = None):
{% endif %}
        self.model = model.to(device)
        self.optimizer = model.optimizer()
{% if cookiecutter.multi_gpu %}
        self.process = process  # None: a single process
        self.is_main = process is None or process.is_main
        # Training steps go through DDP, which averages the gradients across ranks.
        # Evaluation calls the model itself: it needs no gradients, hence no collectives.
        self.network = model if process is None else DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
{% endif %}
        self.loss_function = loss_function
        self.train_loader = train_loader
        self.test_loader = test_loader
{% if cookiecutter.include_rollout_phase %}
        self.eval_loader = eval_loader
{% endif %}
        self.epochs = epochs
        self.device = device
        self.log_interval = log_interval
{% if cookiecutter.multi_gpu %}
        self.run = run  # None: nothing is logged or saved (and on every rank but 0)
{% else %}
        self.run = run  # None: nothing is logged or saved
{% endif %}
        self.step = 0  # optimizer steps so far: the x axis of per-step curves

    def fit(self) -> dict[str, dict[str, float]]:
        """Train for every epoch; returns the last epoch's results by phase."""
        for epoch in range(self.epochs):
            results = {"train": self.train_loop(epoch)}
            if self.test_loader is not None:
                results["test"] = self.test_loop(epoch)
{% if cookiecutter.include_rollout_phase %}
            if self.eval_loader is not None:
                results["eval"] = self.evaluation_loop(epoch)
            metric = "eval" if "eval" in results else "test" if "test" in results else "train"
{% else %}
            metric = "test" if "test" in results else "train"
{% endif %}
{% if cookiecutter.multi_gpu %}
            if self.is_main:
                tqdm.write(epoch_summary(epoch, results))
{% else %}
            tqdm.write(epoch_summary(epoch, results))
{% endif %}
            if self.run is not None:
                self.run.end_epoch(epoch, results, f"{metric}/loss", self.state(epoch))
{% if cookiecutter.multi_gpu %}
        if self.process is not None:
            self.check_replicas()
{% endif %}
        return results

    def state(self, epoch: int) -> dict:
        return {
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "epoch": epoch,
        }

    # ----------------------------------------------------------------------------------
    # The phases

    def train_loop(self, epoch: int) -> dict[str, float]:
{% if cookiecutter.multi_gpu %}
        self.network.train()
        if self.process is not None:
            # A new shuffle every epoch, the same on every rank.
            self.train_loader.sampler.set_epoch(epoch)
{% else %}
        self.model.train()
{% endif %}
        steps = len(self.train_loader)
        # Losses are summed on the device: reading one every step would make the CPU
        # wait for the GPU. They are read once per log interval and once per epoch.
        epoch_loss = torch.zeros((), device=self.device)
        window_loss = torch.zeros((), device=self.device)
        samples = 0
{% if cookiecutter.multi_gpu %}
        progress = tqdm(self.train_loader, desc=f"epoch {epoch} train", leave=False,
                        disable=not self.is_main)
        for step, batch in enumerate(progress):
            batch = self.model.transform(to_device(batch, self.device))
            loss = self.loss_function(self.network(batch), batch["supervision"])
{% else %}
        progress = tqdm(self.train_loader, desc=f"epoch {epoch} train", leave=False)
        for step, batch in enumerate(progress):
            batch = self.model.transform(to_device(batch, self.device))
            loss = self.loss_function(self.model(batch), batch["supervision"])
{% endif %}
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1

            size = len(batch["supervision"])
            epoch_loss += loss.detach() * size
            window_loss += loss.detach()
            samples += size
            if (step + 1) % self.log_interval == 0:
{% if cookiecutter.multi_gpu %}
                mean = self.summed(window_loss).item() / (self.log_interval * self.world_size)
{% else %}
                mean = window_loss.item() / self.log_interval
{% endif %}
                window_loss.zero_()
                progress.set_postfix(loss=f"{mean:.4g}")
                if self.run is not None:
                    self.run.log_scalars(self.step, {"train_step/loss": mean})
{% if cookiecutter.multi_gpu %}
            if self.checkpoint_due(step) and self.run is not None:
                percent = 100 * (step + 1) // steps
                self.run.save_mid_epoch_checkpoint(epoch, percent, self.state(epoch))
        totals = self.summed(torch.stack([epoch_loss, epoch_loss.new_tensor(samples)]))
        return {"loss": totals[0].item() / totals[1].item()}
{% else %}
            if self.run is not None and self.run.checkpoint_due():
                percent = 100 * (step + 1) // steps
                self.run.save_mid_epoch_checkpoint(epoch, percent, self.state(epoch))
        return {"loss": epoch_loss.item() / samples}
{% endif %}

    def test_loop(self, epoch: int) -> dict[str, float]:
        return self.evaluate(self.test_loader, f"epoch {epoch} test")
{% if cookiecutter.include_rollout_phase %}

    def evaluation_loop(self, epoch: int) -> dict[str, float]:
        self.model.rollout_mode = True
        try:
            return self.evaluate(self.eval_loader, f"epoch {epoch} rollout")
        finally:
            self.model.rollout_mode = False
{% endif %}

    @torch.no_grad()
    def evaluate(self, loader: DataLoader, description: str) -> dict[str, float]:
        """Sample-weighted means of the loss and the model's metrics over `loader`."""
        self.model.eval()
        totals: dict[str, torch.Tensor] = {}
        samples = 0
{% if cookiecutter.multi_gpu %}
        for batch in tqdm(loader, desc=description, leave=False, disable=not self.is_main):
{% else %}
        for batch in tqdm(loader, desc=description, leave=False):
{% endif %}
            batch = self.model.transform(to_device(batch, self.device))
            prediction = self.model(batch)
            values = {"loss": self.loss_function(prediction, batch["supervision"]),
                      **self.model.metrics(prediction, batch)}
            size = len(batch["supervision"])
            for name, value in values.items():
                totals[name] = totals.get(name, 0) + value * size
            samples += size
{% if cookiecutter.multi_gpu %}
        sums = {name: total.item() for name, total in totals.items()}
        if self.process is not None:
            # Each rank saw its own share of the data; together they saw all of it once.
            sums, samples = distributed.add_up(sums, samples)
        return {name: total / samples for name, total in sums.items()}
{% else %}
        return {name: total.item() / samples for name, total in totals.items()}
{% endif %}
{% if cookiecutter.multi_gpu %}

    # ----------------------------------------------------------------------------------
    # Agreement between ranks

    @property
    def world_size(self) -> int:
        return 1 if self.process is None else self.process.world_size

    def summed(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over the ranks (itself in a single process)."""
        return tensor if self.process is None else distributed.sum_over_ranks(tensor)

    def checkpoint_due(self, step: int) -> bool:
        if self.process is None:
            return self.run is not None and self.run.checkpoint_due()
        # Rank 0's clock decides, and every rank hears the decision at the log boundaries
        # where the ranks meet anyway. Ranks asking their own clocks would disagree, and
        # anything a checkpoint collects from every rank would then wait forever.
        if (step + 1) % self.log_interval:
            return False
        return distributed.broadcast_from_main(
            self.run is not None and self.run.checkpoint_due())

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
