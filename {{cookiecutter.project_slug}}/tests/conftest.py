{% if cookiecutter.task == 'blank' %}
"""Fixtures: throwaway committed copies of this project, and the sample config's names.
{% else %}
"""Fixtures: a small dataset, throwaway committed copies of this project, and the
names of the sample config's model and dataset.
{% endif %}

Tests that drive run.py work on a copy, so they never write into your logs/ and
can make the tree dirty on purpose.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# The project's own modules, as run.py hands them to the toolkit (load_config takes them).
from run import PROJECT as PROJECT  # for the tests: `from conftest import PROJECT`

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(
    ".git", "data", "logs", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv",
    "*.egg-info"
)
# Variables that would point git at another repository than the copy's.
GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")
{% if cookiecutter.task == 'trajectory' %}

# The sample config's classes, and the tests' small dataset: 40 training trajectories
# of 10 steps (400 samples) and 10 test trajectories (100 samples), in 3 shards.
MODEL, DATASET = "ReachingPolicy", "TrajectoryStepDataset"
DATASET_ARGUMENTS = ("--train-trajectories", "40", "--val-trajectories", "12",
                     "--test-trajectories", "10", "--horizon", "10", "--shards", "3")
# A model parameter that sets the width of the first layer, and that layer's weights.
WIDTH, FIRST_LAYER = "hidden_size", "network.0.weight"
{% elif cookiecutter.task == 'classification' %}

# The sample config's classes, and the tests' small dataset: 400 training images and
# 100 test images of 16 x 16 pixels, in 3 shards.
MODEL, DATASET = "ShapeClassifier", "ShapeImageDataset"
DATASET_ARGUMENTS = ("--train-images", "400", "--val-images", "120", "--test-images", "100",
                     "--image-size", "16", "--shards", "3")
# A model parameter that sets the width of the first layer, and that layer's weights.
WIDTH, FIRST_LAYER = "channels", "features.0.weight"
{% else %}

# The sample config's classes: yours to rename.
MODEL, DATASET = "MyModel", "MyDataset"
{% endif %}


def environment(project: Path) -> dict[str, str]:
    """The environment a subprocess in `project` runs with: its own src/ first."""
    env = {key: value for key, value in os.environ.items() if key not in GIT_LOCATION_VARIABLES}
    # One thread per training process: the tests' models are tiny, and intra-op threads
    # spinning against other busy processes made a run over ten times slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project / "src"),
                                                      env.get("PYTHONPATH")]))
    return env


def git(project: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=project, env=environment(project),
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def run_py(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`python run.py ARGS` in `project`, as a user would start it (no terminal)."""
    return subprocess.run([sys.executable, "run.py", *args], cwd=project,
                          env=environment(project), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600)


def run_directories(project: Path) -> list[Path]:
    return sorted(path.parent for path in (project / "logs").glob("*/*/metadata.yaml"))


def write_run(project: Path, name: str, metadata: dict | None = None,
              text: str | None = None, model: str = "Model") -> Path:
    """A hand-made run directory logs/MODEL/NAME holding `metadata`, or `text` as is."""
    directory = project / "logs" / model / name
    directory.mkdir(parents=True)
    if metadata is not None:
        text = yaml.safe_dump(metadata)
    if text is not None:
        (directory / "metadata.yaml").write_text(text)
    return directory


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A logged run caches its data's hashes under $XDG_CACHE_HOME (fingerprint.py):
    the tests' runs use a folder of their own, not yours."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


{% if cookiecutter.task == 'blank' %}
@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this project's files, committed on a fresh repo."""
    return committed_copy(tmp_path)


def committed_copy(directory: Path) -> Path:
    copy = directory / "project"
    shutil.copytree(PROJECT_ROOT, copy, ignore=NOT_COPIED)
{% else %}
@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset, written once per test session by the project's own script."""
    return written_dataset(tmp_path_factory.mktemp("data"), DATASET_ARGUMENTS)


def written_dataset(directory: Path, arguments: tuple[str, ...]) -> Path:
    """`directory`, holding what the project's dataset script writes with `arguments`."""
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "make_dataset.py"),
         "--output", str(directory), *arguments],
        env=environment(PROJECT_ROOT), check=True, capture_output=True,
    )
    return directory


@pytest.fixture
def project(tmp_path: Path, dataset: Path) -> Path:
    """A copy of this project's files with the small dataset, committed on a fresh repo."""
    return committed_copy(tmp_path, dataset)


def committed_copy(directory: Path, dataset: Path) -> Path:
    copy = directory / "project"
    shutil.copytree(PROJECT_ROOT, copy, ignore=NOT_COPIED)
    shutil.copytree(dataset, copy / "data")
{% endif %}
    git(copy, "init", "--quiet")
    git(copy, "config", "user.name", "Test")
    git(copy, "config", "user.email", "test@example.com")
    git(copy, "add", "--all")
    git(copy, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", "copy")
    return copy
{% if cookiecutter.task != 'blank' %}


# A validation split large enough that, one sample per batch, each per-epoch held-out
# phase runs for a second or so: time enough to send a signal while it runs (the test
# split, read once at the end, stays small). HELD_OUT_SAMPLES: how many of its samples
# each per-epoch held-out phase reads.
{% if cookiecutter.task == 'trajectory' %}
LARGE_VAL_SPLIT = ("--train-trajectories", "10", "--val-trajectories", "1000",
                   "--test-trajectories", "10", "--horizon", "10", "--shards", "1")
{% if cookiecutter.include_rollout_phase %}
HELD_OUT_SAMPLES = {"val": 3000, "val_rollout": 800}  # steps, and trajectories rolled out
{% else %}
HELD_OUT_SAMPLES = {"val": 3000}
{% endif %}
{% else %}
LARGE_VAL_SPLIT = ("--train-images", "100", "--val-images", "400", "--test-images", "20",
                   "--image-size", "16", "--shards", "1")
{% if cookiecutter.include_rollout_phase %}
HELD_OUT_SAMPLES = {"val": 400, "val_rollout": 200}
{% else %}
HELD_OUT_SAMPLES = {"val": 400}
{% endif %}
{% endif %}


@pytest.fixture(scope="session")
def large_val_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset with LARGE_VAL_SPLIT's validation split, written once per test session."""
    return written_dataset(tmp_path_factory.mktemp("large_val_split"), LARGE_VAL_SPLIT)
{% endif %}
