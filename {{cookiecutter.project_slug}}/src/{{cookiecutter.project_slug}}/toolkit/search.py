"""Search with Optuna: a sweep whose points are the trials of an Optuna study.

A sweep file holds `search:` instead of a grid, variants and seeds:

    search:
      trials: 20                  # runs this sweep starts (finished, pruned or failed)
      params:                     # dotted config key: a range, or choices
        model_parameters.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
        batch_size: {choices: [64, 128, 256]}
      sampler: tpe                # or random; seeded by `seed` (default 0)
      pruner: median              # or none, or {type: median, startup_trials, warmup_epochs}
      storage: postgresql://...   # default: sqlite, study.db in the sweep's record
      study_name: lr_search       # default: the sweep's id

The study minimises or maximises the config's own selection metric (`selection.metric`
and `selection.mode`, on the validation split): a trial's value is its run's best
epoch's (metadata.yaml `best.value`). A trial's run reports that metric after every
epoch, and the pruner may stop it there: its run then ends like an early stop, with
status `pruned`.

A study belongs to one search: its metric and direction, its base config (a hash) and
its params are fixed in the study's user attrs when it is made, and a search that differs
in any of them is refused it. Where the sweep's own study.db is deleted or damaged during
a search, the sweep rebuilds it from its points' records (SweepStudy), and a trial's run
that cannot reach its trial trains on without pruning (TrialPruning).

Optuna is an optional dependency (`pip install -e '.[search]'`): it is imported here,
inside the functions, so that a grid sweep or a single run never needs it.
"""

import copy
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from voluptuous import All, Any, Length, Optional, Range, Required, Schema

from {{ cookiecutter.project_slug }}.toolkit.config import set_key, validate
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.run_directory import RunDirectory
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import shown

STUDY_FILE = "study.db"  # the default storage, inside the sweep's directory
NUMBER = Any(int, float)
RANGE = Schema({Required("low"): NUMBER, Required("high"): NUMBER,
                Optional("log", default=False): bool, Optional("step"): NUMBER})
CHOICES = Schema({Required("choices"): All([Any(None, bool, int, float, str)],
                                           Length(min=1, msg="expected at least one entry"))})
PRUNER = Schema({Required("type"): Any("median", "none"),
                 # Trials that run to the end before any is pruned: the median needs some.
                 Optional("startup_trials", default=5): All(int, Range(min=0)),
                 # Epochs of every trial that are never pruned (0: from the first epoch on).
                 Optional("warmup_epochs", default=0): All(int, Range(min=0))})
SEARCH = Schema({
    Required("trials"): All(int, Range(min=1)),
    Required("params"): All({str: Any(CHOICES, RANGE, msg=(
        "expected a range {low: ..., high: ..., log: true|false, step: ...} or "
        "{choices: [...]} of plain values"))}, Length(min=1, msg="expected at least one entry")),
    Optional("sampler", default="tpe"): Any("tpe", "random"),
    Optional("seed", default=0): int,  # the sampler's: the same seed asks the same trials
    Optional("pruner", default="median"): Any("median", "none", PRUNER),
    Optional("storage"): str,
    Optional("study_name"): str,
})
INSTALL_HINT = "pip install -e '.[search]'"
# What the study optimises, the same for every trial (selection.patience may vary: it
# says when a trial stops, not which metric orders the trials).
SELECTION_KEYS = ("selection", "selection.metric", "selection.mode")


def require_optuna(sweep_file: Path) -> None:
    """Refuse a search, before anything is logged, where Optuna is not installed."""
    try:
        import optuna  # noqa: F401
    except ImportError as error:
        raise UserError(f"{sweep_file} asks for a search, which needs Optuna ({error}). "
                        f"Install it with: {INSTALL_HINT}") from None


