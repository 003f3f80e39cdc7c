"""The sweep's picture, logs/sweeps/<id>/sweep.png: the figure a researcher would
otherwise draw by hand for a group meeting. It is drawn when a sweep ends (and again
when a resumed sweep ends), and by `python run.py --list --sweep ID --picture`.

- A panel per swept key (but the seed): the selected metric's best value against the
  key's values, one mark per setting at the mean over its seeds with an error bar of
  one standard deviation (finished points only), and each finished seed as a faint dot.
  Numbers go on a numeric axis, logarithmic when they span two decades or more; other
  values get a tick each. Settings that differ in other keys are separate lines,
  labelled by those keys' values.
- The validation curves: the selected metric at each epoch of every point's run, read
  from the run's TensorBoard event files; dashed for a point that did not finish.

matplotlib is imported here only, when a picture is drawn, and draws with its Agg
backend into a file: no display is needed, and a sweep pays for the import once.
"""

import json
import math
import sys
from collections import Counter
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.sweep_results import (
    SEED,
    PointResult,
    Setting,
    number,
    point_results,
    settings,
    swept_keys,
)
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import atomic_write

PICTURE = "sweep.png"  # in the sweep's directory
# The run's epoch number, logged beside the epoch's results at its last step
# (RunDirectory.end_epoch): it turns the steps of the metric's points into epochs.
EPOCH_TAG = "epoch"
LOG_SCALE_DECADES = 2  # numbers spanning this many powers of ten get a logarithmic axis
MOST_LABELLED = 12  # more lines than this get no legend: it would hide them
MOST_TICKS = 12  # more numbers than this on an axis get matplotlib's own ticks
PANEL_INCHES = (5.0, 3.8)
MOST_COLUMNS = 3


def draw_picture(directory: Path, record: dict, project_root: Path) -> str:
    """Draw the picture of the sweep whose record is `record` into `directory`. Returns
    what the record says of it: the file's name, or why it was not drawn, which is
    also printed, in one line. Drawing never fails the sweep: its points' results
    stand whatever happens here."""
    try:
        draw(directory / PICTURE, record, project_root)
    except Exception as error:  # anything at all: the sweep goes on without it
        why = f"{type(error).__name__}: {error}".splitlines()[0]
        print(
            f"warning: the sweep's picture was not drawn ({why}); the points' results "
            f"stand. Draw it again with: python run.py --list --sweep {record['id']} "
            "--picture",
            file=sys.stderr,
            flush=True,
        )
        return f"not drawn: {why}"
    return PICTURE


def draw(path: Path, record: dict, project_root: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = point_results(record, project_root)
    metric = selected_metric(points)
    # A sweep may vary selection.metric: points selected on another are left out.
    shown = [point for point in points if point.best_metric in (metric, None)]
    keys = [key for key in swept_keys(points) if key != SEED]
    panels = len(keys) + 1
    columns = min(panels, MOST_COLUMNS)
    rows = math.ceil(panels / columns)
    figure = Figure(
        figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows), layout="constrained"
    )
    FigureCanvasAgg(figure)  # the Agg backend draws it: no display involved
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    groups = settings(shown)
    for axis, key in zip(axes, keys, strict=False):
        draw_key(axis, key, groups, metric)
    draw_curves(axes[len(keys)], shown, metric, project_root)
    for unused in axes[panels:]:
        unused.set_visible(False)
    title = f"sweep {record['id']}"
    if record.get("description"):
        title += f": {record['description']}"
    if len(shown) < len(points):
        title += f" ({len(points) - len(shown)} points selected on another metric left out)"
    figure.suptitle(title)
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=100))


def selected_metric(points: list[PointResult]) -> str | None:
    """The metric most points were selected on; None before any has an epoch."""
    metrics = Counter(point.best_metric for point in points if point.best_metric)
    return metrics.most_common(1)[0][0] if metrics else None


