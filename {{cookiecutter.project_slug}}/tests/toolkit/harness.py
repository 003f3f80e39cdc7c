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
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
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
HELD_OUT_SAMPLES = {"val": 3000}
# The finished sweep the sweep tests share (conftest.py's swept): two learning rates, two
# seeds each, SWEPT_EPOCHS short epochs a point.
SWEPT_RATES, SWEPT_SEEDS, SWEPT_EPOCHS = (0.001, 0.003), (3, 4), 2
# The trainings that the resume tests (test_resume_*.py) stop. TRAINING: three short
# epochs with a checkpoint after every step, so that a kill can land before, during or
# after a checkpoint write; the learning rate halves after each epoch, so that a resume
# that lost the scheduler's state would end elsewhere.
TRAINING = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "3",
    "--modify",
    "batch_size",
    "16",
    "--modify",
    "log_interval",
    "2",
    "--modify",
    "checkpoint_interval",
    "0.000001",
    "--modify",
    "model_parameters.learning_rate_decay",
    "0.5",
)
# Many small steps and no timed checkpoints, for stopping on a signal.
LONG_TRAINING = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "4",
    "--modify",
    "batch_size",
    "2",
    "--modify",
    "checkpoint_interval",
    "null",
)

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
    "selection": {"metric": "val/loss", "mode": "min", "patience": None},
    "data_loader_parameters": {"all": {}, "train": {}, "test": {}},
}
# Your sample config may name more kinds of dataset (an option's): the toy task reads
# none of them, and a test that needs one sets it.
OTHER_DATASET_KEY = re.compile(r"^\w+_data_loader_type$")
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
        elif key and OTHER_DATASET_KEY.match(key[1]):
            lines.append(f"{key[1]}: null")
        else:
            lines += block
    missing = set(TOY_KEYS) - {
        TOP_LEVEL_KEY.match(line)[1]
        for line in sample_text.splitlines()
        if TOP_LEVEL_KEY.match(line)
    }
    lines += [yaml.safe_dump({key: TOY_KEYS[key]}).rstrip() for key in sorted(missing)]
    return "\n".join(lines) + "\n"


TOY_CONFIG_TEXT = toy_config_text((PROJECT_ROOT / "sample_runconfig.yaml").read_text())
# The toy task in this process: your schema and Trainer with the toy's modules, rooted
# in a scratch folder that holds the toy config as sample_runconfig.yaml.
TOY_PROJECT = dataclasses.replace(
    run.PROJECT,
    root=Path(tempfile.mkdtemp(prefix="toy-project-")),
    models=toy_model,
    datasets=toy_data_loader,
    losses=toy_losses,
)
atexit.register(shutil.rmtree, TOY_PROJECT.root, ignore_errors=True)
SAMPLE = TOY_PROJECT.root / "sample_runconfig.yaml"
SAMPLE.write_text(TOY_CONFIG_TEXT)


def write_run(
    project: Path,
    name: str,
    metadata: dict | None = None,
    text: str | None = None,
    model: str = "Model",
) -> Path:
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


def sweep_file(directory: Path, sweep: str | dict, name: str = "sweep.yaml") -> Path:
    """A sweep file outside the project, so that its tree stays clean: `sweep` as
    written, or a dict as YAML."""
    path = directory / name
    path.write_text(sweep if isinstance(sweep, str) else yaml.safe_dump(sweep))
    return path


def the_sweep(project: Path) -> tuple[Path, dict]:
    """The project's one sweep directory, and its record."""
    [directory] = (project / "logs" / "sweeps").iterdir()
    return directory, sweep_record(directory)


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def metadata_of(run: Path) -> dict:
    """A run directory's record (metadata.yaml)."""
    return read_yaml(run / "metadata.yaml")


def sweep_record(directory: Path) -> dict:
    """A sweep's record as run.py reads it: sweep.yaml, with its points from their files."""
    return records.read_record(directory)


# --------------------------------------------------------------------------------------
# Runs in the background, stopped and resumed


def start(project, *args: str) -> subprocess.Popen:
    """`python run.py ARGS` in `project`, in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )


class Started:
    """A run.py started in the background, and its run directory once it has one."""

    def __init__(self, project, *args: str):
        self.project = project
        self.earlier_runs = set(run_directories(project))
        self.process = start(project, *args)
        self.stderr = ""  # what wait_for_output has read so far

    @property
    def run(self):
        new = [run for run in run_directories(self.project) if run not in self.earlier_runs]
        return new[0] if new else None

    def wait_for_file(self, pattern: str) -> None:
        """Poll until the run directory holds a file matching `pattern`."""
        deadline = time.monotonic() + 120
        while self.run is None or not any(self.run.glob(pattern)):
            assert self.process.poll() is None, f"the run ended before {pattern} appeared"
            assert time.monotonic() < deadline, f"no {pattern} within two minutes"
            time.sleep(0.0005)

    def wait_for_output(self, text: str) -> None:
        """Read the run's stderr, where the progress bars go, until `text` appears."""
        deadline = time.monotonic() + 120
        while text not in self.stderr:
            assert self.process.poll() is None, f"the run ended before {text!r} appeared"
            assert time.monotonic() < deadline, f"no {text!r} within two minutes"
            ready, _, _ = select.select([self.process.stderr], [], [], 0.1)
            if ready:
                chunk = os.read(self.process.stderr.fileno(), 1 << 16)
                self.stderr += chunk.decode(errors="replace")

    def communicate(self) -> str:
        """Wait for the run to end; returns all of its stderr."""
        _, rest = self.process.communicate(timeout=120)
        return self.stderr + rest

    def kill(self):
        self.process.kill()
        self.process.wait()
        return self.run


def final_state(run) -> tuple[dict, dict]:
    metadata = yaml.safe_load((run / "metadata.yaml").read_text())
    last = metadata["progress"]["epochs_completed"] - 1
    weights = torch.load(run / f"model_epoch_{last}.pth", weights_only=True)["model_state_dict"]
    return weights, metadata


def step_curve(run) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars("train_step/loss")]


def killed_run(project):
    """A TRAINING run killed after its first epoch's checkpoint."""
    started = Started(project, *TRAINING)
    started.wait_for_file("model_epoch_0.pth")
    return started.kill()


def files_of(run) -> dict[str, bytes]:
    """The run directory's files, but for the lock, which names its last owner."""
    return {
        path.name: path.read_bytes()
        for path in run.iterdir()
        if path.is_file() and path.name != ".lock"
    }


def uninterrupted(project, *args: str):
    """Final weights, metadata and step curve of a run that is never stopped."""
    result = run_py(project, *args)
    assert result.returncode == 0, result.stderr
    run = run_directories(project)[-1]
    return (*final_state(run), step_curve(run))


def assert_continues_exactly(project, resumed_run, reference) -> subprocess.CompletedProcess:
    result = run_py(project, "--resume", str(resumed_run))
    assert result.returncode == 0, result.stderr
    weights, metadata, curve = (*final_state(resumed_run), step_curve(resumed_run))
    reference_weights, reference_metadata, reference_curve = reference
    for name, tensor in reference_weights.items():
        assert torch.equal(weights[name], tensor), name
    assert metadata["status"] == "finished"
    assert metadata["progress"]["last_results"] == reference_metadata["progress"]["last_results"]
    assert metadata["best"] == reference_metadata["best"]
    assert metadata.get("final_test") == reference_metadata.get("final_test")
    # Each step once, with the values of the run that never stopped.
    assert curve == reference_curve
    assert not list(resumed_run.glob("*.tmp"))
    return result
