"""The plain PyTorch loop that the generated project is measured against.

It is what a careful person writes by hand: per step only forward, loss, zero_grad,
backward and step; no progress bar, no logging, no loss read back from the tensor.
trainer_overhead.py calls `train_epoch` for the steps/s comparison and runs this file
as a script for the start-up comparison with `python run.py`:

    PYTHONPATH=<project>/src python benchmarks/plain_loop.py <project> <package> <batch size>

The script trains the baked project's model on its training data, read by the
project's own dataset, so that the only difference from run.py is what run.py adds:
its imports, config validation, git checks and run directory.
"""

import importlib
import sys
from pathlib import Path

import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader


def train_epoch(model: nn.Module, optimizer: Optimizer, loader: DataLoader) -> None:
    model.train()
    for batch in loader:
        loss = F.mse_loss(model(batch), batch["supervision"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main() -> None:
    project, package, batch_size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    model = importlib.import_module(f"{package}.model").ReachingPolicy()
    datasets = importlib.import_module(f"{package}.data_loader")
    loader = datasets.TrajectoryStepDataset.get_dataloader(
        project / "data", "train", batch_size, shuffle=True
    )
    train_epoch(model, model.optimizer(), loader)


if __name__ == "__main__":
    main()
