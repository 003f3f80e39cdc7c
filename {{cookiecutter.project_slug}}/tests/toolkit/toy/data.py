"""Writes the toy task's data as HDF5 shards: train/, val/ and test/."""

import shutil
from pathlib import Path

import h5py
import numpy as np

SPLITS = ("train", "val", "test")


def expert_paths(count: int, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Starts, goals and positions (count, steps + 1, 2) of an expert that covers a fifth
    of the remaining distance at every step."""
    start = rng.uniform(-1, 1, size=(count, 2))
    goal = rng.uniform(-1, 1, size=(count, 2))
    positions = [start]
    for _ in range(steps):
        positions.append(positions[-1] + 0.2 * (goal - positions[-1]))
    return start, goal, np.stack(positions, axis=1)


def write_toy_data(
    directory: Path,
    train: int = 40,
    val: int = 12,
    test: int = 10,
    steps: int = 10,
    shards: int = 3,
    seed: int = 0,
) -> Path:
    """`directory` with `train`, `val` and `test` paths of `steps` steps in each split,
    in `shards` files each; the same arguments write the same bytes."""
    for stream, (split, count) in enumerate(zip(SPLITS, (train, val, test), strict=True)):
        start, goal, positions = expert_paths(count, steps, np.random.default_rng([seed, stream]))
        fields = {
            "steps/position": positions[:, :-1].reshape(-1, 2),
            "steps/goal": np.repeat(goal, steps, axis=0),
            "steps/move": np.diff(positions, axis=1).reshape(-1, 2),
            "paths/start": start,
            "paths/goal": goal,
            "paths/positions": positions,
        }
        shutil.rmtree(directory / split, ignore_errors=True)
        (directory / split).mkdir(parents=True)
        for index, paths in enumerate(np.array_split(np.arange(count), min(shards, count))):
            rows = (paths[:, None] * steps + np.arange(steps)).reshape(-1)
            with h5py.File(directory / split / f"shard_{index:03d}.h5", "w") as file:
                for name, values in fields.items():
                    part = values[paths] if name.startswith("paths/") else values[rows]
                    file.create_dataset(name, data=part.astype(np.float32), track_times=False)
    return directory
