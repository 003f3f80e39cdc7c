"""Evaluating a logged run again, recorded inside its run directory (run.py --evaluate).

    python run.py --evaluate logs/<model_type>/<timestamp>              # best, on test/
    python run.py --evaluate RUN --checkpoint last --split val
    python run.py --evaluate RUN --modify batch_size 256                # another setting

The held-out phases run on one split with the weights of one checkpoint, under the
rules of training: a clean tree at the run's commit (a checkout at another commit
evaluates in a temporary worktree of the run's commit, as --rerun does), the data
checked against the run's fingerprint, and the run's config, whose edits may change
how the model is evaluated but not which model it is. The results go into
RUN/evaluations/<time>.yaml with everything that produced them.
"""

import argparse
import copy
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch

from {{ cookiecutter.project_slug }}.toolkit.base_trainer import phase_summary
from {{ cookiecutter.project_slug }}.toolkit.builders import (
    build_loaders,
    build_model,
    held_out_phases,
)
from {{ cookiecutter.project_slug }}.toolkit.code_check import check_loaded_code
from {{ cookiecutter.project_slug }}.toolkit.config import (
    apply_deletions,
    apply_modifications,
    path_inside,
    resolve_path,
    validate,
)
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.fingerprint import check_data
from {{ cookiecutter.project_slug }}.toolkit.hparams import flat_config
from {{ cookiecutter.project_slug }}.toolkit.job import (
    NO_HOOKS,
    Job,
    JobHooks,
    choose_device,
    read_metadata,
    repo_to_record,
)
from {{ cookiecutter.project_slug }}.toolkit.job_training import OneProcess
from {{ cookiecutter.project_slug }}.toolkit.loading import (
    MODEL_KEYS,
    check_trained_with,
    load_weights,
    read_chosen_checkpoint,
)
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.random_state import seed_everything
from {{ cookiecutter.project_slug }}.toolkit.repo import repo_state
from {{ cookiecutter.project_slug }}.toolkit.run_directory import (
    METADATA_FILE,
    cannot_write,
    now,
)
from {{ cookiecutter.project_slug }}.toolkit.stopping import ForwardedSignals, StopSignals
from {{ cookiecutter.project_slug }}.toolkit.worktree import checked_out, run_at_commit
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import atomic_write, dump

EVALUATIONS = "evaluations"  # the run directory's folder of evaluation records


@dataclass
class Evaluation:
    """What run.py --evaluate evaluates, and the record of it so far."""

    run_path: Path
    checkpoint: Path
    split: str
    # The checkpoint's weights, read once: a run still training may delete the file.
    weights: dict = field(default_factory=dict, repr=False)
    record: dict = field(default_factory=dict)  # all but the results and the end

    @property
    def commit(self) -> str:
        return self.record["commit"]

    def phases(self, config: dict) -> dict[str, tuple[str, str]]:
        """The held-out phases, named after the split they read: test on test/."""
        return held_out_phases(config, self.split, self.split)

    def describe(self) -> str:
        return (
            f"evaluating {self.run_path} with {self.checkpoint.name} (epoch "
            f"{self.record['checkpoint_epoch']}) on {self.split}/"
        )

    def save(self, results: dict[str, dict[str, float]]) -> Path:
        """Write the record with `results`, whole or not at all; its path."""
        record = {**self.record, "finished": now(), "results": results}
        folder = self.run_path / EVALUATIONS
        stamp = datetime.fromisoformat(record["started"]).strftime("%Y-%m-%d_%H-%M-%S")
        path, attempt = folder / f"{stamp}.yaml", 0
        while path.exists():  # two evaluations started in the same second
            attempt += 1
            path = folder / f"{stamp}_{attempt}.yaml"
        text = dump(record)
        atomic_write(path, lambda file: file.write(text.encode()))
        return path


def at_run_commit(run_directory: str, project_root: Path) -> bool:
    """Whether this checkout's HEAD is the commit of the run in `run_directory`."""
    metadata = read_metadata(Path(run_directory).resolve())
    return repo_state(project_root).commit == metadata["git"]["commit"]