def checked_params(params: dict, base: dict, sweep_file: Path, project: Project) -> dict:
    """The search's params, each with the `kind` of value it suggests (int, float or
    choice); every bound and choice is set on the base config and validated, so that
    a value the schema rejects stops the sweep before anything is logged.

    A range over a key whose base value is an int suggests ints; over a float, floats;
    over a key with no number in the base config, ints if its bounds are ints."""
    checked = {}
    for key, spec in params.items():
        where = f"{sweep_file}: search.params.{key}"
        if key in SELECTION_KEYS:
            raise UserError(f"{where}: a search cannot vary the selection metric or mode: its "
                            "study optimises one metric in one direction, and would compare "
                            "trials that select on others with each other. Run a search for "
                            "each, or a grid sweep, to compare selection metrics.")
        if "choices" in spec:
            # A copy: the sweep file as given is recorded too, and YAML would alias the two.
            checked[key] = {"kind": "choice", "choices": list(spec["choices"])}
            for value in spec["choices"]:
                validated_with(base, key, value, f"{where}, choice {shown(value)}", project)
            continue
        kind = number_kind(key, spec, base_value(base, key), where)
        low, high, step = spec["low"], spec["high"], spec.get("step")
        if not low < high:
            raise UserError(f"{where}: low ({shown(low)}) must be below high ({shown(high)})")
        if spec["log"] and (low <= 0 or step is not None):
            raise UserError(f"{where}: a log range needs low above 0 and no step")
        if step is not None and step <= 0:
            raise UserError(f"{where}: step must be above 0, not {shown(step)}")
        if kind == "float":
            low, high = float(low), float(high)
        for which, value in (("low", low), ("high", high)):
            validated_with(base, key, value, f"{where}, {which} {shown(value)}", project)
        checked[key] = {"kind": kind, "low": low, "high": high, "log": spec["log"],
                        "step": step}
    return checked


def number_kind(key: str, spec: dict, base: object, where: str) -> str:
    given = [spec["low"], spec["high"], *([spec["step"]] if "step" in spec else [])]
    if isinstance(base, bool) or not isinstance(base, int | float | None):
        raise UserError(f"{where}: the config's {key} is {shown(base)}, not a number: "
                        "give it {choices: [...]} instead of a range")
    ints = all(isinstance(value, int) for value in given)
    if isinstance(base, int) and not ints:
        raise UserError(f"{where}: {key} is an integer in the config, so low, high and "
                        f"step must be integers too")
    return "int" if isinstance(base, int) or (base is None and ints) else "float"


def base_value(config: dict, dotted: str) -> object:
    """The base config's value at a dotted key (None where it has none)."""
    level = config
    for key in dotted.split("."):
        level = level.get(key) if isinstance(level, dict) else None
    return level


def validated_with(base: dict, key: str, value: object, source: str, project: Project) -> None:
    config = copy.deepcopy(base)
    set_key(config, key, value, source, project.schema)
    validate(config, source, project)


# --------------------------------------------------------------------------------------
# The study, from the sweep's process


def study_record(search: dict, directory: Path, base: dict) -> dict:
    """What sweep.yaml records of the study, and what a trial's run needs to reach it."""
    pruner = search["pruner"]
    return {
        "trials": search["trials"],
        # The config's selection metric, the validation metric every run selects on.
        "metric": base["selection"]["metric"],
        "direction": "minimize" if base["selection"]["mode"] == "min" else "maximize",
        # The config every trial sets its values on: the study holds this hash too, and
        # a search on another config is refused it.
        "base_config_sha256": config_hash(base),
        "storage": search.get("storage") or f"sqlite:///{(directory / STUDY_FILE).resolve()}",
        "study_name": search.get("study_name") or directory.name,
        "sampler": search["sampler"],
        "seed": search["seed"],
        "pruner": PRUNER({"type": pruner} if isinstance(pruner, str) else pruner),
        "best": None,  # the best trial so far: its number, value and values
    }


