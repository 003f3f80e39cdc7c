"""What the generated project costs over plain PyTorch, measured in one run.

    python benchmarks/trainer_overhead.py           # the full measurement (~2 minutes)
    python benchmarks/trainer_overhead.py --quick   # every row, few turns: checks it runs

It bakes the default project into a temporary folder, writes its dataset, imports
the project's package from its src/ and compares, each against a reference taken in
the same run:

  training    steps/s of the generated Trainer's real train_loop (tqdm bar on,
              TensorBoard logging into a run directory) against plain_loop.py's
              loop, on the same model, DataLoader and batch size;
  start-up    process start to the first optimizer step, `python run.py` (a logged
              run) against plain_loop.py run as a script;
  code check  what the check that the loaded modules are the commit's (code_check.py)
              adds to a logged run's start-up: its first call in a process that has
              imported run.py, against nothing; a note gives its share of start-up;
  fingerprint what the data's fingerprint (fingerprint.py) adds to a logged run's
              start-up, on the default dataset and on a 1 GB one (random bytes, built
              in the temporary folder): the first start, nothing cached, against
              hashing the same files bare; a start on unchanged data against nothing;
  data        the task dataset's samples/s, read from its HDF5 shards and preloaded,
              against the same arrays in an in-memory per-sample dataset;
  checkpoint  writing one checkpoint of the default model through the run
              directory (atomic, fsynced) against a bare torch.save;
  processes   a project baked with multi-GPU code: training steps/s of `python
              run.py --cpu` with 2 gloo processes against 1 process (read from
              the run's TensorBoard points, so start-up is left out);
  Lightning   PyTorch Lightning's Trainer on the training workload, if installed.

The variants of a comparison take turns, so that drift of the machine hits them
alike, and each number is the median of several turns. PyTorch runs on one thread
in every process. The last line printed is the trainer/raw steps/s ratio at batch 32.
To add a comparison, write a function that returns Rows and call it from main().
"""

import argparse
import contextlib
import copy
import hashlib
import importlib
import itertools
import logging
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType, SimpleNamespace

import h5py
import numpy as np
import torch
import yaml
from plain_loop import train_epoch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, TensorDataset

TEMPLATE = Path(__file__).resolve().parents[1]
PLAIN_LOOP = Path(__file__).resolve().with_name("plain_loop.py")
PROJECT_MODULES = {
    "config": "toolkit.config",
    "data_loader": "data_loader",
    "run_directory": "toolkit.run_directory",
    "fingerprint": "toolkit.fingerprint",
    "losses": "losses",
    "model": "model",
    "repo": "toolkit.repo",
    "train": "train",
}
CPU = torch.device("cpu")
THREADS = 1
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
BATCH_SIZES = (32, 512)
# Steps in one turn of the training comparison: about 0.3 s at either size. Short
# turns, many of them, keep the machine's drift from landing on one variant.
TRAINING_TURN_STEPS = {32: 400, 512: 60}
WORKER_COUNTS = (0, 2)
# The least acceptable ratio to the reference, by batch size.
TRAINER_TARGETS = {32: 0.97, 512: 0.99}
DATASET_TARGETS = {32: 0.5, 512: 1.0}
START_UP_TARGET = 1.0  # seconds more than the plain script, at most
CODE_CHECK_TARGET = 100.0  # milliseconds, at most: every training process pays it
FINGERPRINT_TARGET = 0.1  # seconds, at most, on unchanged data: every logged start pays it


@dataclass(frozen=True)
class Settings:
    turns: int  # measured turns of each variant, after one warm-up turn
    start_up_turns: int  # the same for start-up, where each turn starts a process
    data_samples: int  # samples read in one turn of a dataset comparison
    processes_samples: int  # training samples of one run in the processes comparison
    large_data_bytes: int  # the large dataset of the fingerprint comparison


