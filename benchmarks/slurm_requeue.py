"""How quickly a preempted SLURM job writes its checkpoint, and how quickly the requeued
job is training again, each against the same thing done by a plain run.py, in one run.

    python benchmarks/slurm_requeue.py           # three preemptions (~3 minutes)
    python benchmarks/slurm_requeue.py --quick   # one: checks that it runs

It needs a SLURM cluster that this machine submits to (the template's
scripts/start-slurm.sh starts one here). It bakes the default project with the slurm
prompt, writes its dataset, and in each turn:

  checkpoint  a submitted run (--mini --cpu, many small steps) is sent SIGUSR1 once its
              first epoch is on disk, as a preempting scheduler or the time limit's grace
              sends it (scancel --signal=USR1 --batch); timed from the signal to its
              checkpoint on disk. The reference: the same run started here with plain
              `python run.py`, sent the same signal at the same point.
              Target: under 1 s.
  start-up    the requeued job is let start (StartTime=now), and timed from its start
              to `resuming ... from model_ckpt...` in its log. Its start is submitit's
              first log line of that start, which comes after the job's Python has
              started and imported submitit (~0.1 s here, uncounted). The reference:
              `python run.py --resume` of the stopped plain run, from its start to the
              same line. Target: within 1 s of the reference.

Each number is the median of the turns, with the spread printed. The last line holds
both results.
"""

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml
from trainer_overhead import bake_project, progress, project_environment, run_checked

CHECKPOINT_TARGET = 1.0  # seconds from the signal to the checkpoint on disk, at most
START_UP_TARGET = 1.0  # seconds a requeued job may take beyond a plain resume, at most
# Many small steps and no timed checkpoints: the signal lands mid-epoch.
TRAINING = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "4",
    "--modify",
    "batch_size",
    "2",
    "--modify",
    "checkpoint_interval",
    "null",
)
CLUSTER = {
    "time_minutes": 10,
    "cpus_per_task": 1,
    "mem_gb": 1,
    "signal_grace_seconds": 60,
    "max_requeues": 1,
}
TIMEOUT = 300  # seconds for a job to get through the queue, or a run to its next point
RESUMED = re.compile(r"^resuming .* from model_ckpt", re.MULTILINE)
JOB_START = re.compile(r"submitit INFO \((.+?)\) - Starting with")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one preemption instead of three (~1 minute): checks that it runs",
    )
    return parser.parse_args()


def main() -> None:
    turns = 1 if parse_args().quick else 3
    times: dict[str, list[float]] = {
        name: []
        for name in (
            "checkpoint, SLURM job",
            "checkpoint, plain run.py",
            "start-up, requeued job",
            "start-up, plain run.py --resume",
        )
    }
    with tempfile.TemporaryDirectory(prefix="slurm-requeue-") as scratch:
        project = bake_project(Path(scratch) / "bake", "slurm=true")
        run_checked(
            [sys.executable, "scripts/make_dataset.py"],
            cwd=project,
            env=project_environment(project),
        )
        cluster_file = Path(scratch) / "cluster.yaml"  # outside the project: a clean tree
        cluster_file.write_text(yaml.safe_dump(CLUSTER))
        for turn in range(turns):
            progress(f"turn {turn + 1} of {turns}: a plain run, stopped and resumed")
            checkpoint, start_up = plain_preemption(project)
            times["checkpoint, plain run.py"].append(checkpoint)
            times["start-up, plain run.py --resume"].append(start_up)
            progress(f"turn {turn + 1} of {turns}: a SLURM job, preempted and requeued")
            checkpoint, start_up = job_preemption(project, cluster_file)
            times["checkpoint, SLURM job"].append(checkpoint)
            times["start-up, requeued job"].append(start_up)
    for name, values in times.items():
        print(
            f"  {name}: {', '.join(f'{value:.3f}' for value in values)} s "
            f"(spread {max(values) - min(values):.3f} s)"
        )
    median = {name: statistics.median(values) for name, values in times.items()}
    checkpoint = median["checkpoint, SLURM job"]
    extra = median["start-up, requeued job"] - median["start-up, plain run.py --resume"]
    print(
        f"SIGUSR1 to checkpoint on disk: SLURM job {checkpoint:.3f} s, plain run.py "
        f"{median['checkpoint, plain run.py']:.3f} s (target under {CHECKPOINT_TARGET} s: "
        f"{'met' if checkpoint < CHECKPOINT_TARGET else 'NOT met'})"
    )
    print(
        f"start to training resumed: requeued job {median['start-up, requeued job']:.3f} s, "
        f"plain run.py --resume {median['start-up, plain run.py --resume']:.3f} s: "
        f"{extra:+.3f} s (target at most {START_UP_TARGET} s more: "
        f"{'met' if extra <= START_UP_TARGET else 'NOT met'})"
    )
    print(
        f"SLURM preemption: checkpoint {checkpoint:.3f} s after the signal; requeued job "
        f"{extra:+.3f} s to resume against a plain run.py --resume"
    )


