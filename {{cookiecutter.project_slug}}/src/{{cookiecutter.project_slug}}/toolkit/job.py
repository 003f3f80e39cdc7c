"""Preparing a job: everything a mistake could spoil is checked before training starts.

A new run checks its config, the git tree, the model and the data, and only then
creates its run directory, so that a mistake leaves nothing half-made in logs/.
--resume reopens a run directory after the same checks, at its newest checkpoint.
"""

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from voluptuous import ALLOW_EXTRA, MultipleInvalid, Optional, Required, Schema

from {{ cookiecutter.project_slug }}.toolkit.base_model import shape_mistake
from {{ cookiecutter.project_slug }}.toolkit.builders import (
    build_loaders,
    build_model,
    splits_read,
)
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import (
    config_differences,
    newest_checkpoint,
)
from {{ cookiecutter.project_slug }}.toolkit.code_check import check_loaded_code
from {{ cookiecutter.project_slug }}.toolkit.config import load_config, resolve_path, validate
from {{ cookiecutter.project_slug }}.toolkit.directory_lock import lock_run_directory
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.fingerprint import check_data, fingerprint
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.repo import RepoState, repo_state
from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE, RunDirectory
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import located, parse_record, read_text

LISTED_DIRTY_FILES = 20
# The fields of metadata.yaml that --resume and --rerun rely on, checked when it is read:
# the file is the researcher's to edit, and may have been damaged by hand.
RECORD = Schema(
    {
        Required("status"): str,
        Required("config"): dict,
        Required("flags"): Schema(
            {Required("cpu"): bool, Required("mini"): bool}, extra=ALLOW_EXTRA
        ),
        Required("git"): Schema({Required("commit"): str}, extra=ALLOW_EXTRA),
        Required("environment"): Schema({Required("threads"): int}, extra=ALLOW_EXTRA),
        # Absent from runs recorded before 0.4: they resume without a check of their data.
        Optional("data"): Schema(
            {str: Schema({Required("hash"): str, Required("shards"): dict}, extra=ALLOW_EXTRA)}
        ),
{% if cookiecutter.multi_gpu %}
        Required("distributed"): Schema({Required("world_size"): int}, extra=ALLOW_EXTRA),
{% endif %}
    },
    extra=ALLOW_EXTRA,
)


# A caller's own check of a new run, with its config and the git state it will record.
BeforeLogging = Callable[[dict, RepoState], None]


@dataclass(frozen=True)
class JobHooks:
    """What the optional features add to preparing a job; the command layer passes
    them (run_here.py). The defaults: one process, started here, recording nothing more."""

    # The fields of metadata.yaml (and of an evaluation's record) that say how the job's
    # processes start, from its config and --cpu; called once, before anything is written.
    launch_record: Callable[[dict, bool], dict] = lambda config, cpu: {}
    # As --resume reopens a run, with its record, before its config is read: may refuse
    # the run (a UserError), or note in the record that the run resumes here.
    take_over: Callable[[dict, Path], None] = lambda metadata, run_path: None
    # As --resume reopens a run, with its record, its config and --cpu: may warn that
    # the run resumes in another way than it started.
    check_resumed: Callable[[dict, dict, bool], None] = lambda metadata, config, cpu: None
    # As a logged run is created or resumed, with the project's root: the copies of the
    # run kept elsewhere (mirrors.py's Mirror: a lab's web service), told what it logs.
    mirrors: Callable[[Path], list] = lambda project_root: []


NO_HOOKS = JobHooks()


@dataclass
class Job:
    """What training needs, settled once before it starts."""

    config: dict
    mini: bool
    cpu: bool
    device: torch.device
    run: RunDirectory | None  # None: nothing is logged
    checkpoint: Path | None = None  # resume from this checkpoint
    # run.py --evaluate: what to evaluate, no training (evaluation.py's Evaluation,
    # which builds on this module)
    evaluation: Any = None

    @property
    def commit(self) -> str | None:
        """The commit whose code the job must run: its run's, or that of the run it
        evaluates; None when nothing is recorded."""
        if self.run is not None:
            return self.run.metadata["git"]["commit"]
        return self.evaluation.commit if self.evaluation else None


