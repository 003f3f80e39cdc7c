"""The config's model and data loaders, built from the project's own modules.

Built once for the checks before a run starts (job.py), and again, freshly seeded,
for training (job_training.py).
"""

import torch

from {{ cookiecutter.project_slug }}.toolkit.base_dataset import Share
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import load_model_weights
from {{ cookiecutter.project_slug }}.toolkit.config import resolve_path
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import shown

DATASET_KEY = "_data_loader_type"  # a config's <kind>_data_loader_type names a dataset class


def held_out_phases(config: dict, name: str, split: str) -> dict[str, tuple[str, str]]:
    """The held-out phases called `name` on the split folder `split`, each with the
    kind of dataset it reads (the config's `<kind>_data_loader_type`) and its split:
    `name` reads the test kind, and each further held-out kind that schema.py adds
    (`<kind>_data_loader_type`) a phase `<name>_<kind>` after it."""
    kinds = [key.removesuffix(DATASET_KEY) for key in config if key.endswith(DATASET_KEY)]
    return {
        name: ("test", split),
        **{f"{name}_{kind}": (kind, split) for kind in kinds if kind not in ("train", "test")},
    }


def training_phases(config: dict) -> dict[str, tuple[str, str]]:
    """A training run's phases: training, the per-epoch held-out phases on `val_split`,
    and the final test on test/, which is read once, by the selected checkpoint."""
    return {
        "train": ("train", "train"),
        **held_out_phases(config, "val", config["val_split"]),
        **held_out_phases(config, "test", "test"),
    }


def splits_read(config: dict, phases: dict[str, tuple[str, str]] | None = None) -> set[str]:
    """The split folders that `phases` (default: training's) read, leaving out the
    phases whose kind of dataset the config leaves out."""
    return {
        split
        for kind, split in (phases or training_phases(config)).values()
        if config[f"{kind}_data_loader_type"] is not None
    }


def build_model(config: dict, project: Project, bootstrap: bool = True) -> torch.nn.Module:
    """The config's model; with `bootstrap`, holding the weights of bootstrap_model_file."""
    model_class = getattr(project.models, config["model_type"])
    try:
        network = model_class(**config["model_parameters"])
    except (TypeError, ValueError, RuntimeError) as error:
        # The names were checked against the signature; this is a value it refused.
        raise UserError(
            f"{model_class.__name__} could not be built from "
            f"model_parameters {shown(config['model_parameters'])}: {error}"
        ) from None
    if bootstrap and config["bootstrap_model_file"]:
        load_model_weights(network, resolve_path(config["bootstrap_model_file"], project.root))
    return network


def build_loaders(
    config: dict,
    mini: bool,
    device: torch.device,
    project: Project,
    phases: dict[str, tuple[str, str]] | None = None,
    share: Share | None = None,
) -> dict:
    """One DataLoader per phase of `phases` (default: training's), or None for a phase
    whose kind of dataset the config leaves out; with `share`, each serves this
    process's share of the data (base_dataset.py)."""
    directory = resolve_path(config["data_directory"], project.root)
    parameters = config["data_loader_parameters"]
    loaders = {}
    for phase, (kind, split) in (phases or training_phases(config)).items():
        name = config[kind + DATASET_KEY]
        if name is None:
            loaders[phase] = None
            continue
        loaders[phase] = getattr(project.datasets, name).get_dataloader(
            directory,
            split,
            config["batch_size"],
            shuffle=phase == "train",
            mini=mini,
            max_samples=config.get(f"{kind}_max_samples"),  # a fresh subset each pass
            num_workers=config["num_workers"],
            # One random stream per kind of dataset: a phase on the test split draws
            # what `run.py --evaluate` on that split draws.
            seed=config["seed"] + project.schema.DATA_LOADERS.index(kind),
            pin_memory=device.type == "cuda",
            share=share,
            **{**parameters.get("all", {}), **parameters.get(kind, {})},
        )
    return loaders
