"""Training a prepared job: its model, data loaders and the project's Trainer, run."""

import torch

from {{ cookiecutter.project_slug }}.toolkit.base_dataset import Share
from {{ cookiecutter.project_slug }}.toolkit.builders import build_loaders, build_model
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import read_checkpoint
from {{ cookiecutter.project_slug }}.toolkit.job import Job
from {{ cookiecutter.project_slug }}.toolkit.processes import SingleProcess
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.random_state import seed_everything
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals, TrainingStopped


class OneProcess:
    """This process's part in its job, for a job of one process: all of the data, the
    config's seed, and no other process to agree with or wait for. A job of several
    processes passes its own (the command layer chooses, run_here.py)."""

    is_main = True  # it prints and records the results
    seed_offset = 0  # added to the config's seed: each process draws its own numbers
    share: Share | None = None  # the data it serves (base_dataset.py): all of it

    def trainer_processes(self, device: torch.device) -> SingleProcess:
        """What this process's Trainer agrees with (base_trainer.py)."""
        return SingleProcess()

    def wait_for_the_others(self) -> None:
        """Called as training ends, finished or stopped: a process of a job of several
        that left while another still works could make that one abort."""


def train(
    job: Job,
    project: Project,
    device: torch.device,
    stop_signals: StopSignals,
    process: OneProcess | None = None,
    trial=None,
) -> None:
    """Train the job; `trial`: its run's trial of a search (trial_pruning.py's
    TrialPruning), which reports every epoch to its study, or None."""
    process = process or OneProcess()
    seed_everything(job.config["seed"] + process.seed_offset)
    network = build_model(job.config, project, bootstrap=job.checkpoint is None)
    loaders = build_loaders(job.config, job.mini, device, project, share=process.share)
    config = job.config
    trainer = project.trainer(
        config,
        network,
        getattr(project.losses, config["loss_function"]),
        loaders,
        device=device,
        run=job.run,
        stop_signals=stop_signals,
        processes=process.trainer_processes(device),
    )
    trainer.trial = trial
    if job.checkpoint:
        trainer.restore(read_checkpoint(job.checkpoint))
    try:
        trainer.fit()
    except TrainingStopped:
        process.wait_for_the_others()  # all stopped at the same step, after the checkpoint
        raise
    finally:
        if job.run:
            job.run.close()
    process.wait_for_the_others()