def plain_preemption(project: Path) -> tuple[float, float]:
    """A plain run sent SIGUSR1 after its first epoch, then resumed: seconds from the
    signal to its checkpoint, and from the resume's start to training resumed."""
    before = run_directories(project)
    training = subprocess.Popen(
        [sys.executable, "run.py", *TRAINING],
        cwd=project,
        env=project_environment(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = wait_until(lambda: next(iter(run_directories(project) - before), None), "a run")
    wait_until(lambda: (run / "model_epoch_0.pth").exists(), "an epoch", interval=0.01)
    training.send_signal(signal.SIGUSR1)
    checkpoint = time_until(lambda: list(run.glob("model_ckpt_ep_*_pct_*.pth")))
    training.wait(timeout=TIMEOUT)

    started = time.monotonic()
    resumed = subprocess.Popen(
        [sys.executable, "-u", "run.py", "--resume", str(run)],
        cwd=project,
        env=project_environment(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in resumed.stdout:
        if RESUMED.match(line):
            start_up = time.monotonic() - started
            break
    else:
        sys.exit(f"failed: run.py --resume {run} never said it resumed")
    resumed.stdout.close()
    resumed.wait(timeout=TIMEOUT)
    return checkpoint, start_up


def job_preemption(project: Path, cluster_file: Path) -> tuple[float, float]:
    """A submitted run preempted after its first epoch and requeued: seconds from the
    signal to its checkpoint, and from the requeued job's start to training resumed."""
    submitted = subprocess.run(
        [sys.executable, "run.py", *TRAINING, "--submit", "--cluster", str(cluster_file)],
        cwd=project,
        env=project_environment(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if submitted.returncode != 0:
        sys.exit(f"failed: run.py --submit\n{submitted.stderr[-2000:]}")
    job_id = re.search(r"submitted SLURM job (\d+) for (\S+)", submitted.stdout)[1]
    run = Path(re.search(r"submitted SLURM job \d+ for (\S+)", submitted.stdout)[1])
    log = run / "slurm" / f"{job_id}_0_log.out"
    wait_until(lambda: (run / "model_epoch_0.pth").exists(), "an epoch", interval=0.01)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job_id], check=True)
    checkpoint = time_until(lambda: list(run.glob("model_ckpt_ep_*_pct_*.pth")))
    wait_until(lambda: status(run) == "requeued" and job_state(job_id) == "PENDING", "requeued")
    # SLURM holds a requeued job back for a while (BeginTime); it need not wait here.
    # Not started in the second it was requeued, though: slurmd kills such a job as
    # already killed (the generated tests/toolkit/slurm_harness.py, start_requeued_job_now).
    time.sleep(2)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    wait_until(lambda: RESUMED.search(read(log)), "resumed", interval=0.01)
    resumed_seen = datetime.now()
    wait_until(lambda: status(run) not in ("requeued", "running"), "the job's end")
    if status(run) != "finished":
        sys.exit(f"failed: the job ended {status(run)}\n{read(log)[-2000:]}")
    # The run's record says finished while its job still runs: submitit writes its result
    # and the job's log after that, into the scratch folder about to be removed.
    wait_until(lambda: job_state(job_id) == "", "the job out of the queue")
    started = datetime.strptime(JOB_START.findall(read(log))[-1], "%Y-%m-%d %H:%M:%S,%f")
    return checkpoint, (resumed_seen - started).total_seconds()


def run_directories(project: Path) -> set[Path]:
    return {path.parent for path in (project / "logs").glob("*/*/metadata.yaml")}


def status(run: Path) -> str:
    return yaml.safe_load((run / "metadata.yaml").read_text())["status"]


def job_state(job_id: str) -> str:
    return subprocess.run(
        ["squeue", "--noheader", "--jobs", job_id, "--format", "%T"], capture_output=True, text=True
    ).stdout.strip()


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def time_until(condition, interval: float = 0.002) -> float:
    """Seconds until `condition()` holds, polled every `interval`."""
    started = time.monotonic()
    wait_until(condition, "it", interval=interval)
    return time.monotonic() - started


def wait_until(condition, what: str, interval: float = 0.2):
    deadline = time.monotonic() + TIMEOUT
    while not (value := condition()):
        if time.monotonic() > deadline:
            sys.exit(f"failed: no {what} within {TIMEOUT} s")
        time.sleep(interval)
    return value


if __name__ == "__main__":
    main()
