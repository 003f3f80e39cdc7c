"""Fixtures of the toolkit's tests: the toy task's data, and committed copies of this
project that train it (harness.py)."""

import os
from pathlib import Path

import pytest
from harness import DATASET_SIZES, LARGE_VAL_SPLIT, committed_copy
from toy.data import write_toy_data


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A logged run caches its data's hashes under $XDG_CACHE_HOME (fingerprint.py):
    the tests' runs use a folder of their own, not yours."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy task's small dataset, written once per test session."""
    return write_toy_data(tmp_path_factory.mktemp("data"), **DATASET_SIZES)


@pytest.fixture
def project(tmp_path: Path, dataset: Path) -> Path:
    """A committed copy of this project that trains the toy task on the small dataset."""
    return committed_copy(tmp_path, dataset)


@pytest.fixture(scope="session")
def large_val_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset with LARGE_VAL_SPLIT's validation split, written once per test session."""
    return write_toy_data(tmp_path_factory.mktemp("large_val_split"), **LARGE_VAL_SPLIT)
