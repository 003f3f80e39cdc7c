"""`python run.py --list --sweep ID`: a sweep's points side by side, and its settings.

ID is the sweep's id (its folder's name in logs/sweeps/) or its directory.

- The points: a row each, with its values of the swept keys (a column per key), its
  status and run directory, the selected metric's best value and its epoch, and the
  final test's numbers.
- The settings, when points differ only in their seed: a row per setting, with n (its
  finished points) and each number as mean ± sample standard deviation over them; a
  failed, interrupted or pruned point counts in none.

`--format json` gives both as {"points": [...], "settings": [...]}, every number in
full; `--format csv` gives the points (a row per point: grouping its rows by the swept
keys but `seed` gives the settings). Swept keys are named as in `--compare`'s records,
`config.` and the dotted key. `--picture` draws the sweep's picture again first.
"""

import sys
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.compare import (
    ABSENT,
    CONFIG,
    aligned,
    as_csv,
    as_json,
    flow_text,
    print_output,
)
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.plug_in import NO_OPTIONS, Options
from {{ cookiecutter.project_slug }}.toolkit.runs import printable
from {{ cookiecutter.project_slug }}.toolkit.sweep_picture import PICTURE, draw_picture
from {{ cookiecutter.project_slug }}.toolkit.sweep_record import (
    SWEEP_RECORD,
    SWEEPS_FOLDER,
    read_record,
    status_now,
)
from {{ cookiecutter.project_slug }}.toolkit.sweep_results import (
    SEED,
    PointResult,
    Setting,
    Spread,
    final_test_tags,
    has_seeds,
    point_results,
    settings,
    swept_keys,
)


def show_sweep(
    argument: str,
    logs_root: Path,
    project_root: Path,
    output_format: str,
    redraw: bool,
    options: Options = NO_OPTIONS,
) -> int:
    """Print the sweep's tables (or records) in `output_format`, after drawing its
    picture again if `redraw`; run.py's exit code (1: the picture could not be drawn).
    The project's `options` may know more of a queued point's status."""
    directory = sweep_directory(argument, logs_root, project_root)
    record = read_record(directory)
    drawn = True
    if redraw:
        drawn = draw_picture(directory, record, project_root) == PICTURE
        if drawn:  # on stderr: what stdout holds may be CSV or JSON
            print(f"drew {shown_path(directory / PICTURE, project_root)}", file=sys.stderr)
    print_output(sweep_listing(directory, record, project_root, output_format, options))
    return 0 if drawn else 1


def sweep_directory(argument: str, logs_root: Path, project_root: Path) -> Path:
    """The sweep's directory: `argument` itself, or logs/sweeps/`argument`."""
    folder = logs_root / SWEEPS_FOLDER
    for candidate in (Path(argument), folder / argument):
        if (candidate / SWEEP_RECORD).is_file():
            return candidate
    known = sorted(path.parent.name for path in folder.glob(f"*/{SWEEP_RECORD}"))
    where = shown_path(folder, project_root)
    if not known:
        raise UserError(
            f"no sweep {argument}: {where}/ holds none yet (python run.py CONFIG "
            "--sweep SWEEP_FILE starts one)"
        )
    raise UserError(
        f"no sweep {argument}; give the id of one of the sweeps in {where}/ "
        "(or its directory):\n" + "\n".join(f"  {name}" for name in known)
    )


def sweep_listing(
    directory: Path, record: dict, project_root: Path, output_format: str, options: Options
) -> str:
    points = point_results(record, project_root, options.status_now)
    groups = settings(points)
    keys, tags = swept_keys(points), final_test_tags(points)
    if output_format == "table":
        return tables(directory, record, points, groups, project_root)
    records = [point_record(point, keys, tags) for point in points]
    if output_format == "csv":
        return as_csv(records, list(records[0]))
    return as_json(
        {
            "status": status_now(directory, record),
            "commit": record["git"]["commit"],
            "points": records,
            "settings": [setting_record(setting, keys, tags) for setting in groups],
        }
    )


