"""Training a prepared job: its model, data loaders and the project's Trainer, run."""

import torch

{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit import distributed, distributed_training
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.builders import build_loaders, build_model
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import read_checkpoint
from {{ cookiecutter.project_slug }}.toolkit.job import Job
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.random_state import seed_everything
{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals, TrainingStopped
{% else %}
from {{ cookiecutter.project_slug }}.toolkit.stopping import StopSignals
{% endif %}


{% if cookiecutter.multi_gpu %}
def train(job: Job, project: Project, device: torch.device, stop_signals: StopSignals,
          process: distributed.Process | None = None) -> None:
    # Each rank draws its own random numbers; DDP gives every rank rank 0's initial weights.
    seed_everything(job.config["seed"] + (process.rank if process else 0))
    network = build_model(job.config, project, bootstrap=job.checkpoint is None)
    loaders = build_loaders(job.config, job.mini, device, project, process)
{% else %}
def train(job: Job, project: Project, device: torch.device, stop_signals: StopSignals) -> None:
    seed_everything(job.config["seed"])
    network = build_model(job.config, project, bootstrap=job.checkpoint is None)
    loaders = build_loaders(job.config, job.mini, device, project)
{% endif %}
    config = job.config
    trainer = project.trainer(
        config, network, getattr(project.losses, config["loss_function"]), loaders,
        device=device, run=job.run, stop_signals=stop_signals,
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
