"""A search's Optuna study as its sweep uses it: opened, checked to be this search's,
and, where the sweep's own study.db is deleted or damaged, rebuilt from its points'
records, every trial under its number with its value.

Optuna is imported inside the functions: a grid sweep or a single run never needs it.
"""

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError

STUDY_FILE = "study.db"  # the default storage, inside the sweep's directory


def search_attrs(study: dict) -> dict:
    """What the study's user attrs fix of the search it belongs to, when it is created:
    its objective (metric and direction), its base config and its params. Trials of
    searches that differ in any of these are not comparable, so a study takes one."""
    attrs = {key: study[key] for key in ("metric", "direction", "base_config_sha256")}
    # As the study gives them back, so that they compare equal: JSON, as it stores them.
    return json.loads(json.dumps({**attrs, "params": study["params"]}))


def differences(theirs: dict | None, ours: dict) -> str | None:
    """What differs between the search a study belongs to and this one; None if nothing."""
    if not isinstance(theirs, dict):
        return "it records no search (another tool made it)"
    said = [
        f"its {name} is {theirs.get(key)}, this search's {ours[key]}"
        for key, name in (("metric", "selection metric"), ("direction", "direction"))
        if theirs.get(key) != ours[key]
    ]
    hashes = str(theirs.get("base_config_sha256")), ours["base_config_sha256"]
    if hashes[0] != hashes[1]:
        said.append(
            f"its base config differs (sha256 {hashes[0][:12]}, this search's {hashes[1][:12]})"
        )
    params = theirs.get("params") if isinstance(theirs.get("params"), dict) else {}
    keys = sorted(
        key
        for key in params.keys() | ours["params"].keys()
        if params.get(key) != ours["params"].get(key)
    )
    if keys:
        said.append(f"its params differ in {', '.join(keys)}")
    return "; ".join(said) or None


class SweepStudy:
    """The study as the sweep's process uses it: checked, before each use, to be this
    search's still. A use that fails opens it again and tries once more: the sweep's own
    study.db, where it was deleted or damaged, is rebuilt from the points' records (a
    damaged file is moved aside, never deleted); a study a sweep file names (a lab's
    database) is not, and the sweep stops with one error naming it (UserError).

    `trials` gives the sweep's trials as its points record them, each a dict: number,
    values, status (a point's: finished, pruned, failed, or pending, running,
    interrupted), and value (its run's best, for a finished one)."""

    def __init__(self, record: dict, directory: Path, trials: Callable[[], list[dict]], asked: int):
        self.record = record  # sweep.yaml's search
        self.directory = directory
        self.trials = trials
        default = f"sqlite:///{(directory / STUDY_FILE).resolve()}"
        self.own_file = directory / STUDY_FILE if record["storage"] == default else None
        self.named = f"the study {record['study_name']} in {record['storage']}"
        self.optuna = self.opened(asked)

    def use(self, action: Callable):
        """`action(study)`, on the study checked to be this search's; where that fails,
        on the study opened again."""
        try:
            if not differences(self.optuna.user_attrs.get("search"), search_attrs(self.record)):
                return action(self.optuna)
        except study_errors():
            pass  # lost, damaged or unreachable: opened again below, or refused
        self.optuna = self.opened(asked=len(self.trials()))
        try:
            return action(self.optuna)
        except study_errors() as error:
            raise UserError(
                f"{self.named} fails again, opened anew: {reason(error)}. {self.resume_hint()}"
            ) from None

    def opened(self, asked: int):
        """The Optuna study, this search's and holding every trial the sweep's points
        record; its own study.db rebuilt where it is missing or damaged."""
        trials = self.trials()
        if self.own_file is not None and not self.own_file.exists():
            if trials:  # else it is made now, as on the sweep's first use
                say(
                    f"{self.own_file} is missing: the study is rebuilt from "
                    f"{points_records(trials)}"
                )
            return self.rebuilt(trials, asked)
        try:
            # Loaded, not made, once the sweep has trials: an empty study would not hold them.
            study = self.connected(asked, create=not trials)
            problem = self.problem(study, trials)
        except study_errors() as error:
            if self.own_file is None or not damaged(error):
                # A locked or unwritable file is not damaged: the sweep stops, and resumes.
                raise UserError(
                    f"cannot open {self.named}: {reason(error)}. "
                    f"{self.resume_hint() if trials else ''}".rstrip()
                ) from None
            problem = f"is damaged ({reason(error)})"
        if problem is None:
            return study
        if self.own_file is None:
            raise UserError(
                f"{self.named} {problem}. "
                + (
                    self.resume_hint()
                    if trials
                    else "A study holds the trials of one search: give this search a "
                    "study_name of its own."
                )
            )
        aside = moved_aside(self.own_file)
        say(
            f"{self.own_file} {problem}: moved to {aside}, and the study rebuilt from "
            f"{points_records(trials)}"
        )
        return self.rebuilt(trials, asked)

    def connected(self, asked: int, create: bool):
        """The study in its storage: made or joined if `create`, else loaded."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep says what runs
        record = self.record
        path = sqlite_file(record["storage"])
        if not create and path is not None and not path.exists():
            # Opening it would make an empty file, which would hide that it was lost.
            raise UserError(f"cannot open {self.named}: its file is missing. {self.resume_hint()}")
        seed = record["seed"] + asked
        sampler = (
            optuna.samplers.TPESampler(seed=seed)
            if record["sampler"] == "tpe"
            else optuna.samplers.RandomSampler(seed=seed)
        )
        options = {
            "study_name": record["study_name"],
            "storage": record["storage"],
            "sampler": sampler,
            "pruner": pruner(record["pruner"]),
        }
        if not create:
            return optuna.load_study(**options)
        study = optuna.create_study(**options, direction=record["direction"], load_if_exists=True)
        if "search" not in study.user_attrs and not study.get_trials(deepcopy=False):
            study.set_user_attr("search", search_attrs(record))  # new: this search's from now
        return study

    def problem(self, study, trials: list[dict]) -> str | None:
        """Why `study` is not this search's, or not the one its points ran in; None if
        it is."""
        differs = differences(study.user_attrs.get("search"), search_attrs(self.record))
        if differs:
            return f"belongs to another search: {differs}"
        held = {trial.number: trial.params for trial in study.get_trials(deepcopy=False)}
        missing = [
            str(trial["number"]) for trial in trials if held.get(trial["number"]) != trial["values"]
        ]
        if missing:
            return f"does not hold the sweep's trial(s) {', '.join(missing)} with their values"
        return None

    def rebuilt(self, trials: list[dict], asked: int):
        """A new study holding the sweep's trials, each under its own number, so that a
        run that resumes reports to its trial as before. A number none of its points
        records (a trial another sweep sharing the file asked, or an ask that failed) is
        added as failed, with no values. Intermediate values are not in the points'
        records: the pruner compares later trials with none of those rebuilt."""
        from optuna.trial import TrialState, create_trial

        study = self.connected(asked, create=True)
        by_number = {trial["number"]: trial for trial in trials}
        distributions = param_distributions(self.record["params"])
        for number in range(max(by_number, default=-1) + 1):
            if number not in by_number:
                study.add_trial(create_trial(state=TrialState.FAIL))
                continue
            trial = by_number[number]
            state, value = trial_state(trial["status"], trial.get("value"))
            study.add_trial(
                create_trial(
                    state=state, value=value, params=trial["values"], distributions=distributions
                )
            )
        return study

    def resume_hint(self) -> str:
        if self.own_file is None:
            return (
                f"It is not the sweep's own {STUDY_FILE}, so it is not rebuilt from the "
                "points' records: restore it, then continue the sweep: python run.py "
                f"--resume-sweep {self.directory}"
            )
        return (
            "Once it can be used, continue the sweep: python run.py --resume-sweep "
            f"{self.directory}"
        )


def points_records(trials: list[dict]) -> str:
    return f"the points' records of its {len(trials)} trial{'s' if len(trials) != 1 else ''}"


def trial_state(status: str, value: float | None):
    """Optuna's state, and value, of a trial whose point has `status`. A point not ended
    (pending, running, interrupted) is a running trial, as study.ask left it: its run
    reports to it, and the sweep tells it, when it runs again."""
    from optuna.trial import TrialState

    if status == "finished" and value is not None and math.isfinite(value):
        return TrialState.COMPLETE, value
    if status == "pruned":
        return TrialState.PRUNED, None
    if status in ("finished", "failed"):  # finished with no value to give: failed
        return TrialState.FAIL, None
    return TrialState.RUNNING, None


def param_distributions(params: dict) -> dict:
    """Each param's Optuna distribution, as `ask` suggests it."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    distributions = {}
    for key, spec in params.items():
        if spec["kind"] == "choice":
            distributions[key] = CategoricalDistribution(spec["choices"])
        elif spec["kind"] == "int":
            distributions[key] = IntDistribution(
                spec["low"], spec["high"], log=spec["log"], step=spec["step"] or 1
            )
        else:
            distributions[key] = FloatDistribution(
                spec["low"], spec["high"], log=spec["log"], step=spec["step"]
            )
    return distributions


