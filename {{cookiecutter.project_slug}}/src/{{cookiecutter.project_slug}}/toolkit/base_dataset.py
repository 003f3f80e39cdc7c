"""The base class of every dataset in data_loader.py, and the DataLoader built on it.

A dataset reads one split (`train/` or `test/`) of the config's `data_directory`.
Every `*.h5` file in that folder is a shard, and the shards together form one
dataset. A subclass only says which HDF5 fields it serves and in what format; the
base class checks every shard against that format, and takes care of shards,
`mini`, opening files in the process that reads them, reading whole batches at
once, and `preload` (reading every shard into memory once).
"""

import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError

# Picking one scattered row out of an HDF5 file takes about as long as reading 30-60 KiB
# of it in one piece (h5py 3.16, file in the page cache; a disk that seeks favours the
# piece more), so a batch's rows are read as one span when it has at most this per row.
SPAN_BYTES_PER_ROW = 32 * 1024


@dataclass(frozen=True)
class Field:
    """Where a batch key's values are in each shard, and the format they must have.

    `path` is the HDF5 dataset inside every shard, with one row per element.
    `dtype` (a NumPy name: "uint8", "int64", "float32") and `row_shape` (the shape of
    one row; None along an axis whose size may vary) are checked on every shard's
    metadata, without reading its rows. `minimum` and `maximum` (inclusive) are
    checked on the values, so the whole field is read once: give them for small
    fields only, such as class labels. `meaning` says what the values are; error
    messages show it.
    """

    path: str
    dtype: str
    row_shape: tuple[int | None, ...]
    minimum: float | None = None
    maximum: float | None = None
    meaning: str = ""

    def expected(self) -> str:
        """The format in words: 'uint8 rows of shape (1, any, any)', 'one int64 value per
        row, values from 0'."""
        shape = ", ".join("any" if size is None else str(size) for size in self.row_shape)
        if not self.row_shape:
            text = f"one {self.dtype} value per row"
        elif len(self.row_shape) == 1:
            text = f"{self.dtype} rows of shape ({shape},)"
        else:
            text = f"{self.dtype} rows of shape ({shape})"
        if self.minimum is not None and self.maximum is not None:
            text += f", values {self.minimum} to {self.maximum}"
        elif self.minimum is not None:
            text += f", values from {self.minimum}"
        elif self.maximum is not None:
            text += f", values up to {self.maximum}"
        return text + (f" ({self.meaning})" if self.meaning else "")

    def has_range(self) -> bool:
        return self.minimum is not None or self.maximum is not None


