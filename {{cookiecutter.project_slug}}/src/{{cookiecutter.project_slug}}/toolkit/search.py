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
a search, the sweep rebuilds it from its points' records (search_study.py), and a
trial's run that cannot reach its trial trains on without pruning (trial_pruning.py).

Optuna is an optional dependency (`pip install -e '.[search]'`): it is imported here,
inside the functions, so that a grid sweep or a single run never needs it.
"""

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from voluptuous import All, Any, Length, Optional, Range, Required, Schema

from {{ cookiecutter.project_slug }}.toolkit.config import set_key, validate
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.search_study import (
    STUDY_FILE,
    SweepStudy,
    trial_state,
)
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import shown

NUMBER = Any(int, float)
RANGE = Schema(
    {
        Required("low"): NUMBER,
        Required("high"): NUMBER,
        Optional("log", default=False): bool,
        Optional("step"): NUMBER,
    }
)
CHOICES = Schema(
    {
        Required("choices"): All(
            [Any(None, bool, int, float, str)], Length(min=1, msg="expected at least one entry")
        )
    }
)
PRUNER = Schema(
    {
        Required("type"): Any("median", "none"),
        # Trials that run to the end before any is pruned: the median needs some.
        Optional("startup_trials", default=5): All(int, Range(min=0)),
        # Epochs of every trial that are never pruned (0: from the first epoch on).
        Optional("warmup_epochs", default=0): All(int, Range(min=0)),
    }
)
SEARCH = Schema(
    {
        Required("trials"): All(int, Range(min=1)),
        Required("params"): All(
            {
                str: Any(
                    CHOICES,
                    RANGE,
                    msg=(
                        "expected a range {low: ..., high: ..., log: true|false, step: ...} or "
                        "{choices: [...]} of plain values"
                    ),
                )
            },
            Length(min=1, msg="expected at least one entry"),
        ),
        Optional("sampler", default="tpe"): Any("tpe", "random"),
        Optional("seed", default=0): int,  # the sampler's: the same seed asks the same trials
        Optional("pruner", default="median"): Any("median", "none", PRUNER),
        Optional("storage"): str,
        Optional("study_name"): str,
    }
)
INSTALL_HINT = "pip install -e '.[search]'"
# What the study optimises, the same for every trial (selection.patience may vary: it
# says when a trial stops, not which metric orders the trials).
SELECTION_KEYS = ("selection", "selection.metric", "selection.mode")


def require_optuna(sweep_file: Path) -> None:
    """Refuse a search, before anything is logged, where Optuna is not installed."""
    try:
        import optuna  # noqa: F401
    except ImportError as error:
        raise UserError(
            f"{sweep_file} asks for a search, which needs Optuna ({error}). "
            f"Install it with: {INSTALL_HINT}"
        ) from None


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
            raise UserError(
                f"{where}: a search cannot vary the selection metric or mode: its "
                "study optimises one metric in one direction, and would compare "
                "trials that select on others with each other. Run a search for "
                "each, or a grid sweep, to compare selection metrics."
            )
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
        checked[key] = {"kind": kind, "low": low, "high": high, "log": spec["log"], "step": step}
    return checked


def number_kind(key: str, spec: dict, base: object, where: str) -> str:
    given = [spec["low"], spec["high"], *([spec["step"]] if "step" in spec else [])]
    if isinstance(base, bool) or not isinstance(base, int | float | None):
        raise UserError(
            f"{where}: the config's {key} is {shown(base)}, not a number: "
            "give it {choices: [...]} instead of a range"
        )
    ints = all(isinstance(value, int) for value in given)
    if isinstance(base, int) and not ints:
        raise UserError(
            f"{where}: {key} is an integer in the config, so low, high and "
            f"step must be integers too"
        )
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


def open_study(
    study: dict, directory: Path, trials: Callable[[], list[dict]], asked: int = 0
) -> "SweepStudy":
    """The sweep's Optuna study, created on first use; a shared database's study is
    joined (load_if_exists): that is how several machines search together, each with
    the same config and params. `trials`: the sweep's trials as its points record them
    (see SweepStudy). `asked`: the trials this sweep asked before (a resumed sweep's),
    which the sampler's seed skips, so that it does not draw their values again."""
    return SweepStudy(study, directory, trials, asked)


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
                values[key] = int(
                    trial.suggest_int(
                        key, spec["low"], spec["high"], step=spec["step"] or 1, log=spec["log"]
                    )
                )
            else:
                values[key] = float(
                    trial.suggest_float(
                        key, spec["low"], spec["high"], step=spec["step"], log=spec["log"]
                    )
                )
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