def evaluate_at_run_commit(args: argparse.Namespace, project_root: Path) -> int:
    """run.py --evaluate of the run's own commit, in a temporary worktree of it: the
    run's model and data code, whatever this checkout holds now. Its exit code."""
    normalise_split(args)
    run_path = Path(args.evaluate).resolve()
    metadata = read_metadata(run_path)
    commit = metadata["git"]["commit"]
    signals = ForwardedSignals().install()
    with checked_out(project_root, commit, metadata["config"], "evaluate") as worktree:
        if "--evaluate" not in (worktree / "run.py").read_text(encoding="utf-8"):
            raise UserError(
                f"the run's commit {commit[:12]} has no run.py --evaluate (it came in "
                "version 0.4). Load its model with PROJECT.load_run and evaluate it in "
                "a script, or re-run the experiment with --rerun."
            )
        # Flushed now: the evaluation writes to the same output.
        print(
            f"this checkout is not at the run's commit {commit[:12]}: evaluating "
            f"with that commit's code, in {worktree}",
            flush=True,
        )
        return run_at_commit(worktree, worktree_arguments(args, run_path), signals)


def worktree_arguments(args: argparse.Namespace, run_path: Path) -> list[str]:
    """The command line of --evaluate, for run.py in another directory."""
    checkpoint = args.checkpoint
    if checkpoint not in ("best", "last"):
        checkpoint = str(run_path / Path(checkpoint).expanduser())  # relative: in the run
    arguments = ["--evaluate", str(run_path), "--checkpoint", checkpoint, "--split", args.split]
    arguments += [
        f"--{flag.replace('_', '-')}"
        for flag in ("cpu", "mini", "allow_changed_data")
        if getattr(args, flag)
    ]
    if args.modify:
        arguments += ["--modify", *args.modify]
    if args.delete:
        arguments += ["--delete", *args.delete]
    return arguments


def prepare_evaluation(
    args: argparse.Namespace, project: Project, hooks: JobHooks = NO_HOOKS
) -> Job:
    """Check the run, the tree, the config's edits, the checkpoint and the data of
    run.py --evaluate, as for training: a mistake is found before anything runs."""
    started = now()
    normalise_split(args)
    run_path = Path(args.evaluate).resolve()
    metadata = read_metadata(run_path)
    commit = metadata["git"]["commit"]
    repo = repo_to_record(args, project.root)  # a clean tree
    if repo.commit != commit:
        raise UserError(
            f"the run was made at commit {commit[:12]}, but HEAD is {repo.commit[:12]}; "
            f"check out the run's commit (`git checkout {commit[:12]}`, or `git worktree add "
            "DIR` it) and evaluate from there."
        )
    config, changes = evaluated_config(metadata, args, run_path / METADATA_FILE, project)
    launch = hooks.launch_record(config, args.cpu)
    device = choose_device(args.cpu)
    checkpoint, contents = read_chosen_checkpoint(run_path, metadata, args.checkpoint)
    check_trained_with(config, checkpoint, contents)
    # A checkpoint without its config (or a file of another run's) may not fit: that is
    # found now, by a model built once to try, not as the evaluation starts.
    with torch.random.fork_rng(devices=[]):
        model = build_model(config, project, bootstrap=False)
    load_weights(model, checkpoint, contents, config, "Pass a checkpoint of this run.")
    evaluation = Evaluation(run_path, checkpoint, args.split, contents["model_state_dict"])
    loaders = build_loaders(config, args.mini, device, project, phases=evaluation.phases(config))
    if not any(loaders.values()):
        raise UserError(
            "the run's config reads no held-out data (test_data_loader_type is "
            "null), so there is nothing to evaluate; set it with --modify."
        )
    data, data_changed = checked_split(metadata, config, args, project)
    check_loaded_code(project.root, commit)  # what git status cannot see
    try:
        (run_path / EVALUATIONS).mkdir(exist_ok=True)
    except OSError as error:
        raise UserError(cannot_write(error, run_path)) from None
    evaluation.record = {
        "started": started,
        "finished": None,
        "commit": commit,
        "command": [sys.executable, *sys.argv],
        "checkpoint": checkpoint.name if checkpoint.parent == run_path else str(checkpoint),
        "checkpoint_epoch": contents.get("epoch"),
        "split": args.split,
        "config_changes": changes,  # from the run's config: key: [the run's, this one's]
        "flags": {"cpu": args.cpu, "mini": args.mini},
        "device": str(device),
        **launch,
        "data": data,
        **({"data_changed": data_changed} if data_changed else {}),
    }
    return Job(config, args.mini, args.cpu, device, None, evaluation=evaluation)


