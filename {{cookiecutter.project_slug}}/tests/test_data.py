"""The dataset script and the datasets: shards, batched reads, mini, determinism."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from conftest import PROJECT_ROOT, environment, run_py

from {{ cookiecutter.project_slug }} import data_loader
from {{ cookiecutter.project_slug }}.arm import (
    EXPERT_GAIN,
    expert_trajectories,
    forward_kinematics,
    sample_configurations,
)
from {{ cookiecutter.project_slug }}.data_loader import (
{% if cookiecutter.include_rollout_phase %}
    TrajectoryRolloutDataset,
{% endif %}
    TrajectoryStepDataset,
)
from {{ cookiecutter.project_slug }}.errors import UserError


def rows_of(dataset_directory, field):
    paths = sorted((dataset_directory / "train").glob("*.h5"))
    return np.concatenate([h5py.File(path, "r")[field][:] for path in paths])


def test_make_dataset_writes_the_same_bytes_every_time(dataset, tmp_path):
    command = [sys.executable, str(PROJECT_ROOT / "scripts" / "make_dataset.py"),
               "--output", str(tmp_path), "--train-trajectories", "40",
               "--test-trajectories", "10", "--horizon", "10", "--shards", "3"]
    subprocess.run(command, env=environment(PROJECT_ROOT), check=True, capture_output=True)
    for split in ("train", "test"):
        ours = sorted((tmp_path / split).glob("*.h5"))
        theirs = sorted((dataset / split).glob("*.h5"))
        assert [path.name for path in ours] == [path.name for path in theirs]
        assert [path.read_bytes() for path in ours] == [path.read_bytes() for path in theirs]


def test_the_expert_heads_for_the_stored_goal(dataset):
    with h5py.File(sorted((dataset / "test").glob("*.h5"))[0], "r") as file:
        configurations = torch.from_numpy(file["trajectories/configurations"][:]).double()
        goal = torch.from_numpy(file["trajectories/goal"][:]).double()
    # Each step covers EXPERT_GAIN of the remaining way, so one step implies the target.
    steps = configurations.diff(dim=1)
    target = configurations[:, :-1] + steps / EXPERT_GAIN
    assert torch.allclose(forward_kinematics(target), goal[:, None].expand_as(target), atol=1e-4)
    remaining = torch.linalg.vector_norm(target - configurations[:, :-1], dim=-1)
    assert (remaining.diff(dim=1) < 0).all()


def test_the_expert_arrives_within_the_default_horizon():
    rng = np.random.default_rng(0)
    start, goal = sample_configurations(rng, 100), sample_configurations(rng, 100)
    final = torch.from_numpy(expert_trajectories(start, goal, horizon=50)[:, -1])
    error = forward_kinematics(final) - forward_kinematics(torch.from_numpy(goal))
    assert torch.linalg.vector_norm(error, dim=-1).max() < 0.005  # metres


def test_shards_read_as_one_dataset_in_any_order(dataset):
    steps = TrajectoryStepDataset(dataset, "train")
    expected = rows_of(dataset, "steps/delta")
    assert len(steps) == len(expected) == 40 * 10
    indices = [399, 0, 133, 134, 7, 7, 250]  # across shards, repeated, unsorted
    batch = steps.__getitems__(indices)
    assert torch.equal(batch["supervision"], torch.from_numpy(expected[indices]))
    assert set(batch) == {"configuration", "goal", "supervision"}
    assert torch.equal(steps[133]["supervision"], torch.from_numpy(expected[133]))


def test_scattered_rows_read_the_same_as_a_span(dataset, monkeypatch):
    indices = [399, 0, 133, 134, 7, 7, 250]
    spanning = TrajectoryStepDataset(dataset, "train").__getitems__(indices)
    monkeypatch.setattr(data_loader, "SPAN_BYTES_PER_ROW", 0)  # never read a span
    scattered = TrajectoryStepDataset(dataset, "train").__getitems__(indices)
    for key, values in spanning.items():
        assert torch.equal(scattered[key], values)


def test_preload_serves_the_same_batches_from_memory(dataset):
    def epoch(**parameters):
        return list(TrajectoryStepDataset.get_dataloader(dataset, "train", 16, shuffle=True,
                                                         **parameters))

    from_files = epoch()
    for preloaded in (epoch(preload=True), epoch(preload=True, num_workers=2)):
        assert len(preloaded) == len(from_files)
        for ours, theirs in zip(preloaded, from_files, strict=True):
            assert ours.keys() == theirs.keys()
            assert all(torch.equal(ours[key], theirs[key]) for key in ours)


def test_preload_with_mini_serves_only_the_mini_rows(dataset):
    mini = TrajectoryStepDataset(dataset, "train", mini=True, mini_size=5, preload=True)
    assert len(mini) == 5
    expected = rows_of(dataset, "steps/delta")
    assert torch.equal(mini.__getitems__([4, 0])["supervision"], torch.from_numpy(expected[[4, 0]]))
    with pytest.raises(IndexError):
        mini[5]


def test_a_run_config_can_preload_the_data(project):
    result = run_py(project, "sample_runconfig.yaml", "--mini", "--cpu", "--no-logging",
                    "--modify", "data_loader_parameters.all.preload", "true",
                    "--modify", "epochs", "1")
    assert result.returncode == 0, result.stderr


def test_mini_caps_the_dataset(dataset):
    assert len(TrajectoryStepDataset(dataset, "train", mini=True)) == 100
    assert len(TrajectoryStepDataset(dataset, "train", mini=True, mini_size=5)) == 5
    with pytest.raises(IndexError):
        TrajectoryStepDataset(dataset, "train", mini=True, mini_size=5)[5]


def test_loader_shuffles_reproducibly_with_workers(dataset):
    def first_batch(seed, workers):
        loader = TrajectoryStepDataset.get_dataloader(dataset, "train", 16, shuffle=True,
                                                      seed=seed, num_workers=workers)
        return next(iter(loader))["supervision"]

    assert torch.equal(first_batch(0, 0), first_batch(0, 2))
    assert not torch.equal(first_batch(0, 0), first_batch(1, 0))
{% if cookiecutter.include_rollout_phase %}


def test_rollout_loader_draws_a_fresh_subset_each_pass(dataset):
    loader = TrajectoryRolloutDataset.get_dataloader(dataset, "test", 4, shuffle=False,
                                                     max_samples=4)
    first, second = (next(iter(loader))["goal"] for _ in range(2))
    assert first.shape == (4, 2) and not torch.equal(first, second)
    assert next(iter(loader))["supervision"].shape == (4, 11, 2)
{% endif %}


def test_missing_shards_are_a_user_error(tmp_path):
    with pytest.raises(UserError, match="make_dataset.py"):
        TrajectoryStepDataset(tmp_path, "train")
