"""The Trainer: your steps. TrainerBase (toolkit/base_trainer.py) runs them.

Each epoch trains on the training split, batch by batch, through `training_step`,
then scores the validation split through `held_out_step`.
{% if cookiecutter.include_rollout_phase %}
The rollout phase (a fresh random subset of at most `rollout_max_samples` validation
samples) goes through `rollout_step`.
{% endif %}
A phase whose data loader the config leaves out is skipped. The config's `selection`
picks the best epoch by one of their numbers (val/loss, lowest, unless it says
otherwise), and may stop training early. The test split is read once, at the end,
with the best epoch's weights: its results are the ones to report.

This file is yours: change the steps as your task needs. Every step receives a batch
already on the device, inside the config's mixed precision, and returns mean values
over the batch. The loop around them (the optimizer, gradient accumulation and
clipping, logging, checkpoints and resuming, stop signals, NaN checks) is TrainerBase's.
self.config holds the run's whole config, a field you add to schema.py included.
"""

import torch

from {{ cookiecutter.project_slug }}.toolkit.base_trainer import TrainerBase


class Trainer(TrainerBase):
    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean loss, which the loop back-propagates, and the prediction,
        which it scores with the model's metrics."""
        prediction = self.network(batch)  # the model, wrapped for speed or for several processes
        return self.loss_function(prediction, batch["supervision"]), prediction

    def held_out_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch's mean loss and the model's metrics, with no gradients."""
        prediction = self.model(batch)
        return {
            "loss": self.loss_function(prediction, batch["supervision"]),
            **self.model.metrics(prediction, batch),
        }
{% if cookiecutter.include_rollout_phase %}

    def rollout_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The same for a rollout phase: the model acts in closed loop from each start."""
        prediction = self.model.rollout(batch)
        return {
            "loss": self.loss_function(prediction, batch["supervision"]),
            **self.model.rollout_metrics(prediction, batch),
        }
{% endif %}