def point_record(point: PointResult, keys: list[str], tags: list[str]) -> dict:
    return {
        "point": point.number,
        **{f"{CONFIG}{key}": point.values.get(key) for key in keys},
        "status": point.status,
        "run_directory": point.run,
        "best_metric": point.best_metric,
        "best_value": point.best_value,
        "best_epoch": point.best_epoch,
        **{tag: point.final_test.get(tag) for tag in tags},
    }


def setting_record(setting: Setting, keys: list[str], tags: list[str]) -> dict:
    numbers = {"best_value": setting.best(), **{tag: setting.final_test(tag) for tag in tags}}
    return {
        **{f"{CONFIG}{key}": setting.values.get(key) for key in keys if key != SEED},
        "points": [point.number for point in setting.points],
        "n": len(setting.finished),
        "best_metric": setting.best_metric,
        **{
            f"{name}_{statistic}": getattr(spread, statistic) if spread else None
            for name, spread in numbers.items()
            for statistic in ("mean", "std")
        },
    }


def tables(
    directory: Path,
    record: dict,
    points: list[PointResult],
    groups: list[Setting],
    project_root: Path,
) -> str:
    keys, tags = swept_keys(points), final_test_tags(points)
    # A column per selection metric: a sweep may vary it.
    metrics = list(dict.fromkeys(point.best_metric for point in points if point.best_metric))
    heading = (
        f"sweep {record['id']}, {status_now(directory, record)}, "
        f"commit {record['git']['commit'][:12]}"
    )
    lines = [heading + (f": {record['description']}" if record.get("description") else "")]
    rows = [
        (
            "point",
            *keys,
            "status",
            "run directory",
            *(f"best {metric}" for metric in metrics),
            *tags,
        )
    ]
    rows += [
        (
            str(point.number),
            *(value_cell(point.values, key) for key in keys),
            point.status,
            point.run or ABSENT,
            *(best_cell(point) if point.best_metric == metric else ABSENT for metric in metrics),
            *(number_cell(point.final_test.get(tag)) for tag in tags),
        )
        for point in points
    ]
    lines += aligned([tuple(map(printable, row)) for row in rows])
    if has_seeds(groups):
        setting_keys = [key for key in keys if key != SEED]
        rows = [(*setting_keys, "n", *(f"best {metric}" for metric in metrics), *tags)]
        rows += [
            (
                *(value_cell(setting.values, key) for key in setting_keys),
                finished_count(setting),
                *(
                    spread_cell(setting.best()) if setting.best_metric == metric else ABSENT
                    for metric in metrics
                ),
                *(spread_cell(setting.final_test(tag)) for tag in tags),
            )
            for setting in groups
        ]
        lines += ["", "mean ± std over seeds (n: the finished ones)"]
        lines += aligned([tuple(map(printable, row)) for row in rows])
    lines.append(picture_line(directory, record, project_root))
    return "\n".join(lines)


def value_cell(values: dict, key: str) -> str:
    return flow_text(values[key]) if key in values else ABSENT


def best_cell(point: PointResult) -> str:
    if point.best_value is None:
        return ABSENT
    return f"{point.best_value:.4g} (epoch {point.best_epoch})"


def number_cell(value: float | None) -> str:
    return ABSENT if value is None else f"{value:.4g}"


def spread_cell(spread: Spread | None) -> str:
    if spread is None:
        return ABSENT
    return f"{spread.mean:.4g}" + (f" ± {spread.std:.2g}" if spread.std is not None else "")


def finished_count(setting: Setting) -> str:
    """ "2", or "1 of 2" when some of its points have not finished."""
    finished, total = len(setting.finished), len(setting.points)
    return str(finished) if finished == total else f"{finished} of {total}"


def picture_line(directory: Path, record: dict, project_root: Path) -> str:
    picture = directory / PICTURE
    again = f"python run.py --list --sweep {record['id']} --picture"
    if picture.is_file():
        return f"picture: {shown_path(picture, project_root)} (draw it again: {again})"
    if str(record.get("picture", "")).startswith("not drawn"):
        return f"picture: {record['picture']}; draw it with: {again}"
    return f"picture: none yet (drawn when the sweep ends, or by: {again})"


def shown_path(path: Path, project_root: Path) -> Path:
    """`path` as --list shows it: relative to the project for a path in it."""
    where = path.resolve()
    return where.relative_to(project_root) if where.is_relative_to(project_root) else where