def keep_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collate function for datasets whose `__getitems__` already returns a batch."""
    return batch


def seed_worker(worker_id: int) -> None:
    # PyTorch seeds each worker's `random` and torch from the loader's generator, but not
    # NumPy: without this, every worker would draw the same NumPy numbers.
    np.random.seed(torch.initial_seed() % 2**32)


class ResumableSampler(Sampler[int]):
    """Another sampler's order, of which the next pass skips the first `skip` indices.

    A run resumed inside a phase (training, or a held-out phase stopped half-way) draws
    the phase's order again (from the generator state saved at its start) and skips the
    batches already done, without reading that data.
    """

    def __init__(self, sampler: Sampler[int]):
        self.sampler = sampler
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        # A process's share of a job's data (get_dataloader's `share`) may shuffle by
        # epoch number. A RandomSampler draws every epoch's order from the loader's
        # generator instead, and has no epoch to hear.
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


# A process's share of a dataset's samples, when the processes of a job split the data
# between them: from the dataset, the sampler of all of them, whether training shuffles
# them, and the seed, the sampler this process draws from.
Share = Callable[[Dataset, Sampler[int], bool, int], Sampler[int]]


class FishboticsDataset(Dataset):
    """Rows of HDF5 shards, served as dict batches of tensors.

    A subclass sets `fields`: batch key -> `Field`, the HDF5 dataset inside each shard
    that holds the key's values and their format. The key "supervision" is the target
    that the loss compares the model's prediction with; the other keys are the model's
    inputs. Shards that do not have this format are refused before anything runs.
    """

    fields: dict[str, Field] = {}

    def __init__(
        self,
        data_directory: str | Path,
        split: str,
        mini: bool = False,
        mini_size: int = 100,
        preload: bool = False,
    ):
        if mini_size < 1:
            raise UserError(
                f"data_loader_parameters: mini_size must be at least 1, got {mini_size}"
            )
        directory = Path(data_directory) / split
        self.shard_paths = sorted(directory.glob("*.h5"))
        if not self.shard_paths:
            raise UserError(
                f"no *.h5 shard files in {directory}. Write the data with "
                "`python scripts/make_dataset.py`, or point data_directory at it."
            )
        if not self.fields:
            raise UserError(
                f"{type(self).__name__}.fields is empty: in data_loader.py, map "
                "each batch key to the HDF5 dataset in the shards that holds it."
            )
        if not all(isinstance(field, Field) for field in self.fields.values()):
            raise UserError(
                f"{type(self).__name__}.fields in data_loader.py must map each "
                "batch key to a Field(path, dtype, row_shape, ...), which says "
                "where its values are and what format they have."
            )
        # Per field with a minimum or maximum: each shard's smallest and largest value,
        # for the model's check_dataset (the number of classes, say).
        self.extremes: dict[str, list[tuple[Path, float, float]]] = {
            key: [] for key, field in self.fields.items() if field.has_range()
        }
        rows = [self._checked_shard(path) for path in self.shard_paths]
        self.offsets = np.cumsum([0, *rows])
        self.length = int(self.offsets[-1])
        if mini:
            self.length = min(self.length, mini_size)
        # h5py handles must not cross a fork into DataLoader workers, so each process
        # opens its own on first read.
        self._shards: dict[int, list[tuple[str, h5py.Dataset, int]]] = {}
        self._shards_pid: int | None = None
        # Shards that fit in memory are better read once: indexing an array is many
        # times faster than any HDF5 read, and workers share the arrays after a fork.
        self._preloaded = self._read_every_row() if preload else None

    def _checked_shard(self, path: Path) -> int:
        """The shard's number of rows, once its fields have the declared format."""
        with h5py.File(path, "r") as file:
            missing = [field.path for field in self.fields.values() if field.path not in file]
            if missing:
                raise UserError(
                    f"{path} has no field(s) {', '.join(missing)} that "
                    f"{type(self).__name__} reads. Was it written by this project's "
                    "scripts/make_dataset.py?"
                )
            for key, field in self.fields.items():
                self._check_field(path, key, field, file[field.path])
            counts = {len(file[field.path]) for field in self.fields.values()}
        if len(counts) != 1:
            raise UserError(
                f"{path}: the fields {sorted(f.path for f in self.fields.values())} "
                "have different numbers of rows"
            )
        return counts.pop()

    def _check_field(self, path: Path, key: str, field: Field, values: h5py.Dataset) -> None:
        def refuse(found: str) -> None:
            raise UserError(
                f"{path}: field {field.path!r} holds {found}, but "
                f"{type(self).__name__} reads {key!r} from it as "
                f"{field.expected()}. Write the shards in that format, or "
                f"change {type(self).__name__}.fields in data_loader.py."
            )

        if values.dtype != np.dtype(field.dtype):
            refuse(f"{values.dtype} values")
        row_shape = values.shape[1:]
        if len(row_shape) != len(field.row_shape) or any(
            size is not None and size != actual
            for size, actual in zip(field.row_shape, row_shape, strict=True)
        ):
            refuse(f"rows of shape {row_shape}")
        if field.has_range() and len(values):
            every_value = values[()]  # declared for small fields only: read whole
            low, high = every_value.min().item(), every_value.max().item()
            if (field.minimum is not None and low < field.minimum) or (
                field.maximum is not None and high > field.maximum
            ):
                refuse(f"values from {low} to {high}")
            self.extremes[key].append((path, low, high))

    def _read_every_row(self) -> dict[str, np.ndarray]:
        """The dataset's rows (the first `len(self)` only), as arrays in memory."""
        parts: dict[str, list[np.ndarray]] = {key: [] for key in self.fields}
        for shard, path in enumerate(self.shard_paths):
            rows = min(self.offsets[shard + 1], self.length) - self.offsets[shard]
            if rows <= 0:
                break
            with h5py.File(path, "r") as file:
                for key, field in self.fields.items():
                    parts[key].append(file[field.path][:rows])
        return {key: np.concatenate(chunks) for key, chunks in parts.items()}

    def _shard(self, shard: int) -> list[tuple[str, h5py.Dataset, int]]:
        """(key, HDF5 dataset, bytes per row) of a shard's fields, opened in this process."""
        if self._shards_pid != os.getpid():
            self._shards, self._shards_pid = {}, os.getpid()
        if shard not in self._shards:
            # Looking a field up by its path, or its dtype, costs more than reading a few
            # rows: done once per process. Each HDF5 dataset keeps its file open.
            file = h5py.File(self.shard_paths[shard], "r")
            opened = []
            for key, field in self.fields.items():
                handle = file[field.path]
                opened.append((key, handle, handle.dtype.itemsize * math.prod(handle.shape[1:])))
            self._shards[shard] = opened
        return self._shards[shard]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} elements")
        return {key: values[0] for key, values in self.__getitems__([index]).items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Read a whole batch with one read per shard and field, not one per row."""
        if self._preloaded is not None:
            rows = np.asarray(indices, dtype=np.int64)
            return {key: torch.from_numpy(values[rows]) for key, values in self._preloaded.items()}
        # HDF5 reads increasing indices only, and runs of neighbours fastest.
        wanted, order = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
        shard_of = np.searchsorted(self.offsets, wanted, side="right") - 1
        parts: dict[str, list[np.ndarray]] = {key: [] for key in self.fields}
        for shard in np.unique(shard_of):
            rows = wanted[shard_of == shard] - self.offsets[shard]
            for key, field, row_bytes in self._shard(int(shard)):
                parts[key].append(read_rows(field, rows, row_bytes))
        return {
            key: torch.from_numpy(np.concatenate(chunks)[order]) for key, chunks in parts.items()
        }

    @classmethod
    def get_dataloader(
        cls,
        data_directory: str | Path,
        split: str,
        batch_size: int,
        *,
        shuffle: bool,
        mini: bool = False,
        max_samples: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
        share: Share | None = None,
        **parameters,
    ) -> DataLoader:
        """A DataLoader over this dataset; `parameters` go to the constructor.

        With `max_samples`, each pass draws a fresh random subset of that size.
        With `share`, the loader serves this process's share of the samples.
        """
        dataset = cls(data_directory, split, mini=mini, **parameters)
        generator = torch.Generator().manual_seed(seed)
        if max_samples is not None and max_samples < len(dataset):
            sampler = RandomSampler(dataset, num_samples=max_samples, generator=generator)
        elif shuffle:
            sampler = RandomSampler(dataset, generator=generator)
        else:
            sampler = SequentialSampler(dataset)
        if share is not None:
            sampler = share(dataset, sampler, shuffle, seed)
        sampler = ResumableSampler(sampler)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=keep_batch,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=num_workers > 0,
            worker_init_fn=seed_worker,
            generator=generator,
        )


def read_rows(field: h5py.Dataset, rows: np.ndarray, row_bytes: int) -> np.ndarray:
    """Rows (sorted, unique) of an HDF5 dataset, read as cheaply as their layout allows."""
    first, last = int(rows[0]), int(rows[-1])
    if (last - first + 1) * row_bytes <= SPAN_BYTES_PER_ROW * len(rows):
        # Close enough together: one contiguous read, then pick, beats a scattered read.
        return field[first : last + 1][rows - first]
    return field[rows]
