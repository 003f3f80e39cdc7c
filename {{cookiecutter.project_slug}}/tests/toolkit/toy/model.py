"""The toy task's policy: position and goal in, a move out."""

import torch
from torch import nn

from {{ cookiecutter.project_slug }}.toolkit.base_model import FishboticsModel


class ToyPolicy(FishboticsModel):
    def __init__(
        self, hidden_size: int = 16, learning_rate: float = 1e-2, learning_rate_decay: float = 1.0
    ):
        super().__init__(learning_rate, learning_rate_decay)
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be at least 1, got {hidden_size}")
        self.network = nn.Sequential(
            nn.Linear(4, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 2)
        )

    def policy(self, position: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return self.network(torch.cat((position, goal), dim=-1))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.policy(batch["position"], batch["goal"])

    def metrics(
        self, prediction: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        # A number to maximise, for the tests of selection.mode: max.
        error = torch.linalg.vector_norm(prediction - batch["supervision"], dim=-1)
        return {"close": (error < 0.05).float().mean()}
{% if cookiecutter.include_rollout_phase %}

    def rollout(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Closed-loop positions (batch, steps + 1, 2) from the expert's start."""
        positions = [batch["position"]]
        for _ in range(batch["supervision"].shape[1] - 1):
            positions.append(positions[-1] + self.policy(positions[-1], batch["goal"]))
        return torch.stack(positions, dim=1)

    def rollout_metrics(
        self, prediction: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {
            "final_distance": torch.linalg.vector_norm(
                prediction[:, -1] - batch["goal"], dim=-1
            ).mean()
        }
{% endif %}
