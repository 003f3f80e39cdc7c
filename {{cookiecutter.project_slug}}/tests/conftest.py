"""Fixtures of your tests: a small dataset, written by your scripts/make_dataset.py with
DATASET_ARGUMENTS (helpers.py: change them with your script), and a committed copy of
this project that holds it.

The toolkit's own tests are in tests/toolkit/: they bring a task of their own and do not
depend on yours.
"""

import os
from pathlib import Path

import pytest
from helpers import DATASET_ARGUMENTS, committed_copy, make_dataset


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A logged run caches its data's hashes under $XDG_CACHE_HOME: the tests' runs use a
    folder of their own, not yours."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset, written once per test session by scripts/make_dataset.py."""
    directory = tmp_path_factory.mktemp("data")
    result = make_dataset(directory, *DATASET_ARGUMENTS)
{% if cookiecutter.task == 'blank' %}
    if "is yours to write" in result.stderr:  # the template's TODO, until you write it
        pytest.skip("scripts/make_dataset.py has no data to write yet")
{% endif %}
    assert result.returncode == 0, result.stderr
    return directory


@pytest.fixture
def project(tmp_path: Path, dataset: Path) -> Path:
    """A committed copy of this project with the small dataset as its data/."""
    return committed_copy(tmp_path, dataset)