def evaluated_config(
    metadata: dict, args: argparse.Namespace, source: Path, project: Project
) -> tuple[dict, dict]:
    """The run's config with the evaluation's edits, and what they changed; an edit of
    the model is refused."""
    recorded = validate(metadata["config"], source, project)
    config = edited_config(recorded, args, source, project)
    changes = config_changes(recorded, config)
    changed_model = [key for key in changes if key.split(".")[0] in MODEL_KEYS]
    if changed_model:
        raise UserError(
            f"{', '.join(changed_model)}: the model is the run's, as its "
            "checkpoints hold it; an evaluation cannot change it. Leave out "
            "that edit, or train a run with it."
        )
    return config, changes


def checked_split(
    metadata: dict, config: dict, args: argparse.Namespace, project: Project
) -> tuple[dict, list[str]]:
    """The evaluated split's fingerprint, checked against the run's: only the split
    evaluated must be as the run read it."""
    recorded = metadata.get("data")
    if recorded is not None:
        recorded = {split: recorded[split] for split in recorded if split == args.split}
    return check_data(
        recorded,
        resolve_path(config["data_directory"], project.root),
        [args.split],
        args.allow_changed_data,
        "evaluate",
    )


def evaluate(
    job: Job,
    project: Project,
    device: torch.device,
    stop_signals: StopSignals,
    process: OneProcess | None = None,
) -> None:
    """Run the evaluation's held-out phases with its checkpoint's weights; the main
    process prints and records the results. Every process of a job of several
    evaluates its share of the data, and the sums are the job's."""
    process = process or OneProcess()
    seed_everything(job.config["seed"] + process.seed_offset)
    phases = job.evaluation.phases(job.config)
    loaders = build_loaders(job.config, job.mini, device, project, phases, process.share)
    network = build_model(job.config, project, bootstrap=False)
    network.load_state_dict(job.evaluation.weights)  # prepare_evaluation tried them
    config = job.config
    # A Trainer without training data: its evaluate() is the one the final test runs.
    trainer = project.trainer(
        config,
        network,
        getattr(project.losses, config["loss_function"]),
        loaders,
        device=device,
        stop_signals=stop_signals,
        processes=process.trainer_processes(device),
    )
    results = {phase: trainer.evaluate(phase) for phase in trainer.held_out_loaders}
    if not process.is_main:
        return
    path = job.evaluation.save(results)
    print(f"{job.evaluation.split}/: {phase_summary(results)}\nrecorded in {path}")


def normalise_split(args: argparse.Namespace) -> None:
    """--split as the name of its folder in data_directory, before any use: `test/`
    and `./test` are `test`, checked against the run's fingerprint of test/ and
    recorded as test. Each way into an evaluation calls this first."""
    args.split = str(path_inside(args.split, "--split", "data_directory", nested=False))


def edited_config(recorded: dict, args: argparse.Namespace, source: Path, project: Project) -> dict:
    """The run's config after --delete and --modify, validated."""
    config = copy.deepcopy(recorded)
    apply_deletions(config, args.delete, source, project.schema)
    apply_modifications(config, args.modify, project.schema)
    return validate(config, source, project)


def config_changes(before: dict, after: dict) -> dict[str, list]:
    """The dotted keys whose values differ, each with [before, after] (None: absent).
    A value of another type differs too: 1 is not 1.0 to a schema."""
    before, after = flat_config(before), flat_config(after)
    return {
        key: [before.get(key), after.get(key)]
        for key in dict.fromkeys([*before, *after])
        if before.get(key) != after.get(key) or type(before.get(key)) is not type(after.get(key))
    }
