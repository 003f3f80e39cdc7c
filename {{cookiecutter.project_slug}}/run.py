"""Start a training run from a config file, or resume one from its run directory.

    python run.py sample_runconfig.yaml                                   # a logged run
    python run.py sample_runconfig.yaml --mini --allow-dirty-repo --y     # a quick check
    python run.py --resume logs/ReachingPolicy/2024-05-01_12-00-00        # continue a run
    python run.py --rerun logs/ReachingPolicy/2024-05-01_12-00-00         # reproduce it
    python run.py --list                                                  # the logged runs
    python run.py sample_runconfig.yaml --modify epochs 5 --print-config  # what would run

A logged run needs a clean git tree. It writes logs/<model_type>/<timestamp>/ with
the config as it ran, the commit, TensorBoard logs and checkpoints.
"""

import argparse
import errno
import os
{% if cookiecutter.multi_gpu %}
import pickle
{% endif %}
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
{% if cookiecutter.multi_gpu %}
from torch.distributed.elastic.multiprocessing.errors import record
from torch.multiprocessing import ProcessContext, ProcessExitedException, ProcessRaisedException
{% endif %}
from voluptuous import ALLOW_EXTRA, MultipleInvalid, Required, Schema

from {{ cookiecutter.project_slug }} import data_loader, losses, model
from {{ cookiecutter.project_slug }}.schema import PHASES
{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit import distributed, distributed_training
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.code_check import check_loaded_code
from {{ cookiecutter.project_slug }}.toolkit.config import load_config, resolve_path, validate
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.experiment import (
    METADATA_FILE,
    RunDirectory,
    cannot_write,
    config_differences,
    load_model_weights,
    lock_run_directory,
    newest_checkpoint,
    read_checkpoint,
)
from {{ cookiecutter.project_slug }}.toolkit.random_state import seed_everything
from {{ cookiecutter.project_slug }}.toolkit.repo import RepoState, repo_state
from {{ cookiecutter.project_slug }}.toolkit.rerun import rerun
from {{ cookiecutter.project_slug }}.toolkit.runs import run_index
from {{ cookiecutter.project_slug }}.toolkit.stopping import (
{% if cookiecutter.multi_gpu %}
    SIGNALS,
{% endif %}
    StopSignals,
    TrainingDiverged,
    TrainingStopped,
    signal_exit_code,
)
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    dump,
    located,
    parse_record,
    read_text,
    shown,
)
from {{ cookiecutter.project_slug }}.train import Trainer

PROJECT_ROOT = Path(__file__).resolve().parent
LOGS = PROJECT_ROOT / "logs"
{% if cookiecutter.include_rollout_phase %}
SPLITS = {"train": "train", "test": "test", "rollout": "test"}  # phase -> data folder
{% else %}
SPLITS = {"train": "train", "test": "test"}  # phase -> data folder
{% endif %}
LISTED_DIRTY_FILES = 20
{% if cookiecutter.multi_gpu %}
# Exit codes of a spawned process that stopped on a signal, its checkpoint written, and
# the signal: 128 + N, as a single process exits. The ranks agree on the signal.
STOPPED = {signal_exit_code(number.name): number.name for number in SIGNALS}
REFUSED = 2  # exit code of spawned processes whose code is not the run's (rank 0 said why)
DIVERGED = 4  # exit code of a spawned process whose loss was not finite, reason recorded
{% endif %}
EDIT_FLAGS = ("find_replace", "delete", "modify")
# The fields of metadata.yaml that --resume and --rerun rely on, checked when it is read:
# the file is the researcher's to edit, and may have been damaged by hand.
RECORD = Schema({
    Required("status"): str,
    Required("config"): dict,
    Required("flags"): Schema({Required("cpu"): bool, Required("mini"): bool}, extra=ALLOW_EXTRA),
    Required("git"): Schema({Required("commit"): str}, extra=ALLOW_EXTRA),
    Required("environment"): Schema({Required("threads"): int}, extra=ALLOW_EXTRA),
{% if cookiecutter.multi_gpu %}
    Required("distributed"): Schema({Required("world_size"): int}, extra=ALLOW_EXTRA),
{% endif %}
}, extra=ALLOW_EXTRA)
# Errors of the file system, not of the program, when writing into the run directory: a
# full disk, a read-only or foreign logs/. The run ends as failed, with one message.
STORAGE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


