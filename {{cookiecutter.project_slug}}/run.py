"""Start a training run from a config file.

    python run.py sample_runconfig.yaml                                   # a logged run
    python run.py sample_runconfig.yaml --mini --allow-dirty-repo --y     # a quick check

A logged run needs a clean git tree. It writes logs/<model_type>/<timestamp>/ with
the config as it ran, the commit, TensorBoard logs and checkpoints.
"""

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch

from {{ cookiecutter.project_slug }} import data_loader, losses, model
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
    try:
        config = load_config(args.config, args.find_replace, args.delete, args.modify)
        repo = repo_to_record(args)
        device = choose_device(args.cpu)
        seed_everything(config["seed"])
        network = build_model(config)
        loaders = build_loaders(config, args.mini, device)
        # Created last: a mistake found above leaves no half-made run directory behind.
        run = RunDirectory.create(LOGS, config, vars(args), repo, device) if repo else None
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    print(f"logging to {run.path}" if run else "logging is off: nothing from this run is saved")
    try:
        trainer = Trainer(
            network, getattr(losses, config["loss_function"]), loaders["train"],
            epochs=config["epochs"], device=device, test_loader=loaders["test"],
{% if cookiecutter.include_rollout_phase %}
            eval_loader=loaders["eval"],
{% endif %}
            log_interval=config["log_interval"], run=run,
        )
        trainer.fit()
    except KeyboardInterrupt:
        if run:
            run.finish("interrupted")
        print("interrupted", file=sys.stderr)
        return 130
    except BaseException as error:
        if run:
            run.finish("failed", error=f"{type(error).__name__}: {error}")
        raise
    if run:
        run.finish("finished")
        print(f"run directory: {run.path}")
    return 0


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


def build_loaders(config: dict, mini: bool, device: torch.device) -> dict:
    """One DataLoader per phase, or None for a phase the config leaves out."""
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
            **{**parameters.get("all", {}), **parameters.get(phase, {})},
        )
    return loaders


if __name__ == "__main__":
    sys.exit(main())
