"""Models: the base class every model builds on, and this task's policy.

A config names its model in `model_type`, and `model_parameters` go to that
class's constructor.
"""

import torch
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR, LRScheduler
{% if cookiecutter.include_rollout_phase %}

from {{ cookiecutter.project_slug }}.arm import forward_kinematics
{% endif %}


class FishboticsModel(nn.Module):
    """Base class of every model a config can name in `model_type`.

    A subclass provides `forward(batch)`, whose result the config's `loss_function`
    compares with `batch["supervision"]`. It may override
    - `optimizer()`: the optimizer of its parameters (default: Adam);
    - `scheduler(optimizer)`: a learning-rate scheduler, stepped after each epoch's
      training (default: none);
    - `transform(batch)`: preparation of a batch already on the device, before
      `forward` (normalisation, augmentation); default: unchanged;
    - `metrics(prediction, batch)`: named batch means logged next to the loss.
{% if cookiecutter.include_rollout_phase %}

    The trainer's evaluation loop sets `rollout_mode`; while it is True, `forward`
    does the expensive evaluation (a full rollout) instead of the cheap one.
{% endif %}
    """

    def __init__(self, learning_rate: float = 1e-3):
        super().__init__()
        self.learning_rate = learning_rate
{% if cookiecutter.include_rollout_phase %}
        self.rollout_mode = False
{% endif %}

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)

    def scheduler(self, optimizer: torch.optim.Optimizer) -> LRScheduler | None:
        return None

    def transform(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return batch

    def metrics(self, prediction: torch.Tensor,
                batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {}


# --------------------------------------------------------------------------------------
# The reaching task


class ReachingPolicy(FishboticsModel):
    """An MLP policy: joint angles and hand goal in, change of joint angles out.

    Training and testing are truncated to one teacher-forced step: the policy sees
    the expert's configuration and predicts the expert's next change.
{% if cookiecutter.include_rollout_phase %}
    In rollout mode it drives the arm itself over the whole horizon, feeding each
    predicted configuration back in, so its own errors compound as they would on a
    robot.
{% endif %}
    """

    def __init__(self, hidden_size: int = 256, num_layers: int = 3,
                 learning_rate: float = 1e-3, learning_rate_decay: float = 1.0):
        super().__init__(learning_rate)
        if not 0 < learning_rate_decay <= 1:
            raise ValueError(f"learning_rate_decay must be in (0, 1], got {learning_rate_decay}")
        self.learning_rate_decay = learning_rate_decay
        layers: list[nn.Module] = []
        width = 8  # joint angles, their sines and cosines, goal position
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU()]
            width = hidden_size
        layers.append(nn.Linear(width, 2))
        self.network = nn.Sequential(*layers)

    def scheduler(self, optimizer: torch.optim.Optimizer) -> LRScheduler:
        # The learning rate is multiplied by learning_rate_decay after every epoch.
        return ExponentialLR(optimizer, gamma=self.learning_rate_decay)

    def policy(self, configuration: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        # Sines and cosines spare the network from learning that angles wrap around.
        features = torch.cat(
            (configuration, torch.sin(configuration), torch.cos(configuration), goal), dim=-1
        )
        return self.network(features)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
{% if cookiecutter.include_rollout_phase %}
        if self.rollout_mode:
            # Only the expert trajectory's length is used: the rollout runs as long.
            horizon = batch["supervision"].shape[1] - 1
            return self.rollout(batch["configuration"], batch["goal"], horizon)
{% endif %}
        return self.policy(batch["configuration"], batch["goal"])
{% if cookiecutter.include_rollout_phase %}

    def rollout(self, start: torch.Tensor, goal: torch.Tensor, horizon: int) -> torch.Tensor:
        """Closed-loop joint angles (batch, horizon + 1, 2) from `start`."""
        configurations = [start]
        for _ in range(horizon):
            configurations.append(configurations[-1] + self.policy(configurations[-1], goal))
        return torch.stack(configurations, dim=1)

    def metrics(self, prediction: torch.Tensor,
                batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.rollout_mode:
            return {}
        hand = forward_kinematics(prediction[:, -1])
        # Metres between where the rollout leaves the hand and the goal.
        return {"final_distance": torch.linalg.vector_norm(hand - batch["goal"], dim=-1).mean()}
{% endif %}