FULL = Settings(
    turns=31,
    start_up_turns=5,
    data_samples=10_000,
    processes_samples=100_000,
    large_data_bytes=10**9,
)
QUICK = Settings(
    turns=2,
    start_up_turns=1,
    data_samples=2_000,
    processes_samples=6_400,
    large_data_bytes=64 * 10**6,
)


@dataclass(frozen=True)
class Row:
    """One line of the table: ours against a reference measured in the same run.

    A rate (unit ".../s") compares as the ratio ours / reference, higher is better;
    a time as the difference ours - reference, lower is better.
    """

    what: str
    unit: str
    ours: float
    reference: float
    target: float | None = None  # the least ratio, or the most difference, that is good enough

    @property
    def is_rate(self) -> bool:
        return self.unit.endswith("/s")

    @property
    def score(self) -> float:
        return self.ours / self.reference if self.is_rate else self.ours - self.reference

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.score >= self.target if self.is_rate else self.score <= self.target


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="every row with few turns (~20 s): checks that it runs"
    )
    return parser.parse_args()


def main() -> None:
    settings = QUICK if parse_args().quick else FULL
    pin_threads()
    lightning = find_lightning()
    for line in describe_machine(lightning):
        print(line)
    with tempfile.TemporaryDirectory(prefix="trainer-overhead-") as scratch:
        # The data fingerprints' cache (of run.py's logged runs too), not the user's.
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        project = bake(Path(scratch))
        package = import_project(project)
        config = package.config.load_config(project / "sample_runconfig.yaml", package.run.PROJECT)
        rows: list[Row] = []
        trainers = {}
        for batch_size in BATCH_SIZES:
            trainer_rows, trainers[batch_size] = compare_training(
                package, project, config, batch_size, settings, lightning
            )
            rows += trainer_rows
        rows += compare_start_up(project, config, settings)
        rows += measure_code_check(project, settings)
        rows += compare_fingerprint(package, project / "data", settings)
        rows += compare_fingerprint(
            package, large_dataset(Path(scratch), settings.large_data_bytes), settings
        )
        for workers in WORKER_COUNTS:
            for batch_size in BATCH_SIZES:
                rows += compare_datasets(package, project, config, batch_size, workers, settings)
        rows += compare_checkpoint(trainers[BATCH_SIZES[0]], settings)
        rows += compare_processes(Path(scratch), project / "data", settings)
    notes = [code_check_share(rows)]
    if not lightning:
        notes.append(
            "PyTorch Lightning is not installed, so its rows are skipped (it is "
            "never a dependency; install it in this environment to compare)."
        )
    print_table(rows, notes)
    [headline] = [row for row in rows if row.what == training_label("Trainer", BATCH_SIZES[0])]
    print(f"trainer/raw steps-per-second ratio (batch {BATCH_SIZES[0]}): {headline.score:.2f}")


# --------------------------------------------------------------------------------------
# Set-up: threads, the machine, the baked project


def pin_threads() -> None:
    """One thread in this process and, through the environment, in every subprocess."""
    os.environ.update({variable: str(THREADS) for variable in THREAD_VARIABLES})
    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(THREADS)
    # (DataLoader workers always run PyTorch on one thread.)


def find_lightning() -> ModuleType | None:
    """PyTorch Lightning, under its current or its older package name, if installed."""
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def describe_machine(lightning: ModuleType | None) -> list[str]:
    versions = [
        f"Python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"numpy {np.__version__}",
        f"h5py {h5py.__version__}",
    ]
    if lightning:
        versions.append(f"lightning {lightning.__version__}")
    return [
        f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "versions: " + ", ".join(versions),
        f"threads: torch {torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} "
        f"inter-op; "
        + " ".join(f"{name}={os.environ[name]}" for name in THREAD_VARIABLES)
        + " in every subprocess",
    ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bake(scratch: Path) -> Path:
    """The default project, committed by the template's own hook, with its default dataset."""
    progress("baking the default project and writing its dataset")
    project = bake_project(scratch)
    run_checked(
        [sys.executable, "scripts/make_dataset.py"], cwd=project, env=project_environment(project)
    )
    return project


def bake_project(scratch: Path, *answers: str) -> Path:
    """A project baked into `scratch` (a new folder) with `answers` (key=value) or defaults."""
    scratch.mkdir(exist_ok=True)
    run_checked(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(scratch),
            str(TEMPLATE),
            *answers,
        ],
        cwd=scratch,
        env=without_git_variables(),
    )
    [project] = [path for path in scratch.iterdir() if path.is_dir()]
    return project


