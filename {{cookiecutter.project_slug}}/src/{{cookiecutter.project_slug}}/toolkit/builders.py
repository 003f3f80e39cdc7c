"""The config's model and data loaders, built from the project's own modules.

Built once for the checks before a run starts (job.py), and again, freshly seeded,
for training (training.py).
"""

import torch

{% if cookiecutter.multi_gpu %}
from {{ cookiecutter.project_slug }}.toolkit import distributed
{% endif %}
from {{ cookiecutter.project_slug }}.toolkit.config import resolve_path
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.experiment import load_model_weights
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import shown

{% if cookiecutter.include_rollout_phase %}
SPLITS = {"train": "train", "test": "test", "rollout": "test"}  # phase -> data folder
{% else %}
SPLITS = {"train": "train", "test": "test"}  # phase -> data folder
{% endif %}


def splits_read(config: dict, project: Project) -> set[str]:
    """The data folders the config's phases read (those it leaves out read none)."""
    return {SPLITS[phase] for phase in project.schema.PHASES
            if config[f"{phase}_data_loader_type"] is not None}


def build_model(config: dict, project: Project, bootstrap: bool = True) -> torch.nn.Module:
    """The config's model; with `bootstrap`, holding the weights of bootstrap_model_file."""
    model_class = getattr(project.models, config["model_type"])
    try:
        network = model_class(**config["model_parameters"])
    except (TypeError, ValueError, RuntimeError) as error:
        # The names were checked against the signature; this is a value it refused.
        raise UserError(f"{model_class.__name__} could not be built from "
                        f"model_parameters {shown(config['model_parameters'])}: {error}"
                        ) from None
    if bootstrap and config["bootstrap_model_file"]:
        load_model_weights(network, resolve_path(config["bootstrap_model_file"], project.root))
    return network


{% if cookiecutter.multi_gpu %}
def build_loaders(config: dict, mini: bool, device: torch.device, project: Project,
                  process: distributed.Process | None = None) -> dict:
    """One DataLoader per phase (this rank's share of the data), or None for a phase
    the config leaves out."""
    shard = {"rank": process.rank, "world_size": process.world_size} if process else {}
{% else %}
def build_loaders(config: dict, mini: bool, device: torch.device, project: Project) -> dict:
    """One DataLoader per phase, or None for a phase the config leaves out."""
{% endif %}
    directory = resolve_path(config["data_directory"], project.root)
    parameters = config["data_loader_parameters"]
    loaders = {}
    for index, phase in enumerate(project.schema.PHASES):
        name = config[f"{phase}_data_loader_type"]
        if name is None:
            loaders[phase] = None
            continue
        loaders[phase] = getattr(project.datasets, name).get_dataloader(
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