def pruner(spec: dict):
    import optuna

    if spec["type"] == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=spec["startup_trials"], n_warmup_steps=spec["warmup_epochs"]
    )


def study_errors() -> tuple[type[Exception], ...]:
    """What Optuna raises where a study or its trial cannot be used: its database cannot
    be reached, or was damaged, or lost the study (KeyError: 'Record does not exist.'); a
    trial it does not hold ('Cannot tell for trial...', a ValueError); a trial that ended
    already (a RuntimeError); a database's driver missing (ImportError)."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError  # Optuna's database layer

    return (
        KeyError,
        ValueError,
        RuntimeError,
        ImportError,
        optuna.exceptions.OptunaError,
        SQLAlchemyError,
    )


def reason(error: Exception) -> str:
    """An error's first line. Optuna's StorageInternalError says only that a commit
    failed: the database's error, its cause, says why."""
    import optuna

    if isinstance(error, optuna.exceptions.StorageInternalError) and error.__cause__:
        error = error.__cause__
    if isinstance(error, KeyError):  # 'Record does not exist.'
        return "the storage holds no such study, or no such trial of it"
    return (str(error).splitlines() or [type(error).__name__])[0].rstrip(".")


def damaged(error: Exception) -> bool:
    """Whether opening an SQLite file failed for what is in it: no database, a broken
    one, or none of the study (KeyError). Locked or read-only is not the file's fault."""
    import optuna
    from sqlalchemy.exc import DatabaseError, OperationalError

    if isinstance(error, optuna.exceptions.StorageInternalError) and error.__cause__:
        error = error.__cause__
    return isinstance(error, KeyError) or (
        isinstance(error, DatabaseError) and not isinstance(error, OperationalError)
    )


def sqlite_file(storage: str) -> Path | None:
    """The file of an SQLite storage URL; None for another database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def moved_aside(path: Path) -> Path:
    """Move a damaged file to PATH.damaged-<time>, with its SQLite journal, if any
    (left beside a new file of the same name, SQLite would replay it into that)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}_{number}")
    path.rename(aside)
    journal = path.with_name(f"{path.name}-journal")
    if journal.exists():
        journal.rename(aside.with_name(f"{aside.name}-journal"))
    return aside


def say(warning: str) -> None:
    print(f"warning: {warning}", file=sys.stderr, flush=True)