def draw_key(axis, key: str, groups: list[Setting], metric: str | None) -> None:
    """The metric's best value against `key`'s values, with error bars over seeds."""
    axis.set_title(key)
    axis.set_xlabel(key.rsplit(".", 1)[-1])
    axis.set_ylabel(f"best {metric}")
    having = [setting for setting in groups if key in setting.values and setting.best()]
    if not having:
        nothing_yet(axis)
        return
    values = [setting.values[key] for setting in having]
    numeric = all(number(value) is not None for value in values)
    # Other values get a tick each, in the order they first appear.
    categories = [] if numeric else list(dict.fromkeys(text(value) for value in values))

    def position(setting: Setting) -> float:
        value = setting.values[key]
        return value if numeric else categories.index(text(value))

    if categories:
        axis.set_xticks(range(len(categories)), categories)
    elif spans_decades(values):
        axis.set_xscale("log")
    elif len(set(values)) <= MOST_TICKS:  # a tick at each value swept, and only there
        axis.set_xticks(sorted(set(values)))
    lines: dict[str, list[Setting]] = {}
    for setting in having:  # a line for each combination of the other keys' values
        others = {other: value for other, value in setting.values.items() if other != key}
        lines.setdefault(label(others), []).append(setting)
    seed_values = []
    for name, members in lines.items():
        members.sort(key=position)
        spreads = [setting.best() for setting in members]
        drawn = axis.errorbar(
            [position(setting) for setting in members],
            [spread.mean for spread in spreads],
            yerr=[spread.std or 0.0 for spread in spreads],
            marker="o",
            capsize=3,
            label=name or None,
        )
        seeds = [
            (position(setting), point.best_value)
            for setting in members
            for point in setting.finished
            if point.best_value is not None
        ]
        axis.scatter(*zip(*seeds, strict=True), s=12, alpha=0.35, color=drawn.lines[0].get_color())
        seed_values += [value for _, value in seeds]
    if spans_decades(seed_values):
        axis.set_yscale("log")
    if 1 < len(lines) <= MOST_LABELLED:
        axis.legend(fontsize="small")


def draw_curves(axis, points: list[PointResult], metric: str | None, project_root: Path) -> None:
    """The metric at each epoch of each point's run, a line per point."""
    axis.set_title(f"{metric or 'the selected metric'} per epoch")
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric or "")
    drawn = []
    for point in points:
        epochs, values = (
            epoch_curve(project_root / point.run, metric) if point.run and metric else ([], [])
        )
        if epochs:
            axis.plot(
                epochs,
                values,
                marker=".",
                linestyle="-" if point.finished else "--",
                label=f"{point.number}: {label(point.values)}",
            )
            drawn += values
    if not drawn:
        nothing_yet(axis)
        return
    axis.xaxis.get_major_locator().set_params(integer=True)
    if spans_decades(drawn):
        axis.set_yscale("log")
    if len(axis.lines) <= MOST_LABELLED:  # beside the panel: over it, it hides the lines
        axis.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))


def epoch_curve(run: Path, metric: str) -> tuple[list[int], list[float]]:
    """The epochs of the run and its metric's value at each, from the event files."""
    from tensorboard.backend.event_processing.event_accumulator import (
        SCALARS,
        EventAccumulator,
    )

    # Every event file of the run directory, in order; a resumed run's replace the points
    # the interrupted one logged after its checkpoint (the writer's purge_step).
    events = EventAccumulator(str(run), size_guidance={SCALARS: 0})  # 0: keep every point
    events.Reload()
    if not {metric, EPOCH_TAG} <= set(events.Tags()[SCALARS]):
        return [], []
    epoch_at = {event.step: int(event.value) for event in events.Scalars(EPOCH_TAG)}
    by_epoch = {
        epoch_at[event.step]: event.value
        for event in events.Scalars(metric)
        if event.step in epoch_at
    }
    epochs = sorted(by_epoch)
    return epochs, [by_epoch[epoch] for epoch in epochs]


def spans_decades(values: list[float]) -> bool:
    """Whether positive numbers span LOG_SCALE_DECADES powers of ten or more."""
    values = [value for value in values if value is not None]
    return bool(values) and min(values) > 0 and max(values) / min(values) >= 10**LOG_SCALE_DECADES


def label(values: dict) -> str:
    """Values as a short legend: the last part of each dotted key (learning_rate=0.001)."""
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={text(value)}" for key, value in values.items())


def text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def nothing_yet(axis) -> None:
    axis.text(
        0.5,
        0.5,
        "no finished point yet",
        transform=axis.transAxes,
        ha="center",
        va="center",
        color="gray",
    )
