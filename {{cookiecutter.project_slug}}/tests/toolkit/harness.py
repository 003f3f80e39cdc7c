"""What the toolkit's tests share: committed copies of this project in which the toy task
(toy/) stands in for yours, and small helpers to drive run.py in them.

A copy keeps your train.py, schema.py and run.py and swaps model.py, data_loader.py,
losses.py and sample_runconfig.yaml for the toy task's, with the toy's data in data/.
The machinery is then checked on a task that does not change when yours does.
"""

import atexit
import dataclasses
import re
import shutil
import tempfile
from pathlib import Path

import yaml
from toy import data_loader as toy_data_loader
from toy import losses as toy_losses
from toy import model as toy_model

import run
from {{ cookiecutter.project_slug }}.toolkit import sweep_record as records
from {{ cookiecutter.project_slug }}.toolkit import testing
from {{ cookiecutter.project_slug }}.toolkit.sweep_record import write_point as write_point
from {{ cookiecutter.project_slug }}.toolkit.testing import environment as environment
from {{ cookiecutter.project_slug }}.toolkit.testing import git as git
from {{ cookiecutter.project_slug }}.toolkit.testing import run_directories as run_directories
from {{ cookiecutter.project_slug }}.toolkit.testing import run_py as run_py

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOY = Path(__file__).resolve().parent / "toy"
PACKAGE = PROJECT_ROOT / "src" / "{{ cookiecutter.project_slug }}"

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
    "data_loader_parameters": {
        "all": {},
        "train": {},
        "test": {},
{% if cookiecutter.include_rollout_phase %}
        "rollout": {},
{% endif %}
    },
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
TOY_PROJECT = dataclasses.replace(run.PROJECT, root=Path(tempfile.mkdtemp(prefix="toy-project-")),
                                  models=toy_model, datasets=toy_data_loader, losses=toy_losses)
atexit.register(shutil.rmtree, TOY_PROJECT.root, ignore_errors=True)
SAMPLE = TOY_PROJECT.root / "sample_runconfig.yaml"
SAMPLE.write_text(TOY_CONFIG_TEXT)


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
    return testing.committed_copy(PROJECT_ROOT, directory, dataset, prepare=with_the_toy_task)


def with_the_toy_task(copy: Path) -> None:
    package = copy / PACKAGE.relative_to(PROJECT_ROOT)
    for module in ("model.py", "data_loader.py", "losses.py"):
        shutil.copyfile(TOY / module, package / module)
    (copy / "sample_runconfig.yaml").write_text(TOY_CONFIG_TEXT)


def sweep_record(directory: Path) -> dict:
    """A sweep's record as run.py reads it: sweep.yaml, with its points from their files."""
    return records.read_record(directory)