def import_project(project: Path) -> SimpleNamespace:
    """The baked project's modules, imported from its src/ as `pip install -e .` would,
    and its run.py, whose PROJECT hands the toolkit the project's own modules."""
    sys.path[:0] = [str(project / "src"), str(project)]
    modules = {
        name: importlib.import_module(f"{project.name}.{module}")
        for name, module in PROJECT_MODULES.items()
    }
    return SimpleNamespace(**modules, run=importlib.import_module("run"))


def without_git_variables() -> dict[str, str]:
    """This environment (threads pinned) without the variables that would point git, in
    the bake or in the project's git checks, at another repository."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    }


def project_environment(project: Path) -> dict[str, str]:
    """The environment of a process in the project: its src/ on the import path."""
    return {**without_git_variables(), "PYTHONPATH": str(project / "src")}


def run_checked(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr}")


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Taking turns


def interleaved(variants: dict[str, Callable[[], object]], turns: int) -> dict[str, list]:
    """Each variant's measurements, taken in turns after one warm-up turn each.

    The warm-up pays one-off costs (imports, file caches, starting workers) that a
    turn should not see. The order alternates (A B, B A, A B, ...) so that no variant
    always runs right after the same other one.
    """
    for measure in variants.values():
        measure()
    measurements: dict[str, list] = {name: [] for name in variants}
    for turn in range(turns):
        order = list(variants) if turn % 2 == 0 else list(reversed(variants))
        for name in order:
            measurements[name].append(variants[name]())
    return measurements


def medians(measurements: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in measurements.items()}


def per_second(work: Callable[[], object], units: int) -> float:
    start = time.perf_counter()
    work()
    return units / (time.perf_counter() - start)


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------
# Training: the Trainer against the plain loop (and Lightning)


def training_label(variant: str, batch_size: int) -> str:
    return f"{variant} vs plain loop, batch {batch_size}"


def compare_training(
    package: SimpleNamespace,
    project: Path,
    config: dict,
    batch_size: int,
    settings: Settings,
    lightning: ModuleType | None,
) -> tuple[list[Row], object]:
    """Rows for the Trainer (and Lightning) against the plain loop; and the Trainer."""
    progress(f"training at batch {batch_size}")
    # Preloaded data makes a step as cheap as it gets, so that the trainer's own cost
    # shows as plainly as it can; reading from HDF5 is measured by compare_datasets.
    # `mini` keeps the first rows only, so that an epoch, one turn, is short.
    loader = getattr(package.data_loader, config["train_data_loader_type"]).get_dataloader(
        project / "data",
        "train",
        batch_size,
        shuffle=True,
        seed=config["seed"],
        preload=True,
        mini=True,
        mini_size=TRAINING_TURN_STEPS[batch_size] * batch_size,
    )
    network = getattr(package.model, config["model_type"])(**config["model_parameters"])
    trainer = generated_trainer(
        package, project, {**config, "batch_size": batch_size}, clone(network), loader
    )
    plain_model = clone(network)
    plain_optimizer = plain_model.optimizer()
    epochs = itertools.count()
    variants = {
        "Trainer": partial(per_second, lambda: trainer.train_loop(next(epochs)), len(loader)),
        "plain": partial(
            per_second, partial(train_epoch, plain_model, plain_optimizer, loader), len(loader)
        ),
    }
    if lightning:
        variants["Lightning"] = lightning_epoch(
            lightning,
            clone(network),
            loader,
            project / "logs" / "lightning",
            config["log_interval"],
        )
    rates = medians(interleaved(variants, settings.turns))
    rows = [
        Row(
            training_label("Trainer", batch_size),
            "steps/s",
            rates["Trainer"],
            rates["plain"],
            TRAINER_TARGETS[batch_size],
        )
    ]
    if lightning:
        rows.append(
            Row(
                training_label("Lightning", batch_size),
                "steps/s",
                rates["Lightning"],
                rates["plain"],
            )
        )
    return rows, trainer


def generated_trainer(
    package: SimpleNamespace,
    project: Path,
    config: dict,
    network: torch.nn.Module,
    loader: DataLoader,
):
    """The project's Trainer as run.py sets it up for a logged run (one per batch size)."""
    run = package.run_directory.RunDirectory.create(
        project / "logs",
        config,
        {"benchmark": True},
        package.repo.repo_state(project),
        CPU,
        data={},
    )  # data_fingerprint.py measures the fingerprint
    return package.train.Trainer(
        {**config, "epochs": 1},
        network,
        getattr(package.losses, config["loss_function"]),
        {"train": loader},
        device=CPU,
        run=run,
    )


