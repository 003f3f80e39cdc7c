"""Fixtures of the toolkit's tests: the toy task's data, and committed copies of this
project that train it (harness.py)."""

import os
from pathlib import Path

import pytest
import yaml
from harness import (
    DATASET_SIZES,
    LARGE_VAL_SPLIT,
    SWEPT_EPOCHS,
    SWEPT_RATES,
    SWEPT_SEEDS,
    committed_copy,
    run_py,
)
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


@pytest.fixture(scope="session")
def swept(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> tuple[Path, Path]:
    """A finished sweep, run once for the tests of test_sweep.py and test_sweep_report.py
    that read one: SWEPT_RATES, SWEPT_SEEDS each (harness.py). Returns the project,
    which holds the sweep's runs alone, and the sweep's directory; a test that changes
    either works on a copy."""
    project = committed_copy(tmp_path_factory.mktemp("swept"), dataset)
    sweep = tmp_path_factory.mktemp("sweep_file") / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "grid": {"model_parameters.learning_rate": list(SWEPT_RATES)},
                "seeds": list(SWEPT_SEEDS),
            }
        )
    )
    result = run_py(
        project,
        "sample_runconfig.yaml",
        "--mini",
        "--cpu",
        "--modify",
        "epochs",
        str(SWEPT_EPOCHS),
        "--sweep",
        str(sweep),
    )
    assert result.returncode == 0, result.stderr
    [directory] = (project / "logs" / "sweeps").iterdir()
    return project, directory
