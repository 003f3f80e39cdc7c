"""The base dataset every task's datasets build on: shards, formats, batched reads, mini,
preload; and data in a run."""

import re

import h5py
import numpy as np
import pytest
import torch
from harness import run_py

from {{ cookiecutter.project_slug }}.toolkit import base_dataset
from {{ cookiecutter.project_slug }}.toolkit.base_dataset import Field, FishboticsDataset
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError

SHARD_ROWS = (150, 100, 150)  # three shards of uneven size


class NumberedDataset(FishboticsDataset):
    fields = {
        "inputs": Field("features/inputs", "float32", (2,)),
        "supervision": Field("targets", "int64", (), minimum=0, maximum=399),
    }


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> tuple:
    """A data directory whose train/ rows hold their own index, and those rows in memory."""
    directory = tmp_path_factory.mktemp("numbered")
    (directory / "train").mkdir()
    rows = np.arange(sum(SHARD_ROWS))
    inputs = np.stack([rows, -rows], axis=1).astype(np.float32)
    targets = rows.astype(np.int64)
    for index, part in enumerate(np.split(rows, np.cumsum(SHARD_ROWS)[:-1])):
        with h5py.File(directory / "train" / f"shard_{index:03d}.h5", "w") as file:
            file["features/inputs"] = inputs[part]
            file["targets"] = targets[part]
    return directory, inputs, targets


def test_shards_read_as_one_dataset_in_any_order(numbered):
    directory, inputs, targets = numbered
    dataset = NumberedDataset(directory, "train")
    assert len(dataset) == len(targets) == 400
    indices = [399, 0, 149, 150, 7, 7, 250]  # across shards, repeated, unsorted
    batch = dataset.__getitems__(indices)
    assert set(batch) == {"inputs", "supervision"}
    assert torch.equal(batch["supervision"], torch.from_numpy(targets[indices]))
    assert torch.equal(batch["inputs"], torch.from_numpy(inputs[indices]))
    assert torch.equal(dataset[150]["inputs"], torch.from_numpy(inputs[150]))


def test_scattered_rows_read_the_same_as_a_span(numbered, monkeypatch):
    directory, _, _ = numbered
    indices = [399, 0, 149, 150, 7, 7, 250]
    spanning = NumberedDataset(directory, "train").__getitems__(indices)
    monkeypatch.setattr(base_dataset, "SPAN_BYTES_PER_ROW", 0)  # never read a span
    scattered = NumberedDataset(directory, "train").__getitems__(indices)
    for key, values in spanning.items():
        assert torch.equal(scattered[key], values)


def test_mini_caps_the_dataset(numbered):
    directory, _, _ = numbered
    assert len(NumberedDataset(directory, "train", mini=True)) == 100
    assert len(NumberedDataset(directory, "train", mini=True, mini_size=5)) == 5
    with pytest.raises(IndexError):
        NumberedDataset(directory, "train", mini=True, mini_size=5)[5]


def test_preload_serves_the_same_batches_from_memory(numbered):
    directory, _, _ = numbered

    def epoch(**parameters):
        return list(
            NumberedDataset.get_dataloader(directory, "train", 16, shuffle=True, **parameters)
        )

    from_files = epoch()
    for preloaded in (epoch(preload=True), epoch(preload=True, num_workers=2)):
        assert len(preloaded) == len(from_files)
        for ours, theirs in zip(preloaded, from_files, strict=True):
            assert ours.keys() == theirs.keys()
            assert all(torch.equal(ours[key], theirs[key]) for key in ours)


def test_preload_with_mini_serves_only_the_mini_rows(numbered):
    directory, _, targets = numbered
    mini = NumberedDataset(directory, "train", mini=True, mini_size=5, preload=True)
    assert len(mini) == 5
    assert torch.equal(mini.__getitems__([4, 0])["supervision"], torch.from_numpy(targets[[4, 0]]))
    with pytest.raises(IndexError):
        mini[5]


