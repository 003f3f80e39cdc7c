"""Start a training run from a config file; resume, re-run or evaluate a logged one.

    python run.py sample_runconfig.yaml                                   # a logged run
    python run.py sample_runconfig.yaml --mini --allow-dirty-repo --y     # a quick check
    python run.py --resume logs/<model_type>/<timestamp>                  # continue a run
    python run.py --rerun logs/<model_type>/<timestamp>                   # reproduce it
    python run.py --evaluate logs/<model_type>/<timestamp>                # test it again
    python run.py --list                                                  # the logged runs
    python run.py --compare RUN_DIRECTORY RUN_DIRECTORY                   # what they differ in
    python run.py sample_runconfig.yaml --modify epochs 5 --print-config  # what would run
    python run.py sample_runconfig.yaml --sweep sample_sweep.yaml         # a run per point
    python run.py --resume-sweep logs/sweeps/2024-05-01_12-00-00          # finish a sweep
    python run.py --list --sweep 2024-05-01_12-00-00                      # its points
{% if cookiecutter.slurm %}
    python run.py sample_runconfig.yaml --submit                          # a SLURM job
    python run.py sample_runconfig.yaml --sweep sample_sweep.yaml --submit  # a job array
{% endif %}

A logged run needs a clean git tree. It writes logs/<model_type>/<timestamp>/ with
the config as it ran, the commit, TensorBoard logs and checkpoints.
"""

import argparse
import sys
from pathlib import Path

