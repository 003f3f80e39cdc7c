"""The researcher's files, as run.py hands them to the toolkit.

The toolkit imports none of the project's own modules (model.py, data_loader.py,
losses.py, schema.py, train.py): a template update of the toolkit then never touches
them, and they can be renamed or split as long as run.py still hands them in here.
"""

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


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

    def __reduce__(self):
        # Modules cannot be pickled: another process handed the project (a spawned
        # training process) imports them again, by name, as run.py did (the code check
        # then covers them in that process too).
        names = (self.models, self.datasets, self.losses, self.schema)
        return imported_project, (
            type(self),
            self.root,
            *(module.__name__ for module in names),
            self.trainer,
        )


def imported_project(
    kind: type, root: Path, models: str, datasets: str, losses: str, schema: str, trainer: type
) -> Project:
    return kind(root, *map(importlib.import_module, (models, datasets, losses, schema)), trainer)
