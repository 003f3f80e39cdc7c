"""The toy task's loss."""

import torch
import torch.nn.functional as F


def mse_loss(prediction: torch.Tensor, supervision: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(prediction, supervision)
