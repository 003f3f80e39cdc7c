"""What run.py runs in this process: a sweep's points, a run, or an evaluation.

A run or an evaluation is checked and prepared before anything is written, then trained
or evaluated, and how it ended is recorded in its run directory.
"""

import argparse
import sys
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.evaluation import (
    at_run_commit,
    evaluate,
    evaluate_at_run_commit,
    prepare_evaluation,
)
from {{ cookiecutter.project_slug }}.toolkit.job import prepare
from {{ cookiecutter.project_slug }}.toolkit.job_training import train
from {{ cookiecutter.project_slug }}.toolkit.outcome import announce, supervise
from {{ cookiecutter.project_slug }}.toolkit.plug_in import Options
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals
from {{ cookiecutter.project_slug }}.toolkit.sweep import (
    join_sweep,
    point_check,
    resume_sweep,
    start_sweep,
)
from {{ cookiecutter.project_slug }}.toolkit.trial_pruning import TrialPruning


def run_here(args: argparse.Namespace, project: Project, options: Options) -> int:
    """Run the sweep, the run or the evaluation that `args` asks for, calling the
    project's `options` (plug_in.py) where they add to it; run.py's exit code."""
    started_elsewhere = options.run_here(args, project)  # by another launcher
    if started_elsewhere is not None:
        return started_elsewhere
    # A mistake found before training is a message: `error: ...` and exit code 2, with
    # nothing written. Errors in training end the run as failed.
    try:
        if args.sweep:
            return start_sweep(args, project)
        if args.resume_sweep:
            return resume_sweep(
                Path(args.resume_sweep), project, args.jobs, options.take_sweep_over
            )
        if args.evaluate and not at_run_commit(args.evaluate, project.root):
            return evaluate_at_run_commit(args, project.root)
        hooks = options.job_hooks()
        job = (
            prepare_evaluation(args, project, hooks)
            if args.evaluate
            else prepare(args, project, sweep_point_check(args, project), hooks)
        )
        if args.sweep_point:
            join_sweep(job.run, *args.sweep_point, project.root)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    announce(job)
    trained_elsewhere = options.train_elsewhere(job, project)  # on processes of its own
    if trained_elsewhere is not None:
        return trained_elsewhere
    process = options.process()
    stop_signals = StopSignals().install()
    if job.evaluation:
        return supervise(job.run, lambda: evaluate(job, project, job.device, stop_signals, process))
    trial = TrialPruning.of(job.run)  # a search's trial reports every epoch to its study
    return supervise(job.run, lambda: train(job, project, job.device, stop_signals, process, trial))


def sweep_point_check(args: argparse.Namespace, project: Project):
    """A sweep's point runs the commit and config its sweep recorded, or is refused."""
    return point_check(*args.sweep_point, project) if args.sweep_point else None
