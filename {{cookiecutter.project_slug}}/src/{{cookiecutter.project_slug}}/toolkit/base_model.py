"""The base class of every model in model.py.

A config names its model in `model_type`, and `model_parameters` go to that
class's constructor. Its annotations are checked before anything runs (a value for
`hidden_size: int` must be an integer); a ValueError it raises for a value out of
range is reported as the config's mistake.
"""

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR, LRScheduler

from {{ cookiecutter.project_slug }}.toolkit.base_dataset import FishboticsDataset


class FishboticsModel(nn.Module):
    """Base class of every model a config can name in `model_type`.

    A subclass provides `forward(batch)`, whose result the config's `loss_function`
    compares with `batch["supervision"]`. It may override
    - `optimizer()`: the optimizer of its parameters (default: Adam);
    - `scheduler(optimizer)`: a learning-rate scheduler, stepped after each epoch's
      training (default: the learning rate times `learning_rate_decay` every epoch),
      used when the config's `learning_rate_schedule` is of type exponential;
    - `transform(batch)`: preparation of a batch already on the device, before
      `forward` (normalisation, augmentation); default: unchanged;
    - `metrics(prediction, batch)`: named batch means logged next to the loss;
    - `check_dataset(dataset)`: raise a UserError for a dataset this model cannot
      learn from (more classes than it scores, say). run.py calls it for every
      phase's dataset before a run directory exists; default: nothing to check.
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

    def metrics(
        self, prediction: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {}

    def check_dataset(self, dataset: FishboticsDataset) -> None:
        pass
{% if cookiecutter.include_rollout_phase %}

    def rollout(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The rollout phase's prediction: the expensive evaluation (a closed-loop
        rollout of a policy, say), which the loss compares with `batch["supervision"]`
        too."""
        raise NotImplementedError(
            f"{type(self).__name__} has no rollout(batch) method for "
            "the rollout phase; write one in model.py, or set "
            "rollout_data_loader_type: null"
        )

    def rollout_metrics(
        self, prediction: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The numbers logged next to the rollout phase's loss (default: `metrics`)."""
        return self.metrics(prediction, batch)
{% endif %}


class WarmupCosine(LRScheduler):
    """The config's `learning_rate_schedule: {type: warmup_cosine}`, stepped after every
    optimizer step: each group's rate rises linearly over `warmup_steps` steps to its
    initial learning rate, then falls along a half cosine to `final_learning_rate` at
    `total_steps`, and stays there.

    Each rate is a function of the step count alone, which the scheduler's state (saved
    in every checkpoint) holds: a resumed run goes on with the very same rates.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_steps: int,
        total_steps: int,
        final_learning_rate: float,
    ):
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.final_learning_rate = final_learning_rate
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [self.rate(initial, self.last_epoch) for initial in self.base_lrs]

    def rate(self, initial: float, step: int) -> float:
        """The rate for optimizer step `step` (from 0) of a group that starts at `initial`."""
        if step < self.warmup_steps:
            # (step + 1): the first step already learns a little, rather than nothing.
            return initial * (step + 1) / (self.warmup_steps + 1)
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))  # 1 down to 0
        return self.final_learning_rate + cosine * (initial - self.final_learning_rate)


def shape_mistake(prediction: torch.Tensor, supervision: torch.Tensor) -> str | None:
    """What is wrong with a prediction's shape against its supervision's, if anything.

    Shapes only: host-side metadata, which makes the CPU wait for nothing. Refused: two
    shapes that broadcast to a shape other than the prediction's (a (B, 1) prediction
    against a (B,) supervision becomes (B, B): every prediction compared with every
    target, with only a warning), and floating-point supervision with another number of
    elements. Class scores (B, C) against integer class indices (B,), as cross_entropy
    takes them, pass: their shapes do not broadcast (or, when C == B, broadcast to the
    scores' own shape), and the supervision is not floating point.
    """
    if not (isinstance(prediction, torch.Tensor) and isinstance(supervision, torch.Tensor)):
        return None  # a loss function of your own reads what it gets
    if prediction.shape == supervision.shape:
        return None
    try:
        common = torch.broadcast_shapes(prediction.shape, supervision.shape)
    except RuntimeError:
        common = None
    shapes = (
        f"the prediction's shape {tuple(prediction.shape)} differs from the "
        f"supervision's {tuple(supervision.shape)}"
    )
    if common is not None and common != prediction.shape:
        return f"{shapes}: the loss would broadcast them to {tuple(common)}"
    if supervision.is_floating_point() and supervision.numel() != prediction.numel():
        return f"{shapes}: a loss between values compares them element by element"
    return None
