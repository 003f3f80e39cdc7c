"""Loss functions a config can name in `loss_function`.

Each takes the model's prediction and the batch's supervision and returns the
batch mean as a scalar tensor. Add your own here: the config finds it by name.
"""

import torch
import torch.nn.functional as F


def mse_loss(prediction: torch.Tensor, supervision: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(prediction, supervision)


def l1_loss(prediction: torch.Tensor, supervision: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(prediction, supervision)


def smooth_l1_loss(prediction: torch.Tensor, supervision: torch.Tensor) -> torch.Tensor:
    return F.smooth_l1_loss(prediction, supervision)


def cross_entropy(prediction: torch.Tensor, supervision: torch.Tensor) -> torch.Tensor:
    """For classification: `prediction` holds a score (logit) per class, `supervision`
    the index of the true class."""
    return F.cross_entropy(prediction, supervision)