def test_loader_shuffles_every_sample_once_and_reproducibly_with_workers(numbered):
    directory, _, targets = numbered

    def order(seed, workers):
        loader = NumberedDataset.get_dataloader(
            directory, "train", 16, shuffle=True, seed=seed, num_workers=workers
        )
        return torch.cat([batch["supervision"] for batch in loader])

    assert sorted(order(0, 0).tolist()) == targets.tolist()
    assert torch.equal(order(0, 0), order(0, 2))
    assert not torch.equal(order(0, 0), order(1, 0))


def test_a_fresh_subset_each_pass_with_max_samples(numbered):
    directory, _, _ = numbered
    loader = NumberedDataset.get_dataloader(directory, "train", 4, shuffle=False, max_samples=4)
    first, second = (next(iter(loader))["supervision"] for _ in range(2))
    assert first.shape == (4,) and not torch.equal(first, second)


def test_data_problems_are_user_errors(numbered, tmp_path):
    with pytest.raises(UserError, match="make_dataset.py"):
        NumberedDataset(tmp_path, "train")

    class Misnamed(FishboticsDataset):
        fields = {"supervision": Field("labels", "int64", ())}

    with pytest.raises(UserError, match="no field"):
        Misnamed(numbered[0], "train")

    class Unfilled(FishboticsDataset):
        pass

    with pytest.raises(UserError, match="Unfilled.fields is empty"):
        Unfilled(numbered[0], "train")

    class Unformatted(FishboticsDataset):
        fields = {"supervision": "targets"}

    with pytest.raises(UserError, match=r"must map each batch key to a Field\(path, dtype"):
        Unformatted(numbered[0], "train")


@pytest.mark.parametrize(
    ("field", "found"),
    [
        (Field("targets", "int32", ()), "holds int64 values"),
        (Field("features/inputs", "float32", (3,)), r"holds rows of shape \(2,\)"),
        (Field("features/inputs", "float32", ()), r"holds rows of shape \(2,\)"),
        (Field("targets", "int64", (), minimum=0, maximum=9), "holds values from 0 to 149"),
        (Field("targets", "int64", (), minimum=10), "holds values from 0 to 149"),
    ],
)
def test_shards_in_another_format_are_refused_naming_shard_field_and_format(numbered, field, found):
    class Declared(FishboticsDataset):
        fields = {"supervision": field}

    with pytest.raises(UserError) as refused:
        Declared(numbered[0], "train")
    message = str(refused.value)
    shard = numbered[0] / "train" / "shard_000.h5"
    assert re.match(re.escape(f"{shard}: field {field.path!r} ") + found, message), message
    assert f"Declared reads 'supervision' from it as {field.expected()}" in message


def test_a_format_reads_as_words():
    assert (
        Field("images", "uint8", (1, None, None), meaning="grey, 0-255").expected()
        == "uint8 rows of shape (1, any, any) (grey, 0-255)"
    )
    assert (
        Field("labels", "int64", (), minimum=0, maximum=9).expected()
        == "one int64 value per row, values 0 to 9"
    )
    assert (
        Field("x", "float32", (2,), minimum=0).expected()
        == "float32 rows of shape (2,), values from 0"
    )


def test_the_dataset_records_each_shards_extremes_for_the_model(numbered):
    dataset = NumberedDataset(numbered[0], "train")
    shards = sorted((numbered[0] / "train").glob("*.h5"))
    assert dataset.extremes == {
        "supervision": [(shards[0], 0, 149), (shards[1], 150, 249), (shards[2], 250, 399)]
    }


def test_a_run_config_can_preload_the_data(project):
    result = run_py(
        project,
        "sample_runconfig.yaml",
        "--mini",
        "--cpu",
        "--no-logging",
        "--modify",
        "data_loader_parameters.all.preload",
        "true",
        "--modify",
        "epochs",
        "1",
    )
    assert result.returncode == 0, result.stderr