def prepare(
    args: argparse.Namespace,
    project: Project,
    check_before_logging: BeforeLogging | None = None,
    hooks: JobHooks = NO_HOOKS,
) -> Job:
    """Check the config, the tree, the model and the data, then create the run
    directory (or reopen it, with --resume). `check_before_logging(config, repo)`, if
    given, may refuse the run (a UserError) before anything is written."""
    if args.resume:
        return prepare_resume(Path(args.resume), project, args.allow_changed_data, hooks)
    config = load_config(args.config, project, args.find_replace, args.delete, args.modify)
    if config["val_split"] == "test":
        print(
            "warning: val_split is test, so the best checkpoint is chosen on the test split "
            "and the final test's numbers are no unbiased estimate; the record shows it",
            file=sys.stderr,
        )
    launch = hooks.launch_record(config, args.cpu)
    repo = repo_to_record(args, project.root)
    device = choose_device(args.cpu)
    check_model_and_data(config, args.mini, device, project)
    run = None
    if repo is not None:
        check_loaded_code(project.root, repo.commit)  # what git status cannot see
        # Hashed once, by the process that prepares the job, before training starts.
        data = fingerprint(
            resolve_path(config["data_directory"], project.root), splits_read(config)
        )
        if check_before_logging is not None:
            check_before_logging(config, repo)
        # Created last, so that a mistake found above leaves no half-made directory.
        run = RunDirectory.create(project.logs, config, vars(args), repo, device, data, launch)
        run.mirrors = hooks.mirrors(project.root)
    return Job(config, args.mini, args.cpu, device, run)


def prepare_resume(
    run_path: Path, project: Project, allow_changed_data: bool = False, hooks: JobHooks = NO_HOOKS
) -> Job:
    """Reopen a logged run at its newest readable checkpoint, if the code is the same
    (and the data, unless `allow_changed_data`)."""
    read_metadata(run_path)  # a run directory, before a lock file is made in it
    lock_run_directory(run_path)
    metadata = read_metadata(run_path)  # as its last owner left it
    if metadata.get("status") == "finished":
        raise UserError(f"{run_path} has finished; there is nothing to resume.")
    hooks.take_over(metadata, run_path)
    config = validate(metadata["config"], run_path / METADATA_FILE, project)
    flags = metadata["flags"]
    repo = repo_to_record(
        argparse.Namespace(no_logging=False, allow_dirty_repo=False), project.root
    )
    recorded = metadata["git"]["commit"]
    if repo.commit != recorded:
        raise UserError(
            f"the run was made at commit {recorded[:12]}, but HEAD is {repo.commit[:12]}; "
            f"resuming needs the same code. `git checkout {recorded[:12]}`, or `git worktree "
            f"add DIR {recorded[:12]}` and resume from DIR with its own code first: "
            "`PYTHONPATH=src python run.py --resume ...`."
        )
    hooks.check_resumed(metadata, config, flags["cpu"])
    if torch.get_num_threads() != metadata["environment"]["threads"]:
        print(
            f"warning: the run used {metadata['environment']['threads']} CPU threads and "
            f"resumes with {torch.get_num_threads()}; floating-point results will differ "
            "slightly from an uninterrupted run",
            file=sys.stderr,
        )
    # From here on the record holds the data as they are now: a run recorded before 0.4
    # gets its fingerprint, and a change allowed now is not refused at the next resume.
    metadata["data"], data_changed = check_data(
        metadata.get("data"),
        resolve_path(config["data_directory"], project.root),
        splits_read(config),
        allow_changed_data,
    )
    device = choose_device(flags["cpu"])
    check_model_and_data(config, flags["mini"], device, project)
    check_loaded_code(project.root, recorded)  # what git status cannot see
    found = newest_checkpoint(run_path, metadata.get("run_id"))
    checkpoint_path, checkpoint = found if found else (None, None)
    if checkpoint_path is None:
        print(
            "note: the run has no checkpoint yet; it starts again from the beginning",
            file=sys.stderr,
        )
    else:
        check_record_matches(run_path, metadata, checkpoint_path, checkpoint)
    run = RunDirectory.resume(run_path, metadata, checkpoint_path, checkpoint, data_changed)
    run.mirrors = hooks.mirrors(project.root)  # continue the same copies elsewhere
    return Job(config, flags["mini"], flags["cpu"], device, run, checkpoint_path)


def check_record_matches(
    run_path: Path, metadata: dict, checkpoint_path: Path, checkpoint: dict
) -> None:
    """The checkpoint holds the config and commit the weights were trained with: a
    metadata.yaml edited since would resume one config and record another."""
    differences = config_differences(
        {"config": metadata["config"], "git": {"commit": metadata["git"]["commit"]}},
        {"config": checkpoint["config"], "git": {"commit": checkpoint["commit"]}},
    )
    if differences:
        raise UserError(
            f"{run_path / METADATA_FILE} no longer says what its checkpoint "
            f"{checkpoint_path.name} was trained with:\n  "
            + "\n  ".join(differences)
            + f"\nThe checkpoint is what ran: put those values back in {METADATA_FILE} to "
            "resume, or start a new run with the changed config (--modify KEY VALUE)."
        )


