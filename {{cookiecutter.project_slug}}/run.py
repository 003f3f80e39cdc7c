"""Start a training run from a config file.

    python run.py sample_runconfig.yaml                                   # a logged run
    python run.py sample_runconfig.yaml --mini --allow-dirty-repo --y     # a quick check

A logged run needs a clean git tree. It writes logs/<model_type>/<timestamp>/ with
the config as it ran, the commit, TensorBoard logs and checkpoints.
"""

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
{% if cookiecutter.multi_gpu %}
from torch.distributed.elastic.multiprocessing.errors import record
from torch.multiprocessing import ProcessExitedException, ProcessRaisedException
{% endif %}

{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }} import data_loader, distributed, losses, model
{% else %}
from {{ cookiecutter.project_slug }} import data_loader, losses, model
{% endif %}
from {{ cookiecutter.project_slug }}.config import load_config, resolve_path
from {{ cookiecutter.project_slug }}.errors import UserError
from {{ cookiecutter.project_slug }}.experiment import RunDirectory, load_model_weights
from {{ cookiecutter.project_slug }}.repo import RepoState, repo_state
from {{ cookiecutter.project_slug }}.schema import PHASES
from {{ cookiecutter.project_slug }}.train import Trainer

PROJECT_ROOT = Path(__file__).resolve().parent
LOGS = PROJECT_ROOT / "logs"
{% if cookiecutter.include_rollout_phase %}
SPLITS = {"train": "train", "test": "test", "eval": "test"}  # phase -> data folder
{% else %}
SPLITS = {"train": "train", "test": "test"}  # phase -> data folder
{% endif %}
LISTED_DIRTY_FILES = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="the run config (YAML)")
    parser.add_argument("--cpu", action="store_true",
                        help="train on the CPU even when a GPU is available")
    parser.add_argument("--mini", action="store_true",
                        help="use mini datasets (mini_size elements, default 100) "
                             "to check the pipeline quickly")
    parser.add_argument("--no-logging", action="store_true",
                        help="save nothing: no run directory, TensorBoard or checkpoints")
    parser.add_argument("--allow-dirty-repo", action="store_true",
                        help="run from uncommitted code; asks first, and logs nothing")
    parser.add_argument("--y", action="store_true",
                        help="answer yes to the --allow-dirty-repo question")
    parser.add_argument("--find-replace", nargs="+", action="extend", default=[], metavar="TEXT",
                        help="pairs FIND REPLACE: replace text in the config file "
                             "before it is read (use with care)")
    parser.add_argument("--delete", nargs="+", action="extend", default=[], metavar="KEY",
                        help="config keys to remove; dotted for nested keys "
                             "(model_parameters.hidden_size)")
    parser.add_argument("--modify", nargs="+", action="extend", default=[], metavar="KEY_OR_VALUE",
                        help="pairs KEY VALUE: set a config key (dotted for nested keys) "
                             "to a YAML value, e.g. --modify epochs 5; repeatable")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
{% if cookiecutter.multi_gpu %}
    if distributed.started_by_torchrun():
        return main_under_torchrun(args)
{% endif %}
    try:
        config = load_config(args.config, args.find_replace, args.delete, args.modify)
{% if cookiecutter.multi_gpu %}
        multigpu = config["multigpu_parameters"]
        if multigpu:
            distributed.check_gpus(multigpu, args.cpu)
            distributed.limit_threads(multigpu["ngpus_per_node"])
            launch = distributed.spawned(0, multigpu, args.cpu).record()
        else:
            launch = {"launcher": "single process", "world_size": 1, "backend": None}
        device = choose_device(args.cpu)
        run = start_run(args, config, device, launch)
{% else %}
        device = choose_device(args.cpu)
        run = start_run(args, config, device)
{% endif %}
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    announce(run)
{% if cookiecutter.multi_gpu %}
    if multigpu:
        return supervise(run, lambda: spawn(config, args, run))
{% endif %}
    return supervise(run, lambda: train(config, args.mini, device, run))
{% if cookiecutter.multi_gpu %}


