"""Model selection: which epoch's checkpoint is the run's best, and when to stop early.

The config's `selection` block names a number logged every epoch ("val/loss",
"val/accuracy"), whether lower or higher is better, and after how many epochs without
improvement training stops early. The test split plays no part in it: it is read once,
at the end, by the checkpoint selected here.
"""

import math


class Selection:
    """The best epoch so far by `metric`, lowest (mode "min") or highest ("max")."""

    def __init__(self, metric: str = "val/loss", mode: str = "min", patience: int | None = None):
        self.metric, self.mode, self.patience = metric, mode, patience
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.last_epoch: int | None = None

    def better(self, value: float, than: float | None) -> bool:
        """Whether `value` beats `than` (None: nothing to beat); NaN never beats a number."""
        if than is None or math.isnan(than):
            return True
        if math.isnan(value):
            return False
        return value < than if self.mode == "min" else value > than

    def add_epoch(self, epoch: int, scalars: dict[str, float]) -> bool:
        """Take in an epoch's numbers ("phase/name": value); whether it is the best so far."""
        self.last_epoch = epoch
        if self.better(scalars[self.metric], self.best_value):
            self.best_value, self.best_epoch = scalars[self.metric], epoch
            return True
        return False

    def out_of_patience(self) -> bool:
        """Whether `patience` epochs have passed without a new best."""
        return (
            self.patience is not None
            and self.best_epoch is not None
            and self.last_epoch - self.best_epoch >= self.patience
        )

    def describe(self) -> str:
        return f"{self.metric} ({'lowest' if self.mode == 'min' else 'highest'})"

    def state(self) -> dict:
        return {
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "last_epoch": self.last_epoch,
        }

    def restore(self, state: dict) -> None:
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.last_epoch = state["last_epoch"]
