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
"""

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

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
                 log_interval: int = 50, run: RunDirectory | None = None):
        self.model = model.to(device)
        self.optimizer = model.optimizer()
        self.loss_function = loss_function
        self.train_loader = train_loader
        self.test_loader = test_loader
{% if cookiecutter.include_rollout_phase %}
        self.eval_loader = eval_loader
{% endif %}
        self.epochs = epochs
        self.device = device
        self.log_interval = log_interval
        self.run = run  # None: nothing is logged or saved
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
            tqdm.write(f"epoch {epoch}: " + " | ".join(
                f"{phase} " + " ".join(f"{name} {value:.4g}" for name, value in values.items())
                for phase, values in results.items()
            ))
            if self.run is not None:
                self.run.end_epoch(epoch, results, f"{metric}/loss", self.state(epoch))
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
        self.model.train()
        steps = len(self.train_loader)
        # The loss is summed on the device, weighted by batch size, in one in-place op per
        # step: reading it every step would make the CPU wait for the GPU. Each log
        # interval's sum is read at its end and added to the epoch's on the host.
        window_loss = torch.zeros((), device=self.device)
        window_samples, epoch_loss, epoch_samples = 0, 0.0, 0
        progress = tqdm(self.train_loader, desc=f"epoch {epoch} train", leave=False)
        for step, batch in enumerate(progress):
            batch = self.model.transform(to_device(batch, self.device))
            loss = self.loss_function(self.model(batch), batch["supervision"])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1

            size = len(batch["supervision"])
            window_loss.add_(loss.detach(), alpha=size)
            window_samples += size
            if (step + 1) % self.log_interval == 0:
                window_sum = window_loss.item()
                window_loss.zero_()
                mean = window_sum / window_samples
                epoch_loss, epoch_samples = epoch_loss + window_sum, epoch_samples + window_samples
                window_samples = 0
                # Shown at the bar's next refresh: forcing one here costs a write per interval.
                progress.set_postfix(loss=f"{mean:.4g}", refresh=False)
                if self.run is not None:
                    self.run.log_scalars(self.step, {"train_step/loss": mean})
            if self.run is not None and self.run.checkpoint_due():
                percent = 100 * (step + 1) // steps
                self.run.save_mid_epoch_checkpoint(epoch, percent, self.state(epoch))
        return {"loss": (epoch_loss + window_loss.item()) / (epoch_samples + window_samples)}

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
        for batch in tqdm(loader, desc=description, leave=False):
            batch = self.model.transform(to_device(batch, self.device))
            prediction = self.model(batch)
            values = {"loss": self.loss_function(prediction, batch["supervision"]),
                      **self.model.metrics(prediction, batch)}
            size = len(batch["supervision"])
            for name, value in values.items():
                totals[name] = totals.get(name, 0) + value * size
            samples += size
        return {name: total.item() / samples for name, total in totals.items()}