def config_to_print(args: argparse.Namespace, project: Project) -> dict:
    """--print-config: the config a run would use, checked like a run's but without
    looking at the git tree, the data or the model."""
    if args.config:
        return load_config(args.config, project, args.find_replace, args.delete, args.modify)
    return read_metadata(Path(args.resume or args.rerun))["config"]


def read_metadata(run_path: Path) -> dict:
    """A run's record, checked to hold what --resume and --rerun read from it."""
    path = run_path / METADATA_FILE
    try:
        metadata = parse_record(read_text(path))
    except FileNotFoundError:
        raise UserError(f"{run_path} is not a run directory: it has no {METADATA_FILE}") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UserError(f"cannot read {path}: {located(error, path)}") from None
    if not isinstance(metadata, dict):
        raise UserError(f"{path} is not the metadata of a logged run")
    try:
        return RECORD(metadata)
    except MultipleInvalid as error:
        problems = "\n".join(
            f"  - {'.'.join(map(str, problem.path))}: {problem.msg}" for problem in error.errors
        )
        raise UserError(
            f"{path} is damaged; --resume and --rerun need these fields:\n"
            f"{problems}\nRestore them, e.g. from a copy of the run directory."
        ) from None


# --------------------------------------------------------------------------------------
# Steps of prepare()


def repo_to_record(args: argparse.Namespace, project_root: Path) -> RepoState | None:
    """The git state a logged run records, or None when this run logs nothing."""
    if args.no_logging:
        return None
    if args.allow_dirty_repo:
        confirm_unlogged_run(args.y)
        return None
    state = repo_state(project_root)
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
        raise UserError(
            "--allow-dirty-repo asks before it runs, and there is no terminal "
            "to answer; add --y to say yes."
        )
    try:
        answer = input("--allow-dirty-repo: nothing from this run will be saved. Continue? [y/n] ")
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


def check_model_and_data(config: dict, mini: bool, device: torch.device, project: Project) -> None:
    # Built only to be checked: training builds its own, freshly seeded.
    network = build_model(config, project)
    loaders = build_loaders(config, mini, device, project)
    check_device_supports(config, device)
    # A sample or two of each phase through the model, on the CPU: a model and data that
    # do not fit together fail here, before a run directory exists, rather than at the
    # first step. What comes out names the numbers each phase logs.
    logged = []
    with torch.no_grad():
        # The phases of every epoch: the test split is the final test's, read once, later.
        for phase in [
            name
            for name, loader in loaders.items()
            if loader is not None and not name.startswith("test")
        ]:
            # Two rows, read as the loader reads a batch: a (B, 1) prediction broadcasts
            # against (B,) supervision only where B > 1.
            dataset = loaders[phase].dataset
            batch = network.transform(dataset.__getitems__(list(range(min(2, len(dataset))))))
{% if cookiecutter.include_rollout_phase %}
            if phase == "val_rollout":
                metrics = network.rollout_metrics(network.rollout(batch), batch)
                logged += [f"{phase}/{name}" for name in ("loss", *metrics)]
                continue
{% endif %}
            prediction = network(batch)
            mistake = shape_mistake(prediction, batch["supervision"])
            if mistake:
                raise UserError(
                    f"{mistake} ({phase}'s data through {type(network).__name__})"
                    ". Make the model's forward return the supervision's shape."
                )
            metrics = network.metrics(prediction, batch)
            logged += [f"{phase}/{name}" for name in ("loss", *metrics)]
    check_selection(config["selection"], logged)
    for loader in filter(None, loaders.values()):
        network.check_dataset(loader.dataset)  # data the model cannot learn from


def check_selection(selection: dict, logged: list[str]) -> None:
    """The selection's metric must be a number this config's phases log every epoch."""
    if selection["metric"] not in logged:
        raise UserError(
            f"selection.metric is {selection['metric']}, which this config does not log; "
            f"it logs {', '.join(logged)} every epoch. Set selection.metric to one of them "
            "(and selection.mode to max where higher is better)."
        )


def check_device_supports(config: dict, device: torch.device) -> None:
    """Refuse options this machine cannot run now, rather than at the first step."""
    if (
        config["mixed_precision"] == "bf16"
        and device.type == "cuda"
        and not torch.cuda.is_bf16_supported()
    ):
        raise UserError(
            "mixed_precision: bf16 needs a GPU with bfloat16 support (Ampere or "
            "newer); set mixed_precision: null on this one."
        )
    # What torch.compile's CPU code generator looks for.
    compilers = [name for name in (os.environ.get("CXX"), "g++", "clang++") if name]
    if config["compile_model"] and device.type == "cpu" and not any(map(shutil.which, compilers)):
        raise UserError(
            "compile_model: torch.compile needs a C++ compiler on the CPU and "
            "found none (g++, clang++ or $CXX); install one or set "
            "compile_model: false."
        )
