"""The researcher's files, as run.py hands them to the toolkit.

The toolkit imports none of the project's own modules (model.py, data_loader.py,
losses.py, schema.py, train.py): a template update of the toolkit then never touches
them, and they can be renamed or split as long as run.py still hands them in here.
"""

{% if cookiecutter.multi_gpu %}
import importlib
{% endif %}
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from {{ cookiecutter.project_slug }}.toolkit.base_model import FishboticsModel


@dataclass(frozen=True)
class Project:
    """Where the project lies, and the modules a config's names are looked up in."""

    root: Path  # the checkout: logs/ and relative config paths are under it
    models: ModuleType  # model classes, subclasses of FishboticsModel (model_type)
    datasets: ModuleType  # dataset classes, subclasses of FishboticsDataset (*_data_loader_type)
    losses: ModuleType  # loss functions (loss_function)
    schema: ModuleType  # what a config holds: RUN_CONFIG, TOP_LEVEL_KEYS, DATA_LOADERS...
    trainer: type  # the steps and the loop: Trainer(config, model, loss_function, loaders, ...)

    @property
    def logs(self) -> Path:
        """Where the run directories go: logs/<model_type>/<timestamp>/."""
        return self.root / "logs"

    def load_run(self, run_directory: str | Path, checkpoint: str | Path = "best",
                 device: str | torch.device = "cpu",
                 require_same_code: bool = False) -> FishboticsModel:
        """The model of a logged run, for use: built from the config the run recorded,
        holding the weights of `checkpoint`, in eval mode on `device`.

        run_directory: logs/<model_type>/<timestamp> (relative to the project root).
        checkpoint: "best" (the run's best epoch, as metadata.yaml names it), "last"
            (its newest epoch) or the path of a .pth file (relative: in the run directory).
        require_same_code: refuse, rather than warn, when the checkout is not the
            run's commit or has uncommitted changes.
        A mistake (no such run or checkpoint, a model that changed) raises a UserError.
        """
        # Imported here: loading.py builds the model with builders.py, which imports
        # this module, so importing it at the top would be circular.
        from {{ cookiecutter.project_slug }}.toolkit.loading import load_run

        return load_run(self, run_directory, checkpoint, device, require_same_code)
{% if cookiecutter.multi_gpu %}

    def __reduce__(self):
        # Modules cannot be pickled: a spawned training process imports them again, by
        # name, as run.py did (the code check then covers them in that process too).
        names = (self.models, self.datasets, self.losses, self.schema)
        return imported_project, (self.root, *(module.__name__ for module in names),
                                  self.trainer)


def imported_project(root: Path, models: str, datasets: str, losses: str, schema: str,
                     trainer: type) -> Project:
    return Project(root, *map(importlib.import_module, (models, datasets, losses, schema)),
                   trainer)
{% endif %}
