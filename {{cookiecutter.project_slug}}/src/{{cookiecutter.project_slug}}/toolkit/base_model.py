{% if cookiecutter.task == 'trajectory' %}
"""Models: the base class every model builds on, and this task's policy.
{% elif cookiecutter.task == 'classification' %}
"""Models: the base class every model builds on, and this task's classifier.
{% else %}
"""Models: the base class every model builds on, and yours.
{% endif %}

A config names its model in `model_type`, and `model_parameters` go to that
class's constructor. Its annotations are checked before anything runs (a value for
`hidden_size: int` must be an integer); a ValueError it raises for a value out of
range is reported as the config's mistake.
"""

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR, LRScheduler
{% if cookiecutter.task == 'trajectory' and cookiecutter.include_rollout_phase %}

from {{ cookiecutter.project_slug }}.arm import forward_kinematics
{% elif cookiecutter.task == 'classification' %}

from {{ cookiecutter.project_slug }}.shapes import CLASS_NAMES
{% elif cookiecutter.task == 'blank' %}

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
{% endif %}


class FishboticsModel(nn.Module):
    """Base class of every model a config can name in `model_type`.

    A subclass provides `forward(batch)`, whose result the config's `loss_function`
    compares with `batch["supervision"]`. It may override
    - `optimizer()`: the optimizer of its parameters (default: Adam);
    - `scheduler(optimizer)`: a learning-rate scheduler, stepped after each epoch's
      training (default: the learning rate times `learning_rate_decay` every epoch);
    - `transform(batch)`: preparation of a batch already on the device, before
      `forward` (normalisation, augmentation); default: unchanged;
    - `metrics(prediction, batch)`: named batch means logged next to the loss.
{% if cookiecutter.include_rollout_phase %}

    For the rollout phase it provides `rollout(batch)`, the expensive evaluation (a
    closed-loop rollout of a policy, say), whose result the loss compares with
    `batch["supervision"]` too; `rollout_metrics(prediction, batch)` are logged next to
    that loss (default: `metrics`).
{% endif %}
    """

    def __init__(self, learning_rate: float = 1e-3, learning_rate_decay: float = 1.0):
        super().__init__()
        if not 0 <= learning_rate < math.inf:  # NaN fails this too; 0 freezes the weights
            raise ValueError(f"learning_rate must be a finite number >= 0, got {learning_rate}")
        if not 0 < learning_rate_decay <= 1:
            raise ValueError(f"learning_rate_decay must be in (0, 1], got {learning_rate_decay}")
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)

    def scheduler(self, optimizer: torch.optim.Optimizer) -> LRScheduler | None:
        return ExponentialLR(optimizer, gamma=self.learning_rate_decay)

    def transform(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return batch

    def metrics(self, prediction: torch.Tensor,
                batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {}
{% if cookiecutter.include_rollout_phase %}

    def rollout(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no rollout(batch) method for "
                                  "the rollout phase; write one in model.py, or set "
                                  "rollout_data_loader_type: null")

    def rollout_metrics(self, prediction: torch.Tensor,
                        batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.metrics(prediction, batch)
{% endif %}


{% if cookiecutter.task == 'trajectory' %}
# --------------------------------------------------------------------------------------
# The reaching task


class ReachingPolicy(FishboticsModel):
    """An MLP policy: joint angles and hand goal in, change of joint angles out.

    Training and testing are truncated to one teacher-forced step: the policy sees
    the expert's configuration and predicts the expert's next change.
{% if cookiecutter.include_rollout_phase %}
    Its rollout drives the arm itself over the whole horizon, feeding each predicted
    configuration back in, so its own errors compound as they would on a robot.
{% endif %}
    """

    def __init__(self, hidden_size: int = 256, num_layers: int = 3,
                 learning_rate: float = 1e-3, learning_rate_decay: float = 1.0):
        super().__init__(learning_rate, learning_rate_decay)
        if hidden_size < 1 or num_layers < 0:
            raise ValueError(f"hidden_size must be at least 1 and num_layers at least 0, got "
                             f"{hidden_size} and {num_layers}")
        layers: list[nn.Module] = []
        width = 8  # joint angles, their sines and cosines, goal position
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU()]
            width = hidden_size
        layers.append(nn.Linear(width, 2))
        self.network = nn.Sequential(*layers)

    def policy(self, configuration: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        # Sines and cosines spare the network from learning that angles wrap around.
        features = torch.cat(
            (configuration, torch.sin(configuration), torch.cos(configuration), goal), dim=-1
        )
        return self.network(features)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.policy(batch["configuration"], batch["goal"])
{% if cookiecutter.include_rollout_phase %}

    def rollout(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Closed-loop joint angles (batch, horizon + 1, 2) from the expert's start, for
        as many steps as the expert trajectory has (its only use here)."""
        goal = batch["goal"]
        configurations = [batch["configuration"]]
        for _ in range(batch["supervision"].shape[1] - 1):
            configurations.append(configurations[-1] + self.policy(configurations[-1], goal))
        return torch.stack(configurations, dim=1)

    def rollout_metrics(self, prediction: torch.Tensor,
                        batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hand = forward_kinematics(prediction[:, -1])
        # Metres between where the rollout leaves the hand and the goal.
        return {"final_distance": torch.linalg.vector_norm(hand - batch["goal"], dim=-1).mean()}
{% endif %}
{% elif cookiecutter.task == 'classification' %}
# --------------------------------------------------------------------------------------
# The shapes task


class ShapeClassifier(FishboticsModel):
    """A small CNN: a grey image of a shape in, a score (logit) per class out.

    Three blocks of convolution, normalisation and ReLU, each with twice the
    channels of the one before, the first two followed by 2 x 2 average pooling
    (on the CPU, max pooling cost a quarter of a training step and trained no
    better); an average over positions makes the scores indifferent to where the
    shape is.
{% if cookiecutter.include_rollout_phase %}

    Its rollout is the expensive evaluation, test-time augmentation: it classifies each image in its eight flips and quarter turns and averages the
    probabilities. Every shape is drawn at a random angle, so each view is an image
    the model could have been given; the views move pixels exactly, with no
    interpolation or padding.
{% endif %}
    """

    def __init__(self, channels: int = 16, learning_rate: float = 3e-3,
                 learning_rate_decay: float = 1.0):
        super().__init__(learning_rate, learning_rate_decay)
        if channels < 4 or channels % 4:
            raise ValueError(f"channels must be a positive multiple of 4 (GroupNorm's four "
                             f"groups), got {channels}")
        layers: list[nn.Module] = []
        width = 1
        for block, out in enumerate((channels, 2 * channels, 4 * channels)):
{% if cookiecutter.multi_gpu %}
            # Group rather than batch normalisation: it keeps no running statistics,
            # which would differ between the ranks of a multi-process job.
{% else %}
            # Group rather than batch normalisation: each image is normalised on its
            # own, so training and evaluation compute the same function.
{% endif %}
            layers += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.GroupNorm(4, out),
                       nn.ReLU()]
            if block < 2:
                layers.append(nn.AvgPool2d(2))
            width = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, len(CLASS_NAMES))

    def transform(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # The images travel as bytes, a quarter of the floats' size, and become floats
        # around zero here, on the device.
        return {**batch, "image": batch["image"].float().div(255).sub(0.5)}

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images).mean(dim=(2, 3)))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.scores(batch["image"])
{% if cookiecutter.include_rollout_phase %}

    def rollout(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Log of the class probabilities averaged over the eight symmetries of the
        square. A log-probability is a valid score: the loss and accuracy read it alike."""
        images = batch["image"]
        views = [turned for flipped in (images, images.transpose(-2, -1))
                 for turned in (flipped.rot90(quarter, dims=(-2, -1)) for quarter in range(4))]
        probabilities = torch.stack([self.scores(view).softmax(dim=1) for view in views])
        return probabilities.mean(dim=0).log()
{% endif %}

    def metrics(self, prediction: torch.Tensor,
                batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"accuracy": (prediction.argmax(dim=1) == batch["supervision"]).float().mean()}
{% else %}
# --------------------------------------------------------------------------------------
# Your model


class MyModel(FishboticsModel):
    """Your model. Rename it at will: `model_type` in the config names it.

    Its constructor's arguments are what `model_parameters` can set.
{% if cookiecutter.include_rollout_phase %}
    `rollout(batch)` is your task's expensive evaluation, for the rollout phase.
{% endif %}
    """

    def __init__(self, learning_rate: float = 1e-3, learning_rate_decay: float = 1.0):
        super().__init__(learning_rate, learning_rate_decay)
        # TODO: build your layers here.

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        # TODO: return the prediction that the config's loss_function compares with
        # batch["supervision"]; the other keys of `batch` are your dataset's fields.
        raise UserError("MyModel.forward in model.py is yours to write: it returns the "
                        "prediction that loss_function compares with batch['supervision'].")
{% if cookiecutter.include_rollout_phase %}

    def rollout(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        # TODO: your task's expensive evaluation of `batch` (a closed-loop rollout of a
        # policy, say), compared with batch["supervision"] by loss_function too.
        raise UserError("MyModel.rollout in model.py is yours to write: the rollout phase's "
                        "prediction, compared with batch['supervision'] by loss_function.")
{% endif %}
{% endif %}
