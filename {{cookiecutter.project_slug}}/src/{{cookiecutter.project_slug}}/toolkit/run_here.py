"""What run.py runs in this process: a sweep's points, a run, or an evaluation.

A run or an evaluation is checked and prepared before anything is written, then trained
or evaluated, and how it ended is recorded in its run directory.
"""

import argparse
import sys
from pathlib import Path

{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit import distributed, launch
from {{ cookiecutter.project_slug }}.toolkit.distributed_training import this_process
{% elif cookiecutter.slurm %}
from {{ cookiecutter.project_slug }}.toolkit import slurm_queue
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.evaluation import (
    at_run_commit,
    evaluate,
    evaluate_at_run_commit,
    prepare_evaluation,
)
from {{ cookiecutter.project_slug }}.toolkit.job import JobHooks, prepare
from {{ cookiecutter.project_slug }}.toolkit.job_training import OneProcess, train
from {{ cookiecutter.project_slug }}.toolkit.outcome import announce, supervise
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals
from {{ cookiecutter.project_slug }}.toolkit.sweep import (
    join_sweep,
    point_check,
    resume_sweep,
    start_sweep,
)
from {{ cookiecutter.project_slug }}.toolkit.trial_pruning import TrialPruning


def run_here(args: argparse.Namespace, project: Project) -> int:
    """Run the sweep, the run or the evaluation that `args` asks for; run.py's exit code."""
{% if cookiecutter.multi_gpu %}
    if distributed.started_by_torchrun():
        if args.sweep or args.resume_sweep:
            # Each point's run.py is started by the sweep, and spawns its own processes.
            print(
                "error: run a sweep with python, not torchrun; a point's config asks for "
                "GPUs with multigpu_parameters",
                file=sys.stderr,
            )
            return 2
        # Every process of a torchrun job runs this file: rank 0 prepares, every rank trains.
        distributed.leave(launch.main_under_torchrun(args, project))
{% endif %}
    # A mistake found before training is a message: `error: ...` and exit code 2, with
    # nothing written. Errors in training end the run as failed.
    try:
        if args.sweep:
            return start_sweep(args, project)
        if args.resume_sweep:
            return resume_sweep(Path(args.resume_sweep), project, args.jobs)
        if args.evaluate and not at_run_commit(args.evaluate, project.root):
            return evaluate_at_run_commit(args, project.root)
        # What the optional features add to preparing the job (job.py).
{% if cookiecutter.multi_gpu %}
        hooks: JobHooks = launch.job_hooks(launch.spawn_plan)
{% elif cookiecutter.slurm %}
        hooks = JobHooks(take_over=slurm_queue.take_from_slurm)  # a submitted run, resumed here
{% else %}
        hooks = JobHooks()
{% endif %}
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
{% if cookiecutter.multi_gpu %}
    if job.config["multigpu_parameters"]:
        return launch.train_on_spawned_processes(job, project)
    process: OneProcess = this_process(None)  # one process, whose checkpoints any number resumes
{% else %}
    process = OneProcess()
{% endif %}
    stop_signals = StopSignals().install()
    if job.evaluation:
        return supervise(job.run, lambda: evaluate(job, project, job.device, stop_signals, process))
    trial = TrialPruning.of(job.run)  # a search's trial reports every epoch to its study
    return supervise(job.run, lambda: train(job, project, job.device, stop_signals, process, trial))


def sweep_point_check(args: argparse.Namespace, project: Project):
    """A sweep's point runs the commit and config its sweep recorded, or is refused."""
    return point_check(*args.sweep_point, project) if args.sweep_point else None
