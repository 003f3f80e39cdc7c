"""Write the reaching task's dataset: expert demonstrations, as HDF5 shards.

    python scripts/make_dataset.py           # the default dataset, into data/
    python scripts/make_dataset.py --help    # sizes, seed and output folder

The same arguments always write the same bytes. Each split (train/, test/) is
several shard files that the data loader reads as one dataset. Each shard holds
  steps/configuration  (N*H, 2) joint angles before a step (radians)
  steps/goal           (N*H, 2) hand goal position (metres)
  steps/delta          (N*H, 2) the expert's change of joint angles at that step
  trajectories/start, trajectories/goal, trajectories/configurations (N, H+1, 2)
for N trajectories of horizon H.
"""

import argparse
import shutil
from pathlib import Path

import h5py
import numpy as np
import torch

from {{ cookiecutter.project_slug }}.arm import (
    expert_trajectories,
    forward_kinematics,
    sample_configurations,
)

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="folder to write train/ and test/ into (default: %(default)s)")
    parser.add_argument("--train-trajectories", type=int, default=2000,
                        help="expert trajectories in train/ (default: %(default)s)")
    parser.add_argument("--test-trajectories", type=int, default=200,
                        help="expert trajectories in test/ (default: %(default)s)")
    parser.add_argument("--horizon", type=int, default=50,
                        help="steps per trajectory (default: %(default)s)")
    parser.add_argument("--shards", type=int, default=4,
                        help="shard files per split (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args()
    for name in ("train_trajectories", "test_trajectories", "horizon", "shards"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def write_shard(path: Path, start: np.ndarray, goal_configuration: np.ndarray,
                horizon: int) -> None:
    configurations = expert_trajectories(start, goal_configuration, horizon).astype(np.float32)
    goal = forward_kinematics(torch.from_numpy(goal_configuration)).numpy().astype(np.float32)
    count = len(start)
    columns = {
        "steps/configuration": configurations[:, :-1].reshape(count * horizon, 2),
        "steps/goal": np.repeat(goal, horizon, axis=0),
        "steps/delta": np.diff(configurations, axis=1).reshape(count * horizon, 2),
        "trajectories/start": configurations[:, 0],
        "trajectories/goal": goal,
        "trajectories/configurations": configurations,
    }
    with h5py.File(path, "w") as file:
        file.attrs["horizon"] = horizon
        for name, values in columns.items():
            # track_times=False keeps timestamps out, so the same data gives the same bytes.
            file.create_dataset(name, data=values, track_times=False)


def write_split(output: Path, split: str, trajectories: int, horizon: int, shards: int,
                rng: np.random.Generator) -> None:
    start = sample_configurations(rng, trajectories)
    goal_configuration = sample_configurations(rng, trajectories)
    # Write into a scratch folder and swap it in at the end, so an interrupted run
    # never leaves a mix of old and new shards behind.
    partial = output / f".{split}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    parts = np.array_split(np.arange(trajectories), min(shards, trajectories))
    for index, rows in enumerate(parts):
        write_shard(partial / f"shard_{index:03d}.h5", start[rows], goal_configuration[rows],
                    horizon)
    shutil.rmtree(output / split, ignore_errors=True)
    partial.rename(output / split)
    print(f"wrote {trajectories} trajectories ({trajectories * horizon} steps) "
          f"in {len(parts)} shards to {output / split}")


def main() -> None:
    args = parse_args()
    for split_index, (split, trajectories) in enumerate(
        (("train", args.train_trajectories), ("test", args.test_trajectories))
    ):
        # One stream per split: the test set does not change when the train set grows.
        rng = np.random.default_rng([args.seed, split_index])
        write_split(args.output, split, trajectories, args.horizon, args.shards, rng)


if __name__ == "__main__":
    main()