@record  # torchrun's failure summary then shows the exception, not only an exit code
def main_under_torchrun(args: argparse.Namespace) -> int:
    """One process of a torchrun job: rank 0 checks and prepares, every rank trains."""
    process = distributed.join_torchrun_group(args.cpu)
    device = process.device(args.cpu)
    try:
        config, run = None, None
        if process.is_main:
            try:
                config = load_config(args.config, args.find_replace, args.delete, args.modify)
                run = start_run(args, config, device, process.record())
            except UserError as error:
                config = None  # tells every rank to stop
                print(f"error: {error}", file=sys.stderr)
        # Checked once, on rank 0; the other ranks train on exactly the config it validated.
        config = distributed.broadcast_from_main(config)
        if config is None:
            return 2
        if process.is_main:
            announce(run)
        return supervise(run, lambda: train(config, args.mini, device, run, process))
    finally:
        distributed.stop()
{% endif %}


{% if cookiecutter.multi_gpu %}
def start_run(args: argparse.Namespace, config: dict, device: torch.device,
              launch: dict) -> RunDirectory | None:
{% else %}
def start_run(args: argparse.Namespace, config: dict,
              device: torch.device) -> RunDirectory | None:
{% endif %}
    """Check everything a mistake could spoil, then create the run directory (None when
    this run logs nothing). Created last, so a mistake leaves no half-made directory."""
    repo = repo_to_record(args)
    # Built here only to be checked; training builds its own, freshly seeded.
    build_model(config)
    build_loaders(config, args.mini, device)
    if repo is None:
        return None
{% if cookiecutter.multi_gpu %}
    return RunDirectory.create(LOGS, config, vars(args), repo, device, launch)
{% else %}
    return RunDirectory.create(LOGS, config, vars(args), repo, device)
{% endif %}


def announce(run: RunDirectory | None) -> None:
    print(f"logging to {run.path}" if run else "logging is off: nothing from this run is saved")


def supervise(run: RunDirectory | None, training: Callable[[], None]) -> int:
    """Run `training` and record how it ended in the run directory."""
    try:
        training()
    except KeyboardInterrupt:
        if run:
            run.finish("interrupted")
        print("interrupted", file=sys.stderr)
        return 130
{% if cookiecutter.multi_gpu %}
    except ProcessRaisedException as error:
        # Its message holds the failed process's index and traceback.
        if run:
            run.finish("failed", error=str(error).strip().splitlines()[-1])
        print(f"error: a training process failed, so the job was stopped.{error}",
              file=sys.stderr)
        return 1
    except ProcessExitedException as error:
        if run:
            run.finish("failed", error=str(error))
        print(f"error: {error}; the job is stopped.", file=sys.stderr)
        return 1
{% endif %}
    except BaseException as error:
        if run:
            run.finish("failed", error=f"{type(error).__name__}: {error}")
        raise
    if run:
        run.finish("finished")
        print(f"run directory: {run.path}")
    return 0


{% if cookiecutter.multi_gpu %}
def train(config: dict, mini: bool, device: torch.device, run: RunDirectory | None,
          process: distributed.Process | None = None) -> None:
    # Each rank draws its own random numbers; DDP gives every rank rank 0's initial weights.
    seed_everything(config["seed"] + (process.rank if process else 0))
    network = build_model(config)
    loaders = build_loaders(config, mini, device, process)
{% else %}
def train(config: dict, mini: bool, device: torch.device, run: RunDirectory | None) -> None:
    seed_everything(config["seed"])
    network = build_model(config)
    loaders = build_loaders(config, mini, device)
{% endif %}
    trainer = Trainer(
        network, getattr(losses, config["loss_function"]), loaders["train"],
        epochs=config["epochs"], device=device, test_loader=loaders["test"],
{% if cookiecutter.include_rollout_phase %}
        eval_loader=loaders["eval"],
{% endif %}
{% if cookiecutter.multi_gpu %}
        log_interval=config["log_interval"], run=run, process=process,
{% else %}
        log_interval=config["log_interval"], run=run,
{% endif %}
    )
    try:
        trainer.fit()
    finally:
        if run:
            run.close()
{% if cookiecutter.multi_gpu %}
    if process:
        # Leave together: a rank that drops its connections while rank 0 still writes
        # the run directory can make rank 0's communication threads abort.
        distributed.barrier()
{% endif %}
{% if cookiecutter.multi_gpu %}