from {{ cookiecutter.project_slug }} import data_loader, losses, model, schema
{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit import distributed, launch
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.compare import FORMATS, comparison, listing, print_output
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.evaluation import (
    at_run_commit,
    evaluate,
    evaluate_at_run_commit,
    prepare_evaluation,
)
from {{ cookiecutter.project_slug }}.toolkit.job import config_to_print, prepare, read_metadata
from {{ cookiecutter.project_slug }}.toolkit.job_training import train
from {{ cookiecutter.project_slug }}.toolkit.outcome import announce, supervise
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.rerun import rerun
{% if cookiecutter.slurm %}
from {{ cookiecutter.project_slug }}.toolkit.slurm import {{ 'launch_plan, ' if cookiecutter.multi_gpu }}read_cluster_file, submit
from {{ cookiecutter.project_slug }}.toolkit.slurm_sweep import submit_sweep
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals, stop_with_parent
from {{ cookiecutter.project_slug }}.toolkit.sweep import (
    join_sweep,
    point_check,
    resume_sweep,
    start_sweep,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_report import show_sweep
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump
from {{ cookiecutter.project_slug }}.train import Trainer

# Your files, handed to the toolkit: a config names the classes and functions in them.
PROJECT = Project(root=Path(__file__).resolve().parent, models=model, datasets=data_loader,
                  losses=losses, schema=schema, trainer=Trainer)
EDIT_FLAGS = ("find_replace", "delete", "modify")
COLUMNS_ALONE = ("--columns goes with --list, the table of runs (python run.py --list --columns "
                 "test/accuracy,test/loss); --format csv|json holds every final-test number")


def sweep_point_check(args: argparse.Namespace):
    """A sweep's point runs the commit and config its sweep recorded, or is refused."""
    return point_check(*args.sweep_point, PROJECT) if args.sweep_point else None


def job_count(text: str) -> int:
    """--jobs: a whole number of points at once, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give the number of points to run at "
                                         "once, a whole number from 1 (--jobs 2)")
    return int(text)


def column_names(text: str) -> list[str]:
    """--columns: final-test numbers, comma-separated (test/accuracy,test/loss)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give the final test's numbers to show, "
                                         "comma-separated (--columns test/accuracy,test/loss)")
    return names


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
    parser.add_argument("--evaluate", metavar="RUN_DIRECTORY",
                        help="run the held-out phases with a logged run's checkpoint, at the "
                             "run's commit, and record the results in its evaluations/")
    parser.add_argument("--checkpoint", metavar="best|last|PATH",
                        help="with --evaluate: the checkpoint to evaluate (default: best, "
                             "the selected epoch's; a relative PATH is in the run directory)")
    parser.add_argument("--split", metavar="FOLDER",
                        help="with --evaluate: the data folder to evaluate on (default: test)")
    parser.add_argument("--allow-changed-data", action="store_true",
                        help="with --resume, --rerun or --evaluate: go on although the data "
                             "differ from the fingerprint the run recorded (the record says so)")
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
                             "the config the run recorded; with --sweep, every point's")
    parser.add_argument("--list", action="store_true",
                        help="print a table of the runs in logs/, newest first, and exit; "
                             "with --sweep ID, the points of that sweep")
    parser.add_argument("--columns", type=column_names, metavar="TAG,TAG",
                        help="with --list: a column for each of these final-test numbers "
                             "(test/accuracy,test/loss); --format csv|json holds them all")
    parser.add_argument("--sweep", metavar="SWEEP_FILE",
                        help="one logged run per point of the sweep file (a grid, variants, "
                             "seeds, or an Optuna search's trials), one after another or --jobs "
                             "N at once; the edit flags, --cpu and --mini apply to every point. "
                             "Recorded in logs/sweeps/<id>/. With --list: a sweep's id (or "
                             "directory), whose points to show, with mean ± std over seeds")
    parser.add_argument("--picture", action="store_true",
                        help="with --list --sweep ID: draw the sweep's picture "
                             "(logs/sweeps/<id>/sweep.png) again first")
    parser.add_argument("--resume-sweep", metavar="SWEEP_DIRECTORY",
                        help="continue a sweep (logs/sweeps/<id>): run its pending points and "
                             "resume its interrupted ones")
    parser.add_argument("--jobs", type=job_count, metavar="N",
                        help="with --sweep or --resume-sweep: run up to N points at once "
                             "(default 1), each with 1/N of the CPU threads and of the GPUs")
    # Given by a sweep to each point's run.py: the sweep's directory and the point's number.
    parser.add_argument("--sweep-point", nargs=2, metavar=("SWEEP_DIRECTORY", "POINT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--compare", nargs="+", metavar="RUN_DIRECTORY",
                        help="print two or more logged runs side by side (the config keys "
                             "that differ, then the results) and exit")
    parser.add_argument("--format", choices=FORMATS,
                        help="with --list or --compare: a table (the default), or every "
                             "field as CSV or JSON, for a spreadsheet or pandas")
{% if cookiecutter.slurm %}
    parser.add_argument("--submit", action="store_true",
                        help="check and record the run here, then train it as a SLURM job "
                             "(resources from cluster.yaml), requeued after preemption; with "
                             "--sweep, the points as one job array, --jobs N of them at once "
                             "(default: as many as SLURM will run)")
    parser.add_argument("--cluster", metavar="FILE",
                        help="with --submit: the cluster file to use instead of cluster.yaml")
    args = parser.parse_args(argv)
    if args.submit:
        # A job is a logged run (a sweep: one per point), started from a config file;
        # its code is its commit.
        given = [flag for flag in ("resume", "rerun", "evaluate", "resume_sweep", "list",
                                   "columns", "compare", "format", "print_config", "no_logging",
                                   "allow_dirty_repo", "allow_changed_data")
                 if getattr(args, flag)]
        if given or not args.config:
            parser.error("--submit starts a logged run, or a sweep's, from a config file: "
                         "python run.py CONFIG [--sweep SWEEP_FILE] --submit"
                         + (f"; leave out: {', '.join(given)}" if given else ""))
    elif args.cluster:
        parser.error("--cluster goes with --submit")
{% else %}
    args = parser.parse_args(argv)
{% endif %}
    if args.resume_sweep:
        given = [flag for flag in ("config", "sweep", "list", "columns", "resume", "rerun",
                                   "evaluate", "cpu", "mini", "no_logging", "allow_dirty_repo",
                                   "allow_changed_data", "print_config", "compare", "format",
                                   *EDIT_FLAGS)
                 if getattr(args, flag)]
        if given:
            parser.error("--resume-sweep uses the config and flags the sweep started with; "
                         f"leave out: {', '.join(given)}")
        args.jobs = args.jobs or 1
    elif args.sweep and not args.list:  # with --list, --sweep names a sweep to show
        # A sweep is logged runs, each checked and recorded as a single run is.
        given = [flag for flag in ("compare", "format", "columns", "resume", "rerun",
                                   "evaluate", "no_logging", "allow_dirty_repo",
                                   "allow_changed_data")
                 if getattr(args, flag)]
        if given:
            parser.error(f"--sweep starts logged runs from a config file; leave out: "
                         f"{', '.join(given)}")
        if not args.config:
            parser.error("--sweep needs the config its points start from: "
                         "python run.py CONFIG --sweep SWEEP_FILE")
    elif args.jobs:
        parser.error("--jobs goes with --sweep or --resume-sweep: how many of a sweep's "
                     "points run at once")
    elif args.list or args.compare:
        given = [flag for flag in ("config", "resume", "rerun", "evaluate", "print_config",
                                   "compare" if args.list else "list",
                                   *(() if args.list else ("columns",)))
                 if getattr(args, flag)]
        if given:
            parser.error(f"--{'list' if args.list else 'compare'} reads logged runs and does "
                         f"nothing else; leave out: {', '.join(given)}")
        args.format = args.format or "table"
    elif args.format:
        parser.error("--format goes with --list or --compare")
    elif args.resume or args.rerun:
        given = [flag for flag in ("config", "resume" if args.rerun else "rerun", "evaluate",
                                   "cpu", "mini", "no_logging", "allow_dirty_repo", "columns",
                                   *EDIT_FLAGS)
                 if getattr(args, flag)]
        if given:
            parser.error(f"--{'resume' if args.resume else 'rerun'} uses the config and flags "
                         f"the run started with; leave out: {', '.join(given)}")
    elif args.evaluate:
        given = [flag for flag in ("config", "no_logging", "allow_dirty_repo", "find_replace",
                                   "print_config", "columns") if getattr(args, flag)]
        if given:
            parser.error("--evaluate uses the run's config (edited by --modify and --delete) "
                         f"and records its results; leave out: {', '.join(given)}")
        args.checkpoint = args.checkpoint or "best"
        args.split = args.split or "test"
    elif args.allow_changed_data:
        parser.error("--allow-changed-data goes with --resume, --rerun or --evaluate: a new "
                     "run records the data as they are")
    elif args.columns:
        parser.error(COLUMNS_ALONE)
    elif not args.config:
        parser.error("give a config file, --resume, --rerun or --evaluate RUN_DIRECTORY, "
                     "--resume-sweep SWEEP_DIRECTORY, --list or --compare")
    if not args.evaluate and (args.checkpoint or args.split):
        parser.error("--checkpoint and --split go with --evaluate RUN_DIRECTORY")
    if args.picture and not (args.list and args.sweep):
        parser.error("--picture goes with --list --sweep ID")
    if args.columns and not (args.list and not args.sweep and args.format == "table"):
        parser.error(COLUMNS_ALONE)
    return args


def main(argv: list[str] | None = None) -> int:
    stop_with_parent()  # a sweep's point stops with its sweep, rather than train on alone
    args = parse_args(argv)
{% if cookiecutter.multi_gpu %}
    if distributed.started_by_torchrun() and (args.sweep or args.resume_sweep):
        # Each point's run.py is started by the sweep, and spawns its own processes.
        print("error: run a sweep with python, not torchrun; a point's config asks for "
              "GPUs with multigpu_parameters", file=sys.stderr)
        return 2
    if distributed.started_by_torchrun() and not (
            args.list or args.compare or args.print_config or args.rerun):
        # Every process of a torchrun job runs this file: rank 0 prepares, every rank trains.
        distributed.leave(launch.main_under_torchrun(args, PROJECT))
{% endif %}
    # The one place a mistake found before training becomes a message: `error: ...`
    # and exit code 2, with nothing written. Errors in training end the run as failed.
    try:
        if args.list and args.sweep:
            return show_sweep(args.sweep, PROJECT.logs, PROJECT.root, args.format,
                              redraw=args.picture)
        if args.list:
            print_output(listing(PROJECT.logs, PROJECT.root, args.format, args.columns))
            return 0
        if args.compare:
            print_output(comparison(args.compare, PROJECT.root, args.format))
            return 0
{% if cookiecutter.slurm %}
        if args.submit:
            # Checked before the run directory is made, as the run config is.
            cluster = read_cluster_file(args.cluster, PROJECT.root)
            if args.sweep:  # each point prepared as its own run.py would prepare it
                return submit_sweep(args, PROJECT, cluster, lambda argv: prepare(
                    parse_args(argv), PROJECT,{{ ' launch_plan(cluster),' if cookiecutter.multi_gpu }}
                    check_before_logging=sweep_point_check(parse_args(argv))))
            return submit(prepare(args, PROJECT{{ ', launch_plan(cluster)' if cookiecutter.multi_gpu }}), cluster,
                          PROJECT.root)
{% endif %}
        if args.sweep:
            return start_sweep(args, PROJECT)
        if args.print_config:
            print_output(dump(config_to_print(args, PROJECT)).rstrip("\n"))
            return 0
        if args.resume_sweep:
            return resume_sweep(Path(args.resume_sweep), PROJECT, args.jobs)
        if args.rerun:
            run_path = Path(args.rerun).resolve()
            return rerun(run_path, read_metadata(run_path), PROJECT.root, PROJECT.logs,
                         args.allow_changed_data)
        if args.evaluate and not at_run_commit(args.evaluate, PROJECT.root):
            return evaluate_at_run_commit(args, PROJECT.root)
{% if cookiecutter.multi_gpu %}
        job = (prepare_evaluation(args, PROJECT, launch.spawn_plan) if args.evaluate else
               prepare(args, PROJECT, launch.spawn_plan, sweep_point_check(args)))
{% else %}
        job = (prepare_evaluation(args, PROJECT) if args.evaluate else
               prepare(args, PROJECT, sweep_point_check(args)))
{% endif %}
        if args.sweep_point:
            join_sweep(job.run, *args.sweep_point, PROJECT.root)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    announce(job)
    stop_signals = StopSignals().install()
{% if cookiecutter.multi_gpu %}
    if job.config["multigpu_parameters"]:
        return launch.train_on_spawned_processes(job, PROJECT, stop_signals)
{% endif %}
    work = evaluate if job.evaluation else train
    return supervise(job.run, lambda: work(job, PROJECT, job.device, stop_signals))


if __name__ == "__main__":
    sys.exit(main())