def config_hash(config: dict) -> str:
    """The sha256 of a config's canonical dump: the same config, the same hash."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
    said = [f"its {name} is {theirs.get(key)}, this search's {ours[key]}"
            for key, name in (("metric", "selection metric"), ("direction", "direction"))
            if theirs.get(key) != ours[key]]
    hashes = str(theirs.get("base_config_sha256")), ours["base_config_sha256"]
    if hashes[0] != hashes[1]:
        said.append(f"its base config differs (sha256 {hashes[0][:12]}, this search's "
                    f"{hashes[1][:12]})")
    params = theirs.get("params") if isinstance(theirs.get("params"), dict) else {}
    keys = sorted(key for key in params.keys() | ours["params"].keys()
                  if params.get(key) != ours["params"].get(key))
    if keys:
        said.append(f"its params differ in {', '.join(keys)}")
    return "; ".join(said) or None


def open_study(study: dict, directory: Path, trials: Callable[[], list[dict]],
               asked: int = 0) -> "SweepStudy":
    """The sweep's Optuna study, created on first use; a shared database's study is
    joined (load_if_exists): that is how several machines search together, each with
    the same config and params. `trials`: the sweep's trials as its points record them
    (see SweepStudy). `asked`: the trials this sweep asked before (a resumed sweep's),
    which the sampler's seed skips, so that it does not draw their values again."""
    return SweepStudy(study, directory, trials, asked)


class SweepStudy:
    """The study as the sweep's process uses it: checked, before each use, to be this
    search's still. A use that fails opens it again and tries once more: the sweep's own
    study.db, where it was deleted or damaged, is rebuilt from the points' records (a
    damaged file is moved aside, never deleted); a study a sweep file names (a lab's
    database) is not, and the sweep stops with one error naming it (UserError).

    `trials` gives the sweep's trials as its points record them, each a dict: number,
    values, status (a point's: finished, pruned, failed, or pending, running,
    interrupted), and value (its run's best, for a finished one)."""

    def __init__(self, record: dict, directory: Path, trials: Callable[[], list[dict]],
                 asked: int):
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
            raise UserError(f"{self.named} fails again, opened anew: {reason(error)}. "
                            f"{self.resume_hint()}") from None

    def opened(self, asked: int):
        """The Optuna study, this search's and holding every trial the sweep's points
        record; its own study.db rebuilt where it is missing or damaged."""
        trials = self.trials()
        if self.own_file is not None and not self.own_file.exists():
            if trials:  # else it is made now, as on the sweep's first use
                say(f"{self.own_file} is missing: the study is rebuilt from "
                    f"{points_records(trials)}")
            return self.rebuilt(trials, asked)
        try:
            # Loaded, not made, once the sweep has trials: an empty study would not hold them.
            study = self.connected(asked, create=not trials)
            problem = self.problem(study, trials)
        except study_errors() as error:
            if self.own_file is None or not damaged(error):
                # A locked or unwritable file is not damaged: the sweep stops, and resumes.
                raise UserError(f"cannot open {self.named}: {reason(error)}. "
                                f"{self.resume_hint() if trials else ''}".rstrip()) from None
            problem = f"is damaged ({reason(error)})"
        if problem is None:
            return study
        if self.own_file is None:
            raise UserError(f"{self.named} {problem}. " + (self.resume_hint() if trials else
                            "A study holds the trials of one search: give this search a "
                            "study_name of its own."))
        aside = moved_aside(self.own_file)
        say(f"{self.own_file} {problem}: moved to {aside}, and the study rebuilt from "
            f"{points_records(trials)}")
        return self.rebuilt(trials, asked)

    def connected(self, asked: int, create: bool):
        """The study in its storage: made or joined if `create`, else loaded."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep says what runs
        record = self.record
        path = sqlite_file(record["storage"])
        if not create and path is not None and not path.exists():
            # Opening it would make an empty file, which would hide that it was lost.
            raise UserError(f"cannot open {self.named}: its file is missing. "
                            f"{self.resume_hint()}")
        seed = record["seed"] + asked
        sampler = (optuna.samplers.TPESampler(seed=seed) if record["sampler"] == "tpe"
                   else optuna.samplers.RandomSampler(seed=seed))
        options = {"study_name": record["study_name"], "storage": record["storage"],
                   "sampler": sampler, "pruner": pruner(record["pruner"])}
        if not create:
            return optuna.load_study(**options)
        study = optuna.create_study(**options, direction=record["direction"],
                                    load_if_exists=True)
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
        missing = [str(trial["number"]) for trial in trials
                   if held.get(trial["number"]) != trial["values"]]
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
            study.add_trial(create_trial(state=state, value=value, params=trial["values"],
                                         distributions=distributions))
        return study

    def resume_hint(self) -> str:
        if self.own_file is None:
            return (f"It is not the sweep's own {STUDY_FILE}, so it is not rebuilt from the "
                    "points' records: restore it, then continue the sweep: python run.py "
                    f"--resume-sweep {self.directory}")
        return ("Once it can be used, continue the sweep: python run.py --resume-sweep "
                f"{self.directory}")


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
            distributions[key] = IntDistribution(spec["low"], spec["high"], log=spec["log"],
                                                 step=spec["step"] or 1)
        else:
            distributions[key] = FloatDistribution(spec["low"], spec["high"], log=spec["log"],
                                                   step=spec["step"])
    return distributions


def pruner(spec: dict):
    import optuna

    if spec["type"] == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=spec["startup_trials"],
                                       n_warmup_steps=spec["warmup_epochs"])


def ask(study: SweepStudy, params: dict) -> tuple[int, dict]:
    """A new trial: its number, and its value for each param."""
    def asked(study) -> tuple[int, dict]:
        trial = study.ask()
        values = {}
        for key, spec in params.items():
            # As plain Python numbers: a sampler may give NumPy's, which neither the YAML
            # records nor a checkpoint's safe loading take.
            if spec["kind"] == "choice":
                values[key] = trial.suggest_categorical(key, spec["choices"])
            elif spec["kind"] == "int":
                values[key] = int(trial.suggest_int(key, spec["low"], spec["high"],
                                                    step=spec["step"] or 1, log=spec["log"]))
            else:
                values[key] = float(trial.suggest_float(key, spec["low"], spec["high"],
                                                        step=spec["step"], log=spec["log"]))
        return trial.number, values

    return study.use(asked)


def tell(study: SweepStudy, number: int, status: str, value: float | None) -> None:
    """Tell the study how trial `number` ended: finished with its run's best `value`,
    pruned, or failed (so is a finished run with no value to give). Telling a trial
    again (a resumed sweep does) changes nothing; a trial the study does not hold (it
    was lost) is told once it is rebuilt, or the sweep stops (UserError)."""
    state, value = trial_state(status, value)
    study.use(lambda study: study.tell(number, value, state=state, skip_if_finished=True))


def best_trial(study: SweepStudy) -> dict | None:
    """The study's best trial so far (with a shared storage: any machine's)."""
    def best(study) -> dict | None:
        try:
            trial = study.best_trial
        except ValueError:  # no trial has finished yet
            return None
        return {"number": trial.number, "value": trial.value, "values": trial.params}

    return study.use(best)


# --------------------------------------------------------------------------------------
# What goes wrong with a study


def study_errors() -> tuple[type[Exception], ...]:
    """What Optuna raises where a study or its trial cannot be used: its database cannot
    be reached, or was damaged, or lost the study (KeyError: 'Record does not exist.'); a
    trial it does not hold ('Cannot tell for trial...', a ValueError); a trial that ended
    already (a RuntimeError); a database's driver missing (ImportError)."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError  # Optuna's database layer

    return (KeyError, ValueError, RuntimeError, ImportError,
            optuna.exceptions.OptunaError, SQLAlchemyError)


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
    return isinstance(error, KeyError) or (isinstance(error, DatabaseError)
                                           and not isinstance(error, OperationalError))


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


# --------------------------------------------------------------------------------------
# The trial, from its run's process


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
        say(f"this run cannot report to its trial {self.record['number']} of the study "
            f"{self.record['study_name']} in {self.record['storage']}: {why}. It trains on "
            f"without pruning (metadata.yaml: sweep.trial.pruning_off)")
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
            study = optuna.load_study(study_name=name, storage=storage,
                                      pruner=pruner(record["pruner"]))
            trial_id = storage.get_trial_id_from_study_id_trial_number(
                storage.get_study_id_from_name(name), number)
        except KeyError:
            raise TrialLost(f"it holds no such study, or no trial {number}") from None
        if "search" in record:  # what the sweep's record held when the run started
            differs = differences(study.user_attrs.get("search"), record["search"])
            if differs:
                raise TrialLost(f"it belongs to another search ({differs})")
        if storage.get_trial(trial_id).params != self.run.metadata["sweep"]["values"]:
            raise TrialLost(f"its trial {number} has other values than this run")
        return optuna.trial.Trial(study, trial_id)
