"""What the toolkit's tests share: committed copies of this project in which the toy task
(toy/) stands in for yours, and small helpers to drive run.py in them.

A copy keeps your train.py, schema.py and run.py and swaps model.py, data_loader.py,
losses.py and sample_runconfig.yaml for the toy task's, with the toy's data in data/.
The machinery is then checked on a task that does not change when yours does.
"""

import atexit
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from toy import data_loader as toy_data_loader
from toy import losses as toy_losses
from toy import model as toy_model

from run import PROJECT

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOY = Path(__file__).resolve().parent / "toy"
PACKAGE = PROJECT_ROOT / "src" / "{{ cookiecutter.project_slug }}"
NOT_COPIED = shutil.ignore_patterns(
    ".git", "data", "logs", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv",
    "*.egg-info"
)
# Variables that would point git at another repository than the copy's.
GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")

# The toy config's classes; a model parameter that sets the width of the first layer,
# and that layer's weights.
MODEL, DATASET = "ToyPolicy", "ToyStepDataset"
WIDTH, FIRST_LAYER = "hidden_size", "network.0.weight"
# The tests' small dataset: 40 training paths of 10 steps (400 samples), 12 validation
# and 10 test paths, in 3 shards (toy/data.py).
DATASET_SIZES = {"train": 40, "val": 12, "test": 10, "steps": 10, "shards": 3}
# A validation split large enough that, one sample per batch, each per-epoch held-out
# phase runs for a second or so: time enough to send a signal while it runs (the test
# split, read once at the end, stays small). HELD_OUT_SAMPLES: how many of its samples
# each per-epoch held-out phase reads.
LARGE_VAL_SPLIT = {"train": 10, "val": 1000, "test": 10, "steps": 10, "shards": 1}
{% if cookiecutter.include_rollout_phase %}
HELD_OUT_SAMPLES = {"val": 3000, "val_rollout": 800}  # steps, and paths rolled out
{% else %}
HELD_OUT_SAMPLES = {"val": 3000}
{% endif %}

# The toy task's values for the keys of your sample config that name your task or set
# its size; the toolkit's tests rely on these.
TOY_KEYS = {
    "description": "The toolkit's toy task",
    "data_directory": "data",
    "model_type": MODEL,
    "model_parameters": {"hidden_size": 64, "learning_rate": 0.001, "learning_rate_decay": 1.0},
    "loss_function": "mse_loss",
    "epochs": 10,
    "batch_size": 256,
    "checkpoint_interval": 600,
    "log_interval": 50,
    "train_data_loader_type": DATASET,
    "test_data_loader_type": DATASET,
{% if cookiecutter.include_rollout_phase %}
    "rollout_data_loader_type": "ToyRolloutDataset",
    "rollout_max_samples": 100,
    "selection": {"metric": "val_rollout/final_distance", "mode": "min", "patience": None},
{% else %}
    "selection": {"metric": "val/loss", "mode": "min", "patience": None},
{% endif %}
    "data_loader_parameters": {"all": {}, "train": {}, "test": {}{{ ', "rollout": {}' if cookiecutter.include_rollout_phase }}},
}
TOP_LEVEL_KEY = re.compile(r"^([A-Za-z_]\w*):")


def toy_config_text(sample_text: str) -> str:
    """Your sample config with the toy task's values for TOY_KEYS, its other keys and
    comments kept as they are."""
    blocks: list[list[str]] = [[]]
    for line in sample_text.splitlines():
        if TOP_LEVEL_KEY.match(line):
            blocks.append([])
        blocks[-1].append(line)
    lines = []
    for block in blocks:
        key = TOP_LEVEL_KEY.match(block[0]) if block else None
        if key and key[1] in TOY_KEYS:
            lines.append(yaml.safe_dump({key[1]: TOY_KEYS[key[1]]}, sort_keys=False).rstrip())
        else:
            lines += block
    missing = set(TOY_KEYS) - {TOP_LEVEL_KEY.match(line)[1] for line in sample_text.splitlines()
                               if TOP_LEVEL_KEY.match(line)}
    lines += [yaml.safe_dump({key: TOY_KEYS[key]}).rstrip() for key in sorted(missing)]
    return "\n".join(lines) + "\n"


TOY_CONFIG_TEXT = toy_config_text((PROJECT_ROOT / "sample_runconfig.yaml").read_text())
# The toy task in this process: your schema and Trainer with the toy's modules, rooted
# in a scratch folder that holds the toy config as sample_runconfig.yaml.
TOY_PROJECT = dataclasses.replace(PROJECT, root=Path(tempfile.mkdtemp(prefix="toy-project-")),
                                  models=toy_model, datasets=toy_data_loader, losses=toy_losses)
atexit.register(shutil.rmtree, TOY_PROJECT.root, ignore_errors=True)
SAMPLE = TOY_PROJECT.root / "sample_runconfig.yaml"
SAMPLE.write_text(TOY_CONFIG_TEXT)


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


def committed_copy(directory: Path, dataset: Path) -> Path:
    """directory/project: this project with the toy task in place of yours and `dataset`
    as its data/, committed on a fresh repository."""
    copy = directory / "project"
    shutil.copytree(PROJECT_ROOT, copy, ignore=NOT_COPIED)
    package = copy / PACKAGE.relative_to(PROJECT_ROOT)
    for module in ("model.py", "data_loader.py", "losses.py"):
        shutil.copyfile(TOY / module, package / module)
    (copy / "sample_runconfig.yaml").write_text(TOY_CONFIG_TEXT)
    shutil.copytree(dataset, copy / "data")
    git(copy, "init", "--quiet")
    git(copy, "config", "user.name", "Test")
    git(copy, "config", "user.email", "test@example.com")
    git(copy, "add", "--all")
    git(copy, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", "copy")
    return copy