def spawn(config: dict, args: argparse.Namespace, run: RunDirectory | None) -> None:
    """Train with one process per GPU of this node (CPU processes with --cpu).

    If one process fails, the others are stopped and the error is raised here.
    """
    torch.multiprocessing.spawn(train_spawned, args=(config, args, run),
                                nprocs=config["multigpu_parameters"]["ngpus_per_node"])


def train_spawned(local_rank: int, config: dict, args: argparse.Namespace,
                  run: RunDirectory | None) -> None:
    parameters = config["multigpu_parameters"]
    process = distributed.spawned(local_rank, parameters, args.cpu)
    distributed.start(process, init_method=parameters["url"])
    try:
        train(config, args.mini, process.device(args.cpu), run if process.is_main else None,
              process)
    finally:
        distributed.stop()
{% endif %}


# --------------------------------------------------------------------------------------
# Steps of main()


def repo_to_record(args: argparse.Namespace) -> RepoState | None:
    """The git state a logged run records, or None when this run logs nothing."""
    if args.no_logging:
        return None
    if args.allow_dirty_repo:
        confirm_unlogged_run(args.y)
        return None
    state = repo_state(PROJECT_ROOT)
    if state.dirty_files:
        listed = [f"  {line}" for line in state.dirty_files[:LISTED_DIRTY_FILES]]
        if len(state.dirty_files) > LISTED_DIRTY_FILES:
            listed.append(f"  ... and {len(state.dirty_files) - LISTED_DIRTY_FILES} more")
        raise UserError(
            "the repository has uncommitted changes, so its commit would not say what ran:\n"
            + "\n".join(listed)
            + "\nCommit them (git add --all && git commit), add generated files to "
            ".gitignore, or pass --allow-dirty-repo for a run that logs nothing."
        )
    return state


def confirm_unlogged_run(assume_yes: bool) -> None:
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise UserError("--allow-dirty-repo asks before it runs, and there is no terminal "
                        "to answer; add --y to say yes.")
    try:
        answer = input("--allow-dirty-repo: nothing from this run will be saved. "
                       "Continue? [y/n] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise UserError("stopped at your answer; nothing ran.")


def choose_device(cpu: bool) -> torch.device:
    if cpu:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    print("note: no GPU found, training on the CPU (--cpu says so explicitly)", file=sys.stderr)
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every device, CUDA included


def build_model(config: dict) -> model.FishboticsModel:
    model_class = getattr(model, config["model_type"])
    try:
        network = model_class(**config["model_parameters"])
    except (TypeError, ValueError, RuntimeError) as error:
        # The names were checked against the signature; this is a value it refused.
        raise UserError(f"{model_class.__name__} could not be built from "
                        f"model_parameters {config['model_parameters']}: {error}") from None
    if config["bootstrap_model_file"]:
        load_model_weights(network, resolve_path(config["bootstrap_model_file"], PROJECT_ROOT))
    return network


{% if cookiecutter.multi_gpu %}
def build_loaders(config: dict, mini: bool, device: torch.device,
                  process: distributed.Process | None = None) -> dict:
    """One DataLoader per phase (this rank's share of the data), or None for a phase
    the config leaves out."""
    shard = {"rank": process.rank, "world_size": process.world_size} if process else {}
{% else %}
def build_loaders(config: dict, mini: bool, device: torch.device) -> dict:
    """One DataLoader per phase, or None for a phase the config leaves out."""
{% endif %}
    directory = resolve_path(config["data_directory"], PROJECT_ROOT)
    parameters = config["data_loader_parameters"]
    loaders = {}
    for index, phase in enumerate(PHASES):
        name = config[f"{phase}_data_loader_type"]
        if name is None:
            loaders[phase] = None
            continue
        loaders[phase] = getattr(data_loader, name).get_dataloader(
            directory, SPLITS[phase], config["batch_size"],
            shuffle=phase == "train",
            mini=mini,
{% if cookiecutter.include_rollout_phase %}
            max_samples=config["eval_max_samples"] if phase == "eval" else None,
{% endif %}
            num_workers=config["num_workers"],
            seed=config["seed"] + index,  # each phase draws from its own stream
            pin_memory=device.type == "cuda",
{% if cookiecutter.multi_gpu %}
            **shard,
{% endif %}
            **{**parameters.get("all", {}), **parameters.get(phase, {})},
        )
    return loaders


if __name__ == "__main__":
    sys.exit(main())
