"""What a sweep costs beyond its runs, what --jobs 2 saves, and how a sweep's start and
listing grow with its points, measured in one run.

    python benchmarks/sweep_overhead.py           # the full measurement (~4 minutes)
    python benchmarks/sweep_overhead.py --quick   # every row, one turn each: checks it runs

It bakes the default project into a temporary folder, writes its dataset, and times
whole commands from start to exit, each against a reference taken in the same run:

  per point   `run.py CONFIG --sweep` of K points (seeds, one short epoch each, --mini)
              against the same K point configs (the sweep's points/<N>.yaml) run as K
              plain `python run.py CONFIG` one after another: (sweep - plain) / K is
              what the sweep adds per point (its own start-up, its record, the tree
              check before each point, starting each point's run.py);
  --jobs 2    a 4-point sweep of short runs with --jobs 2 against --jobs 1: the ratio
              of their wall times.
  scale       for grids of 100, 1,000 and 20,000 points: the time from the command to
              its first point's start (the sweep's line naming point 0), and of
              `run.py --list --sweep ID` once that point has ended, each against the
              same for a 1-point sweep.

The variants take turns (A B, B A, ...) after one warm-up run, and each number is the
median of the turns; the spread (lowest to highest) of each is printed, so that a
busy machine shows. Every run has one thread (OMP_NUM_THREADS=1 for the sweep, so
--jobs 2 gives each point one, as --jobs 1 does): --jobs 2 cannot win here by sparing
a loaded machine the spinning of extra threads, only by running points side by side.
The last line printed holds both results.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from trainer_overhead import bake, cpu_model, progress, project_environment

PER_POINT_TARGET = 0.5  # seconds a sweep may add per point, at most
JOBS_TARGET = 0.6  # the most wall time of --jobs 2 as a share of --jobs 1's
JOBS_POINTS = 4
# Short runs: one epoch of the mini dataset, most of a run being its start-up.
SHORT_RUN = ("--mini", "--cpu", "--modify", "epochs", "1")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
THREADS = 1


@dataclass(frozen=True)
class Settings:
    points: int  # K, the points of the per-point comparison
    turns: int  # measured turns of each variant


FULL = Settings(points=8, turns=3)
QUICK = Settings(points=2, turns=1)
SCALE = (100, 1_000, 20_000)  # points of the grids whose start and listing are timed
START_TARGET = 5.0  # seconds from the command to a 20,000-point grid's first point


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="both rows with few points and one turn (~1 minute): checks that it runs",
    )
    return parser.parse_args()


def main() -> None:
    settings = QUICK if parse_args().quick else FULL
    os.environ.update({variable: str(THREADS) for variable in THREAD_VARIABLES})
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores; threads: {THREADS} in every run "
        f"(" + " ".join(f"{name}={THREADS}" for name in THREAD_VARIABLES) + ")"
    )
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as scratch:
        # The data fingerprints' cache of the runs, not the user's.
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        project = bake(Path(scratch))
        progress("a warm-up run (compiles the project's modules)")
        command(project, "sample_runconfig.yaml", *SHORT_RUN)
        per_point = compare_per_point(project, Path(scratch), settings)
        jobs = compare_jobs(project, Path(scratch), settings)
        scale = compare_scale(project, Path(scratch))
    overhead = (per_point["sweep"] - per_point["plain"]) / settings.points
    ratio = jobs["--jobs 2"] / jobs["--jobs 1"]
    print(
        f"per point, {settings.points} points: sweep {per_point['sweep']:.2f} s, plain runs "
        f"{per_point['plain']:.2f} s: {overhead:+.3f} s per point (target at most "
        f"{PER_POINT_TARGET} s: {'met' if overhead <= PER_POINT_TARGET else 'NOT met'})"
    )
    print(
        f"--jobs 2 vs --jobs 1, {JOBS_POINTS} points: {jobs['--jobs 2']:.2f} s vs "
        f"{jobs['--jobs 1']:.2f} s: ratio {ratio:.2f} (target at most {JOBS_TARGET}: "
        f"{'met' if ratio <= JOBS_TARGET else 'NOT met'})"
    )
    reference = scale[1]
    for points, (start, listing) in scale.items():
        if points == 1:
            continue
        print(
            f"{points} points: first point started {start:.2f} s after the command "
            f"({start / reference[0]:.2f}x a 1-point sweep's), --list --sweep "
            f"{listing:.2f} s ({listing / reference[1]:.2f}x)"
        )
    start = scale[SCALE[-1]][0]
    print(
        f"{SCALE[-1]} points: start {start:.2f} s (target at most {START_TARGET} s: "
        f"{'met' if start <= START_TARGET else 'NOT met'})"
    )
    print(f"sweep overhead per point: {overhead:.3f} s; --jobs 2 / --jobs 1 wall time: {ratio:.2f}")


def compare_per_point(project: Path, scratch: Path, settings: Settings) -> dict[str, float]:
    """The median wall time of a K-point sweep, and of its K configs run one by one."""
    progress(f"per point: a {settings.points}-point sweep against {settings.points} plain runs")
    sweep_file = write_sweep(scratch, settings.points)
    sweep = ("sample_runconfig.yaml", *SHORT_RUN, "--sweep", str(sweep_file))
    # The point configs, exactly as the sweep's runs read them (logs/ is not in git).
    command(project, *sweep)
    [points] = [path / "points" for path in (project / "logs" / "sweeps").iterdir()]
    configs = [points / f"{number}.yaml" for number in range(settings.points)]

    def plain() -> None:
        for config in configs:
            command(project, str(config), "--mini", "--cpu")

    return taking_turns({"sweep": lambda: command(project, *sweep), "plain": plain}, settings.turns)


def compare_jobs(project: Path, scratch: Path, settings: Settings) -> dict[str, float]:
    progress(f"--jobs: a {JOBS_POINTS}-point sweep with --jobs 2 against --jobs 1")
    sweep = ("sample_runconfig.yaml", *SHORT_RUN, "--sweep", str(write_sweep(scratch, JOBS_POINTS)))
    return taking_turns(
        {
            jobs: lambda jobs=jobs: command(project, *sweep, *jobs.split())
            for jobs in ("--jobs 1", "--jobs 2")
        },
        settings.turns,
    )


def compare_scale(project: Path, scratch: Path) -> dict[int, tuple[float, float]]:
    """For a 1-point sweep and each of SCALE's grids (learning rates x 5 seeds): seconds
    from the command to its first point's start, and of `--list --sweep` once that
    point has ended."""
    results = {}
    for points in (1, *SCALE):
        progress(f"scale: a {points}-point grid, to its first point, then --list --sweep")
        path = scratch / f"grid_{points}.yaml"
        # Seeds within learning rates, as a lab's grid: 20,000 points are 4,000 x 5.
        seeds = 5 if points >= 5 else 1
        rates = ", ".join(f"{0.001 + index * 1e-7:.7f}" for index in range(points // seeds))
        path.write_text(
            f"grid:\n  model_parameters.learning_rate: [{rates}]\nseeds: {list(range(seeds))}\n"
        )
        start = time.perf_counter()
        sweep = subprocess.Popen(
            [sys.executable, "run.py", "sample_runconfig.yaml", *SHORT_RUN, "--sweep", str(path)],
            cwd=project,
            env=project_environment(project),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for line in sweep.stdout:
            if line.startswith("sweep point 0 ("):
                started = time.perf_counter() - start
            if line.startswith("sweep point 0 finished"):
                sweep.send_signal(signal.SIGINT)  # no further point: the sweep stops
            if line.startswith("sweep ") and ", recorded in " in line:
                directory = Path(line.rsplit(" recorded in ", 1)[1].strip())
        sweep.wait()
        start = time.perf_counter()
        command(project, "--list", "--sweep", str(directory))
        results[points] = (started, time.perf_counter() - start)
        shutil.rmtree(directory)
    return results


def write_sweep(scratch: Path, points: int) -> Path:
    """A sweep file of `points` seeds, outside the project (its tree stays clean)."""
    path = scratch / f"sweep_{points}.yaml"
    path.write_text(f"seeds: {list(range(points))}\n")
    return path


def taking_turns(variants: dict, turns: int) -> dict[str, float]:
    """Each variant's median wall time in seconds over `turns` turns, in alternating
    order; prints the spread of each."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for turn in range(turns):
        for name in list(variants) if turn % 2 == 0 else list(reversed(variants)):
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(
            f"  {name}: {', '.join(f'{value:.2f}' for value in values)} s "
            f"(spread {max(values) - min(values):.2f} s)"
        )
    return {name: statistics.median(values) for name, values in times.items()}


def command(project: Path, *arguments: str) -> None:
    """`python run.py ARGUMENTS` in the project, to its end; exits if it fails."""
    result = subprocess.run(
        [sys.executable, "run.py", *arguments],
        cwd=project,
        env=project_environment(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(
            f"failed ({result.returncode}): run.py {' '.join(arguments)}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )


if __name__ == "__main__":
    main()