def clone(network: torch.nn.Module) -> torch.nn.Module:
    """A copy with the same weights: every variant trains its own, from the same start."""
    return copy.deepcopy(network)


def lightning_epoch(
    lightning: ModuleType,
    network: torch.nn.Module,
    loader: DataLoader,
    log_directory: Path,
    log_interval: int,
) -> Callable[[], float]:
    """A measurement: one epoch of Lightning's Trainer, set up as a user would; steps/s.

    The epoch is timed from inside (a callback), so Lightning's per-fit set-up, paid
    once per run by a user, is left out: only its steps are compared.
    """
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning|pytorch_lightning")

    class Policy(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.network = network

        def training_step(self, batch, batch_index):
            loss = torch.nn.functional.mse_loss(self.network(batch), batch["supervision"])
            self.log("train_step/loss", loss)
            return loss

        def configure_optimizers(self):
            return self.network.optimizer()

    class EpochTimer(lightning.Callback):
        def on_train_epoch_start(self, trainer, module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.seconds = time.perf_counter() - self.start

    policy = Policy()
    loggers = importlib.import_module(f"{lightning.__name__}.loggers")

    def epoch() -> float:
        timer = EpochTimer()
        trainer = lightning.Trainer(
            max_epochs=1,
            accelerator="cpu",
            devices=1,
            callbacks=[timer],
            logger=loggers.TensorBoardLogger(log_directory),
            log_every_n_steps=log_interval,
            enable_checkpointing=False,
            enable_model_summary=False,
        )
        # Its progress bar writes to stdout; to stderr, like ours, it leaves the table alone.
        with contextlib.redirect_stdout(sys.stderr):
            trainer.fit(policy, loader)
        return len(loader) / timer.seconds

    return epoch


# --------------------------------------------------------------------------------------
# Start-up: `python run.py` against the plain script

PROBE_TAG = "benchmark-first-step"
# Runs the script in argv[1:] as __main__, prints the moment of its first optimizer step
# and ends the process there: start-up is measured without waiting for the training.
# time.monotonic() is one clock for every process on a machine.
FIRST_STEP_PROBE = f"""
import os, runpy, sys, time
from torch.optim.optimizer import register_optimizer_step_post_hook
def report(*_):
    print("{PROBE_TAG}", time.monotonic(), flush=True)
    os._exit(0)
register_optimizer_step_post_hook(report)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def compare_start_up(project: Path, config: dict, settings: Settings) -> list[Row]:
    progress("start-up: run.py against the plain script")
    run_py = ["run.py", "sample_runconfig.yaml", "--cpu"]  # a logged run: git checks, run dir
    plain = [str(PLAIN_LOOP), str(project), project.name, str(config["batch_size"])]
    times = medians(
        interleaved(
            {
                "run.py": partial(seconds_to_first_step, run_py, project),
                "plain": partial(seconds_to_first_step, plain, project),
            },
            settings.start_up_turns,
        )
    )
    return [
        Row(
            "start-up to the first step: run.py vs plain script",
            "s",
            times["run.py"],
            times["plain"],
            START_UP_TARGET,
        )
    ]


def seconds_to_first_step(command: list[str], project: Path) -> float:
    """Seconds from starting `python COMMAND` in the project to its first optimizer step."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", FIRST_STEP_PROBE, *command],
        cwd=project,
        env=project_environment(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    reports = [line.split()[1] for line in result.stdout.splitlines() if line.startswith(PROBE_TAG)]
    if result.returncode != 0 or not reports:
        sys.exit(f"{' '.join(command)} ended before its first optimizer step:\n{result.stderr}")
    return float(reports[0]) - start


# --------------------------------------------------------------------------------------
# Code check: what checking the loaded modules against the commit adds to start-up

CODE_CHECK_LABEL = "code check of the modules run.py loaded vs none"
# Imports run.py as a training process has (its imports, not its main()), then times
# the first code check of the process, as run.py and every rank pay it once.
CODE_CHECK_PROBE = """
import importlib, runpy, subprocess, sys, time
from pathlib import Path
runpy.run_path("run.py")
check = importlib.import_module(sys.argv[1] + ".toolkit.code_check")
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                        check=True).stdout.strip()
start = time.perf_counter()
check.check_loaded_code(Path.cwd(), commit)
print(time.perf_counter() - start)
"""


def measure_code_check(project: Path, settings: Settings) -> list[Row]:
    progress("code check of the loaded modules")
    times = []
    for _ in range(settings.start_up_turns):
        result = subprocess.run(
            [sys.executable, "-c", CODE_CHECK_PROBE, project.name],
            cwd=project,
            env=project_environment(project),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            sys.exit(f"the code check failed:\n{result.stderr}")
        times.append(float(result.stdout.split()[-1]))
    return [Row(CODE_CHECK_LABEL, "ms", 1000 * statistics.median(times), 0.0, CODE_CHECK_TARGET)]


def code_check_share(rows: list[Row]) -> str:
    [check] = [row for row in rows if row.what == CODE_CHECK_LABEL]
    [start_up] = [row for row in rows if row.what.startswith("start-up to the first step")]
    return (
        f"the code check is {check.ours / (10 * start_up.ours):.1f}% of run.py's start-up "
        f"to the first step ({check.ours:.1f} ms of {start_up.ours:.2f} s)."
    )


# --------------------------------------------------------------------------------------
# Data fingerprint: what hashing the data's shards adds to a logged run's start-up


def large_dataset(scratch: Path, size: int) -> Path:
    """A dataset of `size` bytes in 8 shards of random bytes: the fingerprint reads
    files, not HDF5, so their content does not matter."""
    progress(f"writing a {size / 1e9:g} GB dataset to fingerprint")
    data = scratch / "large-data"
    shard_bytes, chunk_bytes = size // 8, 16 * 2**20
    generator = np.random.default_rng(0)
    for split, shards in (("train", 7), ("test", 1)):
        (data / split).mkdir(parents=True)
        for index in range(shards):
            with open(data / split / f"shard_{index:03d}.h5", "wb") as file:
                for start in range(0, shard_bytes, chunk_bytes):
                    file.write(generator.bytes(min(chunk_bytes, shard_bytes - start)))
    return data


def compare_fingerprint(package: SimpleNamespace, data: Path, settings: Settings) -> list[Row]:
    """The fingerprint of `data`'s splits, as a logged run takes it before it starts.

    Files are in the page cache (the warm-up turn reads them), as after writing a
    dataset: a first start that reads them from disk adds the disk's read time.
    """
    fingerprint = package.fingerprint
    splits = sorted(path.name for path in data.iterdir() if path.is_dir())
    files = sorted(data.glob("*/*.h5"))
    size = f"{sum(path.stat().st_size for path in files) / 1e6:,.0f} MB"
    progress(f"data fingerprint of {size}")

    def first_start() -> float:
        fingerprint.cache_file().unlink(missing_ok=True)
        return seconds(lambda: fingerprint.fingerprint(data, splits))

    def bare_hashes() -> float:
        def read() -> None:
            for path in files:
                with open(path, "rb") as file:
                    hashlib.file_digest(file, fingerprint.ALGORITHM)

        return seconds(read)

    first = medians(
        interleaved({"first": first_start, "bare": bare_hashes}, settings.start_up_turns)
    )
    fingerprint.fingerprint(data, splits)  # fills the cache
    unchanged = statistics.median(
        seconds(lambda: fingerprint.fingerprint(data, splits)) for _ in range(settings.turns)
    )
    return [
        Row(
            f"data fingerprint, {size}, first start vs bare sha256",
            "s",
            first["first"],
            first["bare"],
        ),
        Row(
            f"data fingerprint, {size}, unchanged (cached) vs none",
            "ms",
            1000 * unchanged,
            0.0,
            1000 * FINGERPRINT_TARGET,
        ),
    ]


# --------------------------------------------------------------------------------------
# Data: the task dataset against an in-memory per-sample dataset


def compare_datasets(
    package: SimpleNamespace,
    project: Path,
    config: dict,
    batch_size: int,
    workers: int,
    settings: Settings,
) -> list[Row]:
    progress(f"data at batch {batch_size}, {workers} workers")
    dataset_class = getattr(package.data_loader, config["train_data_loader_type"])
    directory = project / "data"
    in_memory = TensorDataset(*read_all(dataset_class(directory, "train")).values())
    loaders = {
        "in memory": DataLoader(
            in_memory, batch_size, shuffle=True, num_workers=workers, persistent_workers=workers > 0
        ),
        "HDF5": dataset_class.get_dataloader(
            directory, "train", batch_size, shuffle=True, num_workers=workers
        ),
        "preloaded": dataset_class.get_dataloader(
            directory, "train", batch_size, shuffle=True, num_workers=workers, preload=True
        ),
    }
    batches = settings.data_samples // batch_size
    rates = medians(
        interleaved(
            {
                name: partial(per_second, partial(consume, loader, batches), batches * batch_size)
                for name, loader in loaders.items()
            },
            settings.turns,
        )
    )
    return [
        Row(
            f"dataset {name} vs in-memory per-sample, batch {batch_size}, {workers} workers",
            "samples/s",
            rates[name],
            rates["in memory"],
            DATASET_TARGETS[batch_size],
        )
        for name in ("HDF5", "preloaded")
    ]


def read_all(dataset) -> dict[str, torch.Tensor]:
    """Every row of a dataset, read through its own batched interface."""
    return dataset.__getitems__(list(range(len(dataset))))


def consume(loader: DataLoader, batches: int) -> None:
    for _ in itertools.islice(loader, batches):
        pass


# --------------------------------------------------------------------------------------
# Checkpoints: the run directory's atomic write against a bare torch.save


def compare_checkpoint(trainer, settings: Settings) -> list[Row]:
    progress("checkpoint writes")
    run = trainer.run
    bare_path = run.path / "bare_torch_save.pth"
    state = partial(trainer.state, 0, position=None)
    times = medians(
        interleaved(
            {
                "ours": partial(seconds, lambda: run.save_mid_epoch_checkpoint(0, 50, state())),
                "bare": partial(seconds, lambda: torch.save(state(), bare_path)),
            },
            settings.turns,
        )
    )
    return [
        Row(
            "checkpoint of the default model: run directory vs torch.save",
            "ms",
            1000 * times["ours"],
            1000 * times["bare"],
        )
    ]


# --------------------------------------------------------------------------------------
# Processes: 2 gloo processes against 1, through run.py

PROCESSES_BATCH_SIZE = 32  # per process: the size where communication weighs most
PROCESSES_LOG_INTERVAL = 25


def compare_processes(scratch: Path, data: Path, settings: Settings) -> list[Row]:
    """Steps/s of the DDP path of a multi-GPU project, 2 CPU processes against 1.

    On this machine's cores, with a thread each, ideal scaling keeps the steps/s of one
    process while every step covers twice the samples.
    """
    progress("processes: run.py with 2 gloo processes against 1")
    project = bake_project(scratch / "multi_gpu", "multi_gpu=yes")
    config = yaml.safe_load((project / "sample_runconfig.yaml").read_text())
    edits = [
        "data_directory",
        str(data),
        "epochs",
        "1",
        "batch_size",
        str(PROCESSES_BATCH_SIZE),
        "log_interval",
        str(PROCESSES_LOG_INTERVAL),
        "checkpoint_interval",
        "null",
        "data_loader_parameters.all",
        f"{{preload: true, mini_size: {settings.processes_samples}}}",
    ]
    for key in config:  # training only: other phases would sit between the points read
        if key.endswith("_data_loader_type") and key != "train_data_loader_type":
            edits += [key, "null"]
    edits += ["selection", "{metric: train/loss}"]  # no held-out phase to select on
    one = ["run.py", "sample_runconfig.yaml", "--cpu", "--mini", "--modify", *edits]

    def two() -> list[str]:  # a port of its own each time: another job may hold the default
        block = f"{{ngpus_per_node: 2, backend: gloo, url: 'tcp://127.0.0.1:{free_port()}'}}"
        return [*one, "multigpu_parameters", block]

    rates = medians(
        interleaved(
            {
                "1 process": partial(training_steps_per_second, lambda: one, project),
                "2 processes": partial(training_steps_per_second, two, project),
            },
            settings.start_up_turns,
        )
    )
    return [
        Row(
            f"multi-GPU code: 2 gloo processes vs 1, batch {PROCESSES_BATCH_SIZE} each",
            "steps/s",
            rates["2 processes"],
            rates["1 process"],
        )
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def training_steps_per_second(
    command: Callable[[], list[str]], project: Path, settings: dict[str, str] | None = None
) -> float:
    """Optimizer steps/s of a logged `python COMMAND` in the project (with the environment
    `settings`, if given), between its first and last training-loss points in TensorBoard."""
    command = command()
    result = subprocess.run(
        [sys.executable, *command],
        cwd=project,
        env={**project_environment(project), **(settings or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    logged = re.findall(r"^logging to (.+)$", result.stdout, flags=re.MULTILINE)
    if result.returncode != 0 or not logged:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr}")
    events = EventAccumulator(logged[0])
    events.Reload()
    points = events.Scalars("train_step/loss")
    first, last = points[0], points[-1]
    return (last.step - first.step) / (last.wall_time - first.wall_time)


# --------------------------------------------------------------------------------------
# The table


def print_table(rows: list[Row], notes: list[str]) -> None:
    header = ("comparison", "ours", "reference", "unit", "score", "target", "")
    lines = [header] + [
        (
            row.what,
            number(row.ours),
            number(row.reference),
            row.unit,
            score(row),
            target(row),
            verdict(row),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    print()
    for line in lines:
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:-1], strict=True)
        ]
        print("  ".join([*cells, line[-1]]).rstrip())
    for note in notes:
        print(f"note: {note}")


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def score(row: Row) -> str:
    return f"{row.score:.3f}x" if row.is_rate else f"{row.score:+.2f} {row.unit}"


def target(row: Row) -> str:
    if row.target is None:
        return ""
    return f">= {row.target:.2f}x" if row.is_rate else f"<= {row.target:+.2f} {row.unit}"


def verdict(row: Row) -> str:
    return {None: "", True: "met", False: "MISSED"}[row.met]


if __name__ == "__main__":
    main()
