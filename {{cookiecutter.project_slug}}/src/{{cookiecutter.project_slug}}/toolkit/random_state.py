"""Seeding, and saving and restoring every random number generator a run draws from.

Seeds alone do not make a resumed run continue where it stopped: the generators have
moved on since they were seeded. A checkpoint therefore stores their states, in a form
`torch.load(weights_only=True)` accepts (tensors, numbers, strings, lists, tuples).
"""

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every device, CUDA included


def capture() -> dict:
    """The states of the Python, NumPy and PyTorch (CPU and CUDA) generators."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.copy()), position, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore(state: dict) -> None:
    version, internal, gaussian = state["python"]
    random.setstate((version, tuple(internal), gaussian))
    kind, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, keys.numpy(), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