@dataclass
class Job:
    """What training needs, settled once before it starts."""

    config: dict
    mini: bool
    cpu: bool
    device: torch.device
    run: RunDirectory | None  # None: nothing is logged
    checkpoint: Path | None = None  # resume from this checkpoint


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="the run config (YAML)")
    parser.add_argument("--resume", metavar="RUN_DIRECTORY",
                        help="continue a logged run from its newest checkpoint, in its own "
                             "directory, with its own config and flags")
    parser.add_argument("--rerun", metavar="RUN_DIRECTORY",
                        help="run a logged experiment again at its recorded commit (in a "
                             "temporary git worktree) and compare the results")
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
    parser.add_argument("--print-config", action="store_true",
                        help="print the config as it would run (defaults filled in, after "
                             "every edit flag) as YAML and exit; with --resume or --rerun, "
                             "the config the run recorded")
    parser.add_argument("--list", action="store_true",
                        help="print a table of the runs in logs/, newest first, and exit")
    args = parser.parse_args(argv)
    if args.list:
        given = [flag for flag in ("config", "resume", "rerun", "print_config")
                 if getattr(args, flag)]
        if given:
            parser.error(f"--list lists the runs in logs/ and nothing else; leave out: "
                         f"{', '.join(given)}")
    elif args.resume or args.rerun:
        given = [flag for flag in ("config", "resume" if args.rerun else "rerun", "cpu", "mini",
                                   "no_logging", "allow_dirty_repo", *EDIT_FLAGS)
                 if getattr(args, flag)]
        if given:
            parser.error(f"--{'resume' if args.resume else 'rerun'} uses the config and flags "
                         f"the run started with; leave out: {', '.join(given)}")
    elif not args.config:
        parser.error("give a config file, --resume RUN_DIRECTORY, --rerun RUN_DIRECTORY or --list")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print(run_index(LOGS, PROJECT_ROOT))
        return 0
    if args.print_config:
        return print_config(args)
    if args.rerun:
        try:
            run_path = Path(args.rerun).resolve()
            return rerun(run_path, read_metadata(run_path), PROJECT_ROOT, LOGS)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
{% if cookiecutter.multi_gpu %}
    if distributed.started_by_torchrun():
        distributed.leave(main_under_torchrun(args))
{% endif %}
    try:
        job = prepare(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    announce(job)
    stop_signals = StopSignals().install()
{% if cookiecutter.multi_gpu %}
    if job.config["multigpu_parameters"]:
        return supervise(job.run, lambda: spawn(job, stop_signals))
{% endif %}
    return supervise(job.run, lambda: train(job, job.device, stop_signals))
{% if cookiecutter.multi_gpu %}


@record  # torchrun's failure summary then shows the exception, not only an exit code
def main_under_torchrun(args: argparse.Namespace) -> int:
    """One process of a torchrun job: rank 0 checks and prepares, every rank trains."""
    process = distributed.join_torchrun_group(args.cpu)
    try:
        job = None
        if process.is_main:
            try:
                job = prepare(args, process.record())
            except UserError as error:
                print(f"error: {error}", file=sys.stderr)
        # Checked once, on rank 0; the other ranks train on exactly the job it prepared.
        job = distributed.broadcast_from_main(job)
        if job is None or code_refused_on_any_rank(job, process):
            return 2
        if process.is_main:
            announce(job)
        else:
            job.run = None  # rank 0 alone writes the run directory
        stop_signals = StopSignals().install()
        return supervise(job.run, lambda: train(job, process.device(job.cpu), stop_signals,
                                                process))
    finally:
        distributed.stop()
{% endif %}


# --------------------------------------------------------------------------------------
# Preparing a job: everything a mistake could spoil is checked before training starts


{% if cookiecutter.multi_gpu %}
def prepare(args: argparse.Namespace, launch: dict | None = None) -> Job:
    """Check the config, the tree, the model and the data, then create the run
    directory (or reopen it, with --resume). `launch`: torchrun's, else from the config."""
    if args.resume:
        return prepare_resume(Path(args.resume), launch)
    config = load_config(args.config, args.find_replace, args.delete, args.modify)
    launch = launch or spawn_plan(config, args.cpu)
{% else %}
def prepare(args: argparse.Namespace) -> Job:
    """Check the config, the tree, the model and the data, then create the run
    directory (or reopen it, with --resume)."""
    if args.resume:
        return prepare_resume(Path(args.resume))
    config = load_config(args.config, args.find_replace, args.delete, args.modify)
{% endif %}
    repo = repo_to_record(args)
    device = choose_device(args.cpu)
    check_model_and_data(config, args.mini, device)
    run = None
    if repo is not None:
        check_loaded_code(PROJECT_ROOT, repo.commit)  # what git status cannot see
        # Created last, so that a mistake found above leaves no half-made directory.
{% if cookiecutter.multi_gpu %}
        run = RunDirectory.create(LOGS, config, vars(args), repo, device, launch)
{% else %}
        run = RunDirectory.create(LOGS, config, vars(args), repo, device)
{% endif %}
    return Job(config, args.mini, args.cpu, device, run)


{% if cookiecutter.multi_gpu %}
def prepare_resume(run_path: Path, launch: dict | None) -> Job:
{% else %}
def prepare_resume(run_path: Path) -> Job:
{% endif %}
    """Reopen a logged run at its newest readable checkpoint, if the code is the same."""
    read_metadata(run_path)  # a run directory, before a lock file is made in it
    lock_run_directory(run_path)
    metadata = read_metadata(run_path)  # as its last owner left it
    if metadata.get("status") == "finished":
        raise UserError(f"{run_path} has finished; there is nothing to resume.")
    config = validate(metadata["config"], run_path / METADATA_FILE)
    flags = metadata["flags"]
    repo = repo_to_record(argparse.Namespace(no_logging=False, allow_dirty_repo=False))
    recorded = metadata["git"]["commit"]
    if repo.commit != recorded:
        raise UserError(
            f"the run was made at commit {recorded[:12]}, but HEAD is {repo.commit[:12]}; "
            f"resuming needs the same code. `git checkout {recorded[:12]}`, or `git worktree "
            f"add DIR {recorded[:12]}` and resume from DIR with its own code first: "
            "`PYTHONPATH=src python run.py --resume ...`."
        )
{% if cookiecutter.multi_gpu %}
    launch = launch or spawn_plan(config, flags["cpu"])
    if launch["world_size"] != metadata["distributed"]["world_size"]:
        print(f"warning: the run had {metadata['distributed']['world_size']} processes and "
              f"resumes with {launch['world_size']}; results will differ from an "
              "uninterrupted run", file=sys.stderr)
{% endif %}
    if torch.get_num_threads() != metadata["environment"]["threads"]:
        print(f"warning: the run used {metadata['environment']['threads']} CPU threads and "
              f"resumes with {torch.get_num_threads()}; floating-point results will differ "
              "slightly from an uninterrupted run", file=sys.stderr)
    device = choose_device(flags["cpu"])
    check_model_and_data(config, flags["mini"], device)
    check_loaded_code(PROJECT_ROOT, recorded)  # what git status cannot see
    found = newest_checkpoint(run_path, metadata.get("run_id"))
    checkpoint_path, checkpoint = found if found else (None, None)
    if checkpoint_path is None:
        print("note: the run has no checkpoint yet; it starts again from the beginning",
              file=sys.stderr)
    else:
        check_record_matches(run_path, metadata, checkpoint_path, checkpoint)
    run = RunDirectory.resume(run_path, metadata, checkpoint_path, checkpoint)
    return Job(config, flags["mini"], flags["cpu"], device, run, checkpoint_path)


def check_record_matches(run_path: Path, metadata: dict, checkpoint_path: Path,
                         checkpoint: dict) -> None:
    """The checkpoint holds the config and commit the weights were trained with: a
    metadata.yaml edited since would resume one config and record another."""
    differences = config_differences(
        {"config": metadata["config"], "git": {"commit": metadata["git"]["commit"]}},
        {"config": checkpoint["config"], "git": {"commit": checkpoint["commit"]}})
    if differences:
        raise UserError(
            f"{run_path / METADATA_FILE} no longer says what its checkpoint "
            f"{checkpoint_path.name} was trained with:\n  " + "\n  ".join(differences)
            + f"\nThe checkpoint is what ran: put those values back in {METADATA_FILE} to "
            "resume, or start a new run with the changed config (--modify KEY VALUE).")


def print_config(args: argparse.Namespace) -> int:
    """--print-config: the config a run would use, checked like a run's but without
    looking at the git tree, the data or the model."""
    try:
        if args.config:
            config = load_config(args.config, args.find_replace, args.delete, args.modify)
        else:
            config = read_metadata(Path(args.resume or args.rerun))["config"]
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(dump(config), end="")
    return 0


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
        problems = "\n".join(f"  - {'.'.join(map(str, problem.path))}: {problem.msg}"
                             for problem in error.errors)
        raise UserError(f"{path} is damaged; --resume and --rerun need these fields:\n"
                        f"{problems}\nRestore them, e.g. from a copy of the run directory."
                        ) from None


def check_model_and_data(config: dict, mini: bool, device: torch.device) -> None:
    # Built only to be checked: training builds its own, freshly seeded.
    network = build_model(config)
    loaders = build_loaders(config, mini, device)
    check_device_supports(config, device)
    # One training sample through the model, on the CPU: a model and data that do not fit
    # together fail here, before a run directory exists, rather than at the first step.
    with torch.no_grad():
        network(network.transform(loaders["train"].dataset.__getitems__([0])))
    for loader in filter(None, loaders.values()):
        network.check_dataset(loader.dataset)  # data the model cannot learn from


def check_device_supports(config: dict, device: torch.device) -> None:
    """Refuse options this machine cannot run now, rather than at the first step."""
    if (config["mixed_precision"] == "bf16" and device.type == "cuda"
            and not torch.cuda.is_bf16_supported()):
        raise UserError("mixed_precision: bf16 needs a GPU with bfloat16 support (Ampere or "
                        "newer); set mixed_precision: null on this one.")
    # What torch.compile's CPU code generator looks for.
    compilers = [name for name in (os.environ.get("CXX"), "g++", "clang++") if name]
    if config["compile_model"] and device.type == "cpu" and not any(map(shutil.which, compilers)):
        raise UserError("compile_model: torch.compile needs a C++ compiler on the CPU and "
                        "found none (g++, clang++ or $CXX); install one or set "
                        "compile_model: false.")
{% if cookiecutter.multi_gpu %}


def spawn_plan(config: dict, cpu: bool) -> dict:
    """How run.py will launch this config: spawned processes, or this one alone."""
    multigpu = config["multigpu_parameters"]
    if not multigpu:
        return {"launcher": "single process", "world_size": 1, "backend": None}
    distributed.check_gpus(multigpu, cpu)
    distributed.check_port_free(multigpu)
    distributed.limit_threads(multigpu["ngpus_per_node"])
    return distributed.spawned(0, multigpu, cpu).record()
{% endif %}


# --------------------------------------------------------------------------------------
# Training, and recording how it ended


def announce(job: Job) -> None:
    if job.run is None:
        print("logging is off: nothing from this run is saved")
    elif job.checkpoint:
        print(f"resuming {job.run.path} from {job.checkpoint.name}")
    else:
        print(f"logging to {job.run.path}")


def supervise(run: RunDirectory | None, training: Callable[[], None]) -> int:
    """Run `training` and record how it ended in the run directory."""
    try:
        training()
    except TrainingStopped as stop:
        return stopped(run, stop.signal_name)
    except TrainingDiverged as error:
        return diverged(run, str(error))
    except KeyboardInterrupt:
        if run:
            run.finish("interrupted")
        print("interrupted", file=sys.stderr)
        return 130
{% if cookiecutter.multi_gpu %}
    except ProcessExitedException as error:
        if error.exit_code in STOPPED:
            return stopped(run, STOPPED[error.exit_code])
        if error.exit_code == REFUSED:
            return 2
        if error.exit_code == DIVERGED:
            return diverged(run, None)  # rank 0 told why
        if run:
            run.finish("failed", error=str(error))
        print(f"error: {error}; the job is stopped.", file=sys.stderr)
        return 1
    except ProcessRaisedException as error:
        # Its message holds the failed process's index and traceback.
        if run:
            run.finish("failed", error=str(error).strip().splitlines()[-1])
        print(f"error: a training process failed, so the job was stopped.{error}",
              file=sys.stderr)
        return 1
{% endif %}
    except BaseException as error:
        if run and refused_by_storage(error, run):
            return storage_failed(run, error)
        if run:
            run.finish("failed", error=f"{type(error).__name__}: {error}")
        raise
    if run:
        run.finish("finished")
        print(f"run directory: {run.path}")
    return 0


def diverged(run: RunDirectory | None, reason: str | None) -> int:
    """A run whose loss was not finite: failed, with the reason, and no traceback."""
    if run:
        run.finish("failed", error=reason)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
    return 1


def refused_by_storage(error: BaseException, run: RunDirectory) -> bool:
    """Whether the file system refused a write into the run directory. torch.save writes
    through a file object, so its errors carry no file name."""
    return (isinstance(error, OSError) and error.errno in STORAGE_ERRORS
            and (error.filename is None or Path(error.filename).is_relative_to(run.path)))


def storage_failed(run: RunDirectory, error: OSError) -> int:
    """A run the file system stopped (full, read-only): recorded as failed if it still
    can be, its checkpoints as they were (every file is written whole or not at all)."""
    message = cannot_write(error, run.path)
    try:
        run.finish("failed", error=f"{error.strerror}: {error.filename or run.path}")
    except OSError:
        message += (f"\nIts {METADATA_FILE} could not record the failure either and still "
                    "says running (`run.py --list` shows it as died).")
    print(f"error: {message}\nContinue it later with: python run.py --resume {run.path}",
          file=sys.stderr)
    return 2


def stopped(run: RunDirectory | None, signal_name: str) -> int:
    if run:
        run.finish("interrupted", error=f"stopped by {signal_name}")
        print(f"stopped by {signal_name} after writing a checkpoint. Continue with:\n"
              f"  python run.py --resume {run.path}", file=sys.stderr)
    else:
        print(f"stopped by {signal_name}", file=sys.stderr)
    return signal_exit_code(signal_name)


{% if cookiecutter.multi_gpu %}
def train(job: Job, device: torch.device, stop_signals: StopSignals,
          process: distributed.Process | None = None) -> None:
    # Each rank draws its own random numbers; DDP gives every rank rank 0's initial weights.
    seed_everything(job.config["seed"] + (process.rank if process else 0))
    network = build_model(job.config, bootstrap=job.checkpoint is None)
    loaders = build_loaders(job.config, job.mini, device, process)
{% else %}
def train(job: Job, device: torch.device, stop_signals: StopSignals) -> None:
    seed_everything(job.config["seed"])
    network = build_model(job.config, bootstrap=job.checkpoint is None)
    loaders = build_loaders(job.config, job.mini, device)
{% endif %}
    config = job.config
    trainer = Trainer(
        network, getattr(losses, config["loss_function"]), loaders["train"],
        epochs=config["epochs"], device=device, test_loader=loaders["test"],
{% if cookiecutter.include_rollout_phase %}
        rollout_loader=loaders["rollout"],
{% endif %}
        log_interval=config["log_interval"], mixed_precision=config["mixed_precision"],
        compile_model=config["compile_model"], run=job.run, stop_signals=stop_signals,
{% if cookiecutter.multi_gpu %}
        processes=distributed_training.processes(process, device),
{% endif %}
    )
    if job.checkpoint:
        trainer.restore(read_checkpoint(job.checkpoint))
{% if cookiecutter.multi_gpu %}
    # The ranks leave together, after a finished or a stopped training alike: a rank
    # that drops its connections while another still works can make that one abort.
    try:
        trainer.fit()
    except TrainingStopped:
        if process:
            distributed.barrier()  # all stopped at the same step, after the checkpoint
        raise
    finally:
        if job.run:
            job.run.close()
    if process:
        distributed.barrier()
{% else %}
    try:
        trainer.fit()
    finally:
        if job.run:
            job.run.close()
{% endif %}
{% if cookiecutter.multi_gpu %}


def spawn(job: Job, stop_signals: StopSignals) -> None:
    """Train with one process per GPU of this node (CPU processes with --cpu).

    If one process fails, the others are stopped and the error is raised here.
    """
    parameters = job.config["multigpu_parameters"]
    # On node 0, run.py holds the store where the workers meet until all of them have left.
    meeting_point = distributed.host_meeting_point(parameters)
    processes = torch.multiprocessing.spawn(
        train_spawned, args=(job,), nprocs=parameters["ngpus_per_node"], join=False)
    stop_signals.forward_to = [process.pid for process in processes.processes]
    try:
        while not processes.join():
            pass
    except (ProcessExitedException, ProcessRaisedException):
        # When a process raises, the others crash or raise as their connections to it
        # break, and any of those may be noticed first: report the error that caused them.
        cause = first_raised_error(processes)
        if cause is None:
            raise
        raise cause from None
    del meeting_point


def first_raised_error(processes: ProcessContext) -> ProcessRaisedException | None:
    """The exception of the spawned process that raised first, if any raised.

    torch.multiprocessing writes each one's traceback to that process's error file, and
    a process that raises writes it before its connections close (train_spawned), so
    the oldest file holds the cause and the others its consequences.
    """
    written = [(os.stat(path).st_mtime_ns, index, path)
               for index, path in enumerate(processes.error_files) if os.path.exists(path)]
    if not written:
        return None
    _, index, path = min(written)
    with open(path, "rb") as file:
        trace = pickle.load(file)
    return ProcessRaisedException(
        f"\n\n-- Process {index} terminated with the following error:\n{trace}",
        index, processes.processes[index].pid)


def code_refused_on_any_rank(job: Job, process: distributed.Process) -> bool:
    """Whether a rank loaded code that is not the logged run's commit.

    Every rank checks its own imports: spawned ranks import the files after run.py
    checked the tree, and an edit made in between must not train under the clean
    commit. Rank 0 reports and records every rank's refusal, and all of them stop.
    """
    if job.run is None:
        return False  # nothing is logged, so no record can be wrong
    try:
        check_loaded_code(PROJECT_ROOT, job.run.metadata["git"]["commit"])
        refusal = None
    except UserError as error:
        refusal = str(error)
    refusals = [text for text in dict.fromkeys(distributed.gather(refusal)) if text]
    if not refusals:
        return False
    if process.is_main:
        message = "\n".join(refusals)
        print(f"error: {message}", file=sys.stderr)
        job.run.finish("failed", error=message)
    distributed.barrier()  # no rank leaves before the record is written
    return True


def train_spawned(local_rank: int, job: Job) -> None:
    parameters = job.config["multigpu_parameters"]
    process = distributed.spawned(local_rank, parameters, job.cpu)
    distributed.join_spawned_group(process, parameters)
    if code_refused_on_any_rank(job, process):
        distributed.stop()
        distributed.leave(REFUSED)
    if not process.is_main:
        job.run = None  # rank 0 alone writes the run directory
    exit_code = 0
    try:
        train(job, process.device(job.cpu), StopSignals().install(), process)
    except TrainingStopped as stop:
        exit_code = signal_exit_code(stop.signal_name)  # the launcher records the stop
    except TrainingDiverged as error:
        # Every rank gets here at the same step. Rank 0 tells why, and the others wait
        # for it: once one process leaves, the launcher ends the rest.
        if process.is_main:
            print(f"error: {error}", file=sys.stderr)
            if job.run:
                job.run.record_error(str(error))
        distributed.barrier()
        exit_code = DIVERGED
    # An error does not get here: torch.multiprocessing writes it down for the launcher,
    # and this process's connections close only as it exits. The processes that fail
    # because they did, fail after the cause is on record.
    distributed.stop()
    distributed.leave(exit_code)
{% endif %}


# --------------------------------------------------------------------------------------
# Steps of prepare() and train()


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


def build_model(config: dict, bootstrap: bool = True) -> model.FishboticsModel:
    """The config's model; with `bootstrap`, holding the weights of bootstrap_model_file."""
    model_class = getattr(model, config["model_type"])
    try:
        network = model_class(**config["model_parameters"])
    except (TypeError, ValueError, RuntimeError) as error:
        # The names were checked against the signature; this is a value it refused.
        raise UserError(f"{model_class.__name__} could not be built from "
                        f"model_parameters {shown(config['model_parameters'])}: {error}"
                        ) from None
    if bootstrap and config["bootstrap_model_file"]:
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
            max_samples=config["rollout_max_samples"] if phase == "rollout" else None,
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
