"""The benchmarks run end to end. Speed itself is never asserted: it is
measured as ratios within one run, and a loaded test machine would make any threshold
flaky."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import TEMPLATE, clean_environment


def quick_benchmark(script: str, folder, timeout: int) -> subprocess.CompletedProcess:
    """`python benchmarks/SCRIPT --quick` run in `folder`; it must succeed."""
    result = subprocess.run(
        [sys.executable, str(TEMPLATE / "benchmarks" / script), "--quick"],
        cwd=folder,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


HEADLINE = re.compile(r"trainer/raw steps-per-second ratio \(batch 32\): \d+\.\d\d")


# Slow: about 40 s of training, most of the quick loop's minute.
@pytest.mark.slow
def test_quick_benchmark_prints_every_comparison_and_the_headline_last(tmp_path):
    result = quick_benchmark("trainer_overhead.py", tmp_path, timeout=600)
    for comparison in (
        "Trainer vs plain loop, batch 32",
        "Trainer vs plain loop, batch 512",
        "start-up to the first step",
        "dataset HDF5",
        "dataset preloaded",
        "checkpoint of the default model",
        "2 gloo processes vs 1",
        "code check of the modules run.py loaded",
        "data fingerprint, 64 MB, first start vs bare sha256",
        "data fingerprint, 64 MB, unchanged (cached) vs none",
    ):
        assert comparison in result.stdout
    assert re.search(r"note: the code check is \d+\.\d% of run.py's start-up", result.stdout)
    assert "threads: torch 1 intra-op" in result.stdout
    assert HEADLINE.fullmatch(result.stdout.splitlines()[-1])


SWEEP_HEADLINE = re.compile(
    r"sweep overhead per point: -?\d+\.\d{3} s; "
    r"--jobs 2 / --jobs 1 wall time: \d+\.\d\d"
)


@pytest.mark.slow
def test_quick_sweep_benchmark_prints_both_comparisons_and_the_headline_last(tmp_path):
    result = quick_benchmark("sweep_overhead.py", tmp_path, timeout=900)
    assert re.search(
        r"per point, 2 points: sweep \d+\.\d\d s, plain runs \d+\.\d\d s", result.stdout
    )
    assert re.search(r"--jobs 2 vs --jobs 1, 4 points: .* ratio \d+\.\d\d", result.stdout)
    assert "threads: 1 in every run" in result.stdout
    for points in (100, 1000, 20000):
        assert re.search(
            rf"^{points} points: first point started \d+\.\d\d s after the "
            rf"command \(\d+\.\d\dx a 1-point sweep's\), --list --sweep "
            rf"\d+\.\d\d s \(\d+\.\d\dx\)$",
            result.stdout,
            re.MULTILINE,
        )
    assert SWEEP_HEADLINE.fullmatch(result.stdout.splitlines()[-1])


SLURM_HEADLINE = re.compile(
    r"SLURM preemption: checkpoint \d+\.\d{3} s after the signal; "
    r"requeued job [+-]\d+\.\d{3} s to resume against a plain "
    r"run\.py --resume"
)


@pytest.mark.slow
@pytest.mark.skipif(
    not shutil.which("sbatch") and os.environ.get("FISHBOTICS_REQUIRE_SLURM") != "1",
    reason="SLURM's sbatch is not on PATH (scripts/start-slurm.sh, as root)",
)
def test_quick_slurm_benchmark_prints_both_comparisons_and_the_headline_last(tmp_path):
    result = quick_benchmark("slurm_requeue.py", tmp_path, timeout=900)
    assert re.search(
        r"SIGUSR1 to checkpoint on disk: SLURM job \d+\.\d{3} s, plain run\.py "
        r"\d+\.\d{3} s",
        result.stdout,
    )
    assert re.search(
        r"start to training resumed: requeued job \d+\.\d{3} s, plain run\.py "
        r"--resume \d+\.\d{3} s",
        result.stdout,
    )
    assert SLURM_HEADLINE.fullmatch(result.stdout.splitlines()[-1])
