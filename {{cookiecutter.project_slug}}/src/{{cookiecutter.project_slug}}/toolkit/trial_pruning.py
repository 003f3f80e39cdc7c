"""In a trial's run (a point of a search): the selection metric reported to its trial
after each epoch, and the study's pruner asked whether to stop there. A trial that
cannot reach its study trains on, without pruning.
"""

from {{ cookiecutter.project_slug }}.toolkit.run_directory import RunDirectory
from {{ cookiecutter.project_slug }}.toolkit.search_study import (
    differences,
    pruner,
    reason,
    say,
    sqlite_file,
    study_errors,
)


class TrialLost(Exception):
    """This run's trial cannot be used: its study is lost, or not this search's."""


class TrialPruning:
    """In a trial's run: reports the selection metric after each epoch to its trial,
    and asks the study's pruner whether to stop. The main process alone does this.

    Where the trial cannot be used (its study lost, damaged, or another search's now),
    the run is not the worse for it: it warns once, trains on without pruning, and
    notes in metadata.yaml (sweep.trial.pruning_off) from which epoch on, for the rest of
    the run, resumed or not; the sweep rebuilds or refuses the study."""

    def __init__(self, run: RunDirectory):
        self.run = run
        self.trial = None  # the Optuna trial, loaded at the first epoch's end

    @classmethod
    def of(cls, run: RunDirectory | None) -> "TrialPruning | None":
        """The pruning of `run` if it is a trial of a search, else None."""
        sweep = run.metadata.get("sweep") if run is not None else None
        trial = sweep.get("trial") if isinstance(sweep, dict) else None
        return cls(run) if trial else None

    @property
    def record(self) -> dict:
        """The run's metadata.yaml sweep.trial: study, storage, number."""
        return self.run.metadata["sweep"]["trial"]

    def should_prune(self, epoch: int, value: float) -> bool:
        if "pruning_off" in self.record:
            return False
        try:
            self.trial = self.trial or self.load_trial()
            self.trial.report(value, epoch)
            return bool(self.trial.should_prune())  # NumPy's bool_ would reach the checkpoint
        except TrialLost as lost:
            why = str(lost)
        except study_errors() as error:
            why = f"it cannot be reached: {reason(error)}"
        # Written with the epoch's record, which follows.
        self.record["pruning_off"] = {"from_epoch": epoch, "reason": why}
        say(
            f"this run cannot report to its trial {self.record['number']} of the study "
            f"{self.record['study_name']} in {self.record['storage']}: {why}. It trains on "
            f"without pruning (metadata.yaml: sweep.trial.pruning_off)"
        )
        return False

    def load_trial(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        record = self.record
        path = sqlite_file(record["storage"])
        if path is not None and not path.exists():
            # Opening it would make an empty file, which would hide that it was lost.
            raise TrialLost("its file is missing")
        storage = optuna.storages.RDBStorage(record["storage"])
        name, number = record["study_name"], record["number"]
        try:
            study = optuna.load_study(
                study_name=name, storage=storage, pruner=pruner(record["pruner"])
            )
            trial_id = storage.get_trial_id_from_study_id_trial_number(
                storage.get_study_id_from_name(name), number
            )
        except KeyError:
            raise TrialLost(f"it holds no such study, or no trial {number}") from None
        if "search" in record:  # what the sweep's record held when the run started
            differs = differences(study.user_attrs.get("search"), record["search"])
            if differs:
                raise TrialLost(f"it belongs to another search ({differs})")
        if storage.get_trial(trial_id).params != self.run.metadata["sweep"]["values"]:
            raise TrialLost(f"its trial {number} has other values than this run")
        return optuna.trial.Trial(study, trial_id)
