"""A sweep's results, point by point and setting by setting, for its table and picture.

A point's values are read from the sweep's record (points[].values), whether a grid, a
variant or a search chose them; its status is the record's (finished, failed, ...);
its results are its run's metadata.yaml (`best` and `final_test`). A setting is the
points whose values differ only in `seed`: its numbers are the mean and the sample
standard deviation (n - 1) over its finished points, so a failed, interrupted or pruned
point counts in none of them.

This module reads files and nothing else, so that the sweep itself can draw its picture
from it (sweep.py imports it; it imports no module that imports sweep.py).
"""

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import parse_record, read_text

SEED = "seed"  # the key whose values a setting's points differ in


@dataclass
class PointResult:
    number: int
    values: dict  # the swept keys, dotted, and this point's values of them
    status: str  # as the sweep records it: pending, running, finished, failed, ...
    run: str | None  # its run directory, relative to the project; None before it starts
    best_metric: str | None = None  # the selection's metric, "val/loss"
    best_value: float | None = None
    best_epoch: int | None = None
    # The final test's numbers by TensorBoard tag, {"test/loss": 0.01}; {} before it.
    final_test: dict[str, float] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status == "finished"


@dataclass
class Spread:
    """A number over a setting's finished points."""

    mean: float
    std: float | None  # None for a single point


@dataclass
class Setting:
    values: dict  # the point's values without the seed
    points: list[PointResult]

    @property
    def finished(self) -> list[PointResult]:
        return [point for point in self.points if point.finished]

    @property
    def best_metric(self) -> str | None:
        return next((point.best_metric for point in self.points if point.best_metric), None)

    def best(self) -> Spread | None:
        return spread([point.best_value for point in self.finished])

    def final_test(self, tag: str) -> Spread | None:
        return spread([point.final_test.get(tag) for point in self.finished])


def as_recorded(metadata: dict, recorded: str) -> str:
    return recorded


def point_results(
    record: dict, project_root: Path, status_now: Callable[[dict, str], str] = as_recorded
) -> list[PointResult]:
    """Every point of the sweep's `record` (sweep.yaml), with its run's results;
    `status_now(metadata, recorded)`: a queued point's status, from its run's record, as
    the project's options know it now (plug_in.py's Options.status_now)."""
    return [point_result(point, project_root, status_now) for point in record["points"]]


def point_result(
    point: dict, project_root: Path, status_now: Callable[[dict, str], str]
) -> PointResult:
    result = PointResult(
        number=point["point"],
        values=point.get("values") or {},
        status=str(point.get("status")),
        run=point.get("run"),
    )
    metadata = run_metadata(project_root / result.run) if result.run else None
    if result.status == "queued" and metadata:
        # A point queued elsewhere (a cluster's job array): its run's record says how it
        # goes (queued, running, finished...), unless the option that queued it knows
        # that it is over without its run having recorded an end: cancelled, or killed.
        result.status = status_now(metadata, str(metadata.get("status")))
    best = metadata.get("best") if metadata else None
    if isinstance(best, dict):
        result.best_metric = best.get("metric") if isinstance(best.get("metric"), str) else None
        result.best_value = number(best.get("value"))
        result.best_epoch = best.get("epoch") if isinstance(best.get("epoch"), int) else None
    final_test = metadata.get("final_test") if metadata else None
    results = final_test.get("results") if isinstance(final_test, dict) else None
    if isinstance(results, dict):
        result.final_test = {
            f"{phase}/{name}": number(value)
            for phase, values in sorted(results.items())
            if isinstance(values, dict)
            for name, value in sorted(values.items())
        }
    return result


def run_metadata(run: Path) -> dict | None:
    """The run's metadata.yaml; None when it is missing or unreadable (`--list` says why)."""
    try:
        metadata = parse_record(read_text(run / METADATA_FILE))
    except (OSError, yaml.YAMLError):  # an alias bomb too: YAMLRefused is one
        return None
    return metadata if isinstance(metadata, dict) else None


def number(value: object) -> float | None:
    """`value` if it is a number (a boolean is not one), else None."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def settings(points: list[PointResult]) -> list[Setting]:
    """The points grouped by their values other than the seed, in the order of their
    first points."""
    groups: dict[str, Setting] = {}
    for point in points:
        values = {key: value for key, value in point.values.items() if key != SEED}
        groups.setdefault(identity(values), Setting(values, [])).points.append(point)
    return list(groups.values())


def identity(values: dict) -> str:
    """The same text for the same values: 1 and 1.0, or true and 1, stay apart."""
    return json.dumps(sorted(values.items()), default=str)


def has_seeds(groups: list[Setting]) -> bool:
    """Whether some setting holds points that differ only in their seed."""
    return any(len(setting.points) > 1 for setting in groups)


def swept_keys(points: list[PointResult]) -> list[str]:
    """Every key a point sets, in the order they first appear."""
    return list(dict.fromkeys(key for point in points for key in point.values))


def final_test_tags(points: list[PointResult]) -> list[str]:
    return sorted({tag for point in points for tag in point.final_test})


def spread(numbers: list[float | None]) -> Spread | None:
    """Mean and sample standard deviation of the numbers there are; None for none."""
    numbers = [value for value in numbers if value is not None]
    if not numbers:
        return None
    return Spread(statistics.mean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else None)
