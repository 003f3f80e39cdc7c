"""What mirroring a logged run to a tracker (MLflow, W&B) costs the training loop,
measured in one run.

    python benchmarks/tracker_overhead.py           # the full measurement (~20 minutes)
    python benchmarks/tracker_overhead.py --quick   # one short turn each: checks it runs

It bakes the default project three times, with `tracker=mlflow`, `tracker=wandb` and
without a tracker, gives them the same dataset, and trains the same logged
`python run.py --cpu` run in each, the variants taking turns. A number is the training
steps/s between a run's first and last training-loss points in TensorBoard, so start-up
(where the tracker is imported) is left out and what the loop pays is in: each log
window's batch sent to the tracker (every 10 s), and the tracker's run made at the
first one. MLflow's store is a SQLite file, made before the first turn; W&B writes
offline files. The W&B project runs once more with WANDB_MODE=disabled: its ratio to
that run is W&B's own cost, without what else differs between two bakes. The target
(issue 28): a tracker's run within 2% of the plain one.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path

from trainer_overhead import (
    bake_project,
    interleaved,
    pin_threads,
    progress,
    project_environment,
    run_checked,
    training_steps_per_second,
)

TARGET = 0.98  # a tracker's steps/s over the plain run's, at least
TRACKERS = {"mlflow": "MLflow", "wandb": "W&B"}
# Bakes differ in more than their tracker (imports, file layout): the W&B project also
# runs with W&B off, which leaves the tracker's own cost alone.
W_AND_B_OFF = "wandb-disabled"
WANDB_DISABLED = {"WANDB_MODE": "disabled"}
# Epochs of the preloaded training split at batch 32, no held-out phase, a checkpoint
# at each epoch's end: FULL about a minute a run here, six log windows or so.
FULL_EPOCHS, QUICK_EPOCHS = 6, 1
FULL_TURNS, QUICK_TURNS = 3, 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short turn each (~1 minute)")
    quick = parser.parse_args().quick
    pin_threads()
    with tempfile.TemporaryDirectory(prefix="tracker-overhead-") as scratch:
        scratch = Path(scratch)
        progress("baking the default project with MLflow, with W&B and without, and its dataset")
        projects = {"none": bake_project(scratch / "plain")}
        for tracker in TRACKERS:
            projects[tracker] = bake_project(scratch / tracker, f"tracker={tracker}")
        plain = projects["none"]
        run_checked([sys.executable, "scripts/make_dataset.py"], plain, project_environment(plain))
        for tracker in TRACKERS:  # the data is git-ignored: the trees stay clean
            shutil.copytree(plain / "data", projects[tracker] / "data")
        command = training_command(QUICK_EPOCHS if quick else FULL_EPOCHS)
        variants = {
            tracker: partial(training_steps_per_second, lambda: command, project)
            for tracker, project in projects.items()
        }
        # The W&B project with W&B switched off: the same code, no tracker's calls.
        variants[W_AND_B_OFF] = partial(
            training_steps_per_second, lambda: command, projects["wandb"], WANDB_DISABLED
        )
        rates = interleaved(variants, QUICK_TURNS if quick else FULL_TURNS)
    names = {**TRACKERS, "none": "no tracker", W_AND_B_OFF: "W&B project, WANDB_MODE=disabled"}
    for variant, values in rates.items():
        shown = ", ".join(f"{value:.1f}" for value in values)
        print(f"{names[variant]}: {shown} steps/s")
    ratios = {f"{name}/none": (tracker, "none") for tracker, name in TRACKERS.items()}
    ratios["W&B/W&B disabled, the same project"] = ("wandb", W_AND_B_OFF)
    for label, (tracker, reference) in ratios.items():
        ratio = statistics.median(rates[tracker]) / statistics.median(rates[reference])
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(f"{label} steps-per-second ratio: {ratio:.3f} (target >= {TARGET}, {verdict})")


def training_command(epochs: int) -> list[str]:
    """A logged run of `epochs` epochs of training only, batch 32, data preloaded."""
    edits = {
        "epochs": str(epochs),
        "batch_size": "32",
        "checkpoint_interval": "null",
        "data_loader_parameters.all": "{preload: true}",
        # Training only: a held-out phase would sit between the points read.
        "test_data_loader_type": "null",
        "rollout_data_loader_type": "null",
        "selection": "{metric: train/loss}",
    }
    return [
        "run.py",
        "sample_runconfig.yaml",
        "--cpu",
        *(word for key, value in edits.items() for word in ("--modify", key, value)),
    ]


if __name__ == "__main__":
    main()
