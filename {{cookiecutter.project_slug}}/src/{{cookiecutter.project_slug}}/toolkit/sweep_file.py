"""A sweep file, and the points it makes.

A sweep file holds a `grid` (dotted key: [values], every combination of them), a list
of `variants` (each a few dotted keys with their values) and `seeds`; or a `search`
(search.py). A point is one combination of the grid with one variant and one seed, in
that order of nesting; its config is the base config with the point's values set.
"""

import copy
import itertools
import time
from pathlib import Path

import yaml
from voluptuous import All, Length, MultipleInvalid, Optional, Schema

from {{ cookiecutter.project_slug }}.toolkit import search
from {{ cookiecutter.project_slug }}.toolkit.config import key_path, set_key, validate
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    located,
    parse_config,
    read_text,
    shown,
)

SWEEP_KEYS = ("description", "grid", "variants", "seeds", "search")
NON_EMPTY = Length(min=1, msg="expected at least one entry")
SWEEP_FILE = Schema(
    {
        Optional("description"): str,
        Optional("grid"): All({str: All(list, NON_EMPTY)}, NON_EMPTY),
        Optional("variants"): All([All({str: object}, NON_EMPTY)], NON_EMPTY),
        Optional("seeds"): All([int], NON_EMPTY),
        Optional("search"): search.SEARCH,  # Optuna's trials (search.py)
    }
)
PROGRESS_EVERY = 2.0  # seconds between two lines of a long check's progress


def read_sweep_file(path: Path) -> dict:
    try:
        sweep = parse_config(read_text(path))
    except OSError as error:
        raise UserError(f"cannot read sweep file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML:\n{located(error, path)}") from None
    if not isinstance(sweep, dict):
        raise UserError(f"{path} must hold a mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = [key for key in sweep if key not in SWEEP_KEYS]
    if unknown:
        raise UserError(
            f"{path}: unknown key {shown(unknown[0])}; a sweep file holds {', '.join(SWEEP_KEYS)}"
        )
    try:
        sweep = SWEEP_FILE(sweep)
    except MultipleInvalid as error:
        problems = "\n".join(
            f"  - {'.'.join(map(str, problem.path))}: {problem.msg}" for problem in error.errors
        )
        raise UserError(f"{path} has {len(error.errors)} problem(s):\n{problems}") from None
    if not ({"grid", "variants", "seeds", "search"} & sweep.keys()):
        raise UserError(f"{path} holds no points: give a grid, variants, seeds or a search")
    combined = [key for key in ("grid", "variants", "seeds") if key in sweep]
    if "search" in sweep and combined:
        raise UserError(
            f"{path}: a search samples its own points; leave out {combined[0]} "
            "(each trial runs the config's seed unless the search varies seed)"
        )
    return sweep


def sweep_points(sweep: dict, path: Path, project: Project) -> list[dict]:
    """The values of each point: every combination of the grid, with each variant,
    with each seed (the innermost, so that a point's seeds run one after another)."""
    grid = sweep.get("grid", {})
    variants = sweep.get("variants", [{}])
    seeds = [{"seed": seed} for seed in sweep.get("seeds", [])] or [{}]
    for where, keys in [
        ("grid", grid),
        *((f"variants[{index}]", variant) for index, variant in enumerate(variants)),
    ]:
        for dotted in keys:
            key_path(dotted, f"{path}: {where}:", project.schema)  # one a config can hold
            if where != "grid" and dotted in grid:
                raise UserError(
                    f"{path}: {dotted} is in both the grid and {where}; a key varies in one of them"
                )
            if dotted == "seed" and seeds != [{}]:
                raise UserError(
                    f"{path}: seed is in {where} and seeds is given; set the seeds in one of them"
                )
    combinations = [
        dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
    ]
    return [
        {**combination, **variant, **seed}
        for combination in combinations
        for variant in variants
        for seed in seeds
    ]


def check_values(sweep: dict, base: dict, sweep_file: Path, project: Project) -> None:
    """Each value of the grid, each variant and each seed set alone on the config and
    validated, so that a typo or a wrong type stops the sweep before anything is logged,
    however many points it has. A combination of values is validated as its point starts."""
    started = shown = time.monotonic()
    alone = [{key: value} for key, values in sweep.get("grid", {}).items() for value in values]
    alone += sweep.get("variants", []) + [{"seed": seed} for seed in sweep.get("seeds", [])]
    for checked, values in enumerate(alone, start=1):
        point_config(base, values, None, sweep_file, project)
        if time.monotonic() - shown > PROGRESS_EVERY:  # tens of thousands take seconds
            shown = time.monotonic()
            print(
                f"checking the sweep's values on the config: {checked} of {len(alone)}", flush=True
            )
    print(
        f"checked the sweep's {len(alone)} value{'s' if len(alone) != 1 else ''} on the "
        f"config in {time.monotonic() - started:.1f} s; each point's whole config is "
        "checked as it starts",
        flush=True,
    )


def point_config(
    base: dict, values: dict, number: int | None, sweep_file: Path, project: Project
) -> dict:
    """The base config with the point's values set, validated as a single run's is.
    Its description names the values (unless a point sets one itself): the base config's
    alone would say the same of every point, and be wrong where a value changes it."""
    config = copy.deepcopy(base)
    for dotted, value in values.items():
        set_key(config, dotted, value, f"{sweep_file}:", project.schema)
    if values and "description" not in values:
        config["description"] = f"{config.get('description', '')} [{describe(values)}]".lstrip()
    point = f"point {number} " if number is not None else ""
    return validate(config, f"{sweep_file}, {point}({describe(values)})", project)


def describe(values: dict) -> str:
    return ", ".join(f"{key}={shown(value)}" for key, value in values.items()) or "the config"
