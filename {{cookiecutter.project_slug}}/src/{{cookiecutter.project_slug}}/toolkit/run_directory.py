"""The run directory: the complete record of one logged run.

    logs/<model_type>/<YYYY-MM-DD_HH-MM-SS>[_N]/
        metadata.yaml                    what ran, from which commit, how it went
        .lock                            held by the process that owns the run (its pid)
        metadata.yaml.unreadable-<time>  what metadata.yaml held when an edit broke its YAML
        events.out.tfevents.*            TensorBoard scalars of every phase, and the
                                         config for TensorBoard's HParams view
        model_epoch_{E}.pth              the newest epoch, and the best epoch of every ten
                                         (by the config's `selection`)
        model_ckpt_ep_{E}_pct_{P}.pth    the newest mid-epoch checkpoint, P% into epoch E

Checkpoints are read and loaded by checkpoints.py, the directory's lock is
directory_lock.py's, the TensorBoard log tensorboard_log.py's. Every file is written
atomically (temporary file, fsync, rename), so a crash leaves the previous version of a
file, never a truncated one. A run resumed from its directory (`RunDirectory.resume`)
continues the record where its newest checkpoint left it: each checkpoint carries its
run's id and the record (progress, best) as of itself, and is the truth where
metadata.yaml says otherwise.
"""

import itertools
import shutil
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import torch
import yaml

from {{ cookiecutter.project_slug }}.toolkit import TEMPLATE_VERSION
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import (
    EPOCH_CHECKPOINT,
    checkpoint_order,
    checkpoint_paths,
    checkpoint_run_id,
    write_checkpoint,
)
from {{ cookiecutter.project_slug }}.toolkit.directory_lock import lock_run_directory
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.mirrors import Mirror, tell_mirrors
from {{ cookiecutter.project_slug }}.toolkit.repo import RepoState
from {{ cookiecutter.project_slug }}.toolkit.run_environment import environment, this_process
from {{ cookiecutter.project_slug }}.toolkit.selection import Selection
from {{ cookiecutter.project_slug }}.toolkit.tensorboard_log import TensorBoardLog
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    METADATA_FILE,
    atomic_write,
    dump,
    parse_record,
    read_text,
    value_as_typed,
)

EPOCHS_PER_GROUP = 10  # the checkpoint policy keeps the best epoch of each group this size


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def new_timestamped_directory(parent: Path) -> Path:
    """A new directory in `parent` named by the time (YYYY-MM-DD_HH-MM-SS), with _N
    appended to the name when another process took it in the same second."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in itertools.count():
            path = parent / (stamp if attempt == 0 else f"{stamp}_{attempt}")
            try:
                path.mkdir()  # exclusive: two runs started in the same second get two
                return path
            except FileExistsError:
                continue
    except OSError as error:
        raise UserError(cannot_write(error, parent)) from None


class RunDirectory:
    """One logged run's directory, and everything the run writes into it."""

    def __init__(self, path: Path, metadata: dict, checkpoint_interval: float | None):
        self.path = path
        self.metadata = metadata
        self.checkpoint_interval = checkpoint_interval
        self.mirrors: list[Mirror] = []  # copies elsewhere, told what is logged (mirrors.py)
        self.tensorboard = TensorBoardLog(path, metadata["config"], handed_over=self._mirror)
        self._last_checkpoint_time = time.monotonic()
        self._mid_epoch_checkpoint: Path | None = None
        self._saved_epochs: set[int] = set()
        self._best_of_group: dict[int, tuple[float, int]] = {}  # group -> (metric, epoch)

    @classmethod
    def create(
        cls,
        logs_root: Path,
        config: dict,
        flags: dict,
        repo: RepoState,
        device: torch.device,
        data: dict,
        launch: dict | None = None,
    ) -> "RunDirectory":
        """A new, uniquely named run directory, with its metadata already written;
        `launch`: the fields that say how the job's processes start (job.py's JobHooks)."""
        path = new_timestamped_directory(logs_root / config["model_type"])
        lock_run_directory(path)
        metadata = {
            "run_id": uuid.uuid4().hex,  # carried by every checkpoint of this run
            "description": config["description"],
            "summary": "",  # yours to fill in: what this run showed
            "status": "running",
            "started": now(),
            "ended": None,
            "git": repo.as_record(),
            "command": [sys.executable, *sys.argv],
            "process": this_process(),
            "flags": flags,
            "device": str(device),
            **(launch or {}),  # how its processes start: that changes the numbers
            "template_version": TEMPLATE_VERSION,
            "environment": environment(),
            "config": config,
            "data": data,  # the fingerprint of each split it reads (fingerprint.py)
            "progress": {"epochs_completed": 0},
            "best": None,
        }
        run = cls(path, metadata, config["checkpoint_interval"])
        try:
            run.write_metadata()
        except BaseException as error:
            shutil.rmtree(path, ignore_errors=True)  # no run directory without its record
            if isinstance(error, OSError):
                raise UserError(cannot_write(error, path)) from None
            raise
        return run

    @classmethod
    def resume(
        cls,
        path: Path,
        metadata: dict,
        checkpoint_path: Path | None,
        checkpoint: dict | None,
        data_changed: list[str] | None = None,
    ) -> "RunDirectory":
        """The run directory at `path`, whose `metadata` was read and checked after
        lock_run_directory, set back to `checkpoint` (None: to the start). The
        `data_changed` since the run's last start, if it goes on with them, are noted.

        The record is rebuilt from the checkpoint: a process killed between writing a
        checkpoint and the metadata left metadata.yaml one step behind its checkpoints.
        """
        run = cls(path, metadata, metadata["config"]["checkpoint_interval"])
        run.tensorboard.purge_step = checkpoint["step"] + 1 if checkpoint else 0
        if checkpoint:
            policy = checkpoint["policy"]
            run._saved_epochs = set(policy["saved_epochs"])
            run._best_of_group = {
                group: (value, epoch) for group, value, epoch in policy["best_of_group"]
            }
            if checkpoint["position"] is not None:
                run._mid_epoch_checkpoint = checkpoint_path
            metadata.update(checkpoint["record"])
        else:
            metadata.update(progress={"epochs_completed": 0}, best=None)
        run._remove_replaced_files(checkpoint_path)
        metadata["status"] = "running"
        metadata.pop("error", None)
        metadata["ended"] = None
        metadata["process"] = this_process()
        resumed = {"at": now(), "from": checkpoint_path.name if checkpoint_path else None}
        if data_changed:
            resumed["data_changed"] = data_changed  # allowed by --allow-changed-data
        metadata.setdefault("resumed", []).append({**resumed, "environment": environment()})
        run.write_metadata()
        return run

    def _remove_replaced_files(self, checkpoint_path: Path | None) -> None:
        """Delete what a process killed at `checkpoint_path` would have deleted next:
        temporary files of its interrupted writes (no other process writes here: this
        one holds the lock), and the older checkpoints of this run that the checkpoint
        replaces (epochs its policy dropped, mid-epoch checkpoints before it). Anything
        else stays: a damaged or foreign file is the researcher's to look at."""
        for path in self.path.glob(".*.tmp"):
            path.unlink()
        if checkpoint_path is None:
            return
        for path in checkpoint_paths(self.path):
            if checkpoint_order(path) >= checkpoint_order(checkpoint_path):
                continue
            epoch = EPOCH_CHECKPOINT.fullmatch(path.name)
            if epoch and int(epoch[1]) in self._saved_epochs:
                continue
            if checkpoint_run_id(path) == self.metadata["run_id"]:
                path.unlink()

    # ----------------------------------------------------------------------------------
    # metadata.yaml and TensorBoard

    def write_metadata(self) -> None:
        self.metadata["summary"] = self._summary_on_disk()
        text = dump(self.metadata)
        atomic_write(self.path / METADATA_FILE, lambda file: file.write(text.encode()))

    def _summary_on_disk(self) -> str:
        # The researcher may write their summary while the run goes on: keep it.
        on_disk = self._metadata_on_disk()
        if on_disk is None:
            return self._keep_unreadable_metadata() or self.metadata["summary"]
        return on_disk.get("summary") or self.metadata["summary"]

    def _metadata_on_disk(self) -> dict | None:
        try:
            on_disk = parse_record(read_text(self.path / METADATA_FILE))
        except (OSError, yaml.YAMLError):
            return None
        return on_disk if isinstance(on_disk, dict) else None

    def _keep_unreadable_metadata(self) -> str | None:
        """Before metadata.yaml is rewritten: if it is there but no longer YAML (a summary
        typed with an unquoted colon), keep its text in a side file, warn, and return the
        summary's text as typed, if a line `summary: ...` can be found."""
        path = self.path / METADATA_FILE
        try:
            held = path.read_bytes()  # as it is: it may not even be UTF-8 any more
        except OSError:
            return None
        kept = path.with_name(f"{METADATA_FILE}.unreadable-{datetime.now():%Y-%m-%d_%H-%M-%S}")
        atomic_write(kept, lambda file: file.write(held))
        summary = value_as_typed(held.decode(errors="replace"), "summary")
        print(
            f"warning: {path} was edited into text that is not YAML, so it is rewritten; "
            f"what it held is kept in {kept.name}"
            + (f", and the summary is kept as typed: {summary!r}" if summary else "")
            + '. Quote a summary that holds a colon (summary: "lr: too high").',
            file=sys.stderr,
        )
        return summary

    def _mirror(self, points: list) -> None:
        tell_mirrors(self, "points", points)  # a method, not a lambda: a Job is pickled

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        self.tensorboard.log(step, scalars)

    def close(self) -> None:
        """Hand over the last points and close the TensorBoard log; the process that
        trained calls this."""
        self.tensorboard.close()
        tell_mirrors(self, "close")

    def finish(self, status: str, error: str | None = None) -> None:
        """Record how the run ended: finished, failed or interrupted."""
        self.close()
        # Another process may have trained and recorded the progress: start from its file.
        self.metadata = self._metadata_on_disk() or self.metadata
        if status == "finished" and "pruned" in self.metadata.get("progress", {}):
            status = "pruned"  # it finished early, as its search's pruner asked
        self.metadata["status"] = status
        self.metadata["ended"] = now()
        if error:
            self.metadata["error"] = error
        tell_mirrors(self, "finish", status)
        self.write_metadata()

    # ----------------------------------------------------------------------------------
    # Checkpoints

    def checkpoint_due(self) -> bool:
        """Whether `checkpoint_interval` seconds have passed since the last checkpoint."""
        return (
            self.checkpoint_interval is not None
            and time.monotonic() - self._last_checkpoint_time >= self.checkpoint_interval
        )

    def save_mid_epoch_checkpoint(self, epoch: int, percent: int, state: dict) -> None:
        path = self.path / f"model_ckpt_ep_{epoch}_pct_{percent}.pth"
        self._save(path, state)
        self._replace_mid_epoch_checkpoint(path)

    def end_epoch(
        self,
        epoch: int,
        step: int,
        results: dict[str, dict[str, float]],
        selection: Selection,
        state: dict,
        pruned: bool = False,
    ) -> None:
        """Log an epoch's results, save its checkpoint and apply the checkpoint policy.

        Every curve shares the x axis of optimizer steps: the epoch's results are logged
        at `step`, the steps done when the epoch ends, next to an `epoch` curve.
        Kept: the newest epoch, and the best epoch by the `selection` (which has taken
        this epoch in already) of every group of ten epochs. A mid-epoch checkpoint is
        dropped once its epoch ends.
        """
        scalars = tagged(results)
        value, group = scalars[selection.metric], epoch // EPOCHS_PER_GROUP
        if selection.better(value, self._best_of_group.get(group, (None,))[0]):
            self._best_of_group[group] = (value, epoch)
        # The best so far as a curve too: its last point is the run's best in HParams.
        self.log_scalars(
            step, {"epoch": epoch, **scalars, f"best/{selection.metric}": selection.best_value}
        )
        self.tensorboard.flush()

        dropped = self._saved_epochs - {kept for _, kept in self._best_of_group.values()}
        self._saved_epochs = (self._saved_epochs - dropped) | {epoch}
        # The checkpoint carries the record as of itself, from which a resume rebuilds
        # metadata.yaml if the process dies before writing it.
        self.metadata["progress"] = {"epochs_completed": epoch + 1, "last_results": results}
        if selection.out_of_patience():
            self.metadata["progress"]["stopped_early"] = (
                f"no better {selection.metric} for {selection.patience} epochs after "
                f"epoch {selection.best_epoch}"
            )
        if pruned:  # the run ends as `pruned` (finish), a search's trial stopped early
            self.metadata["progress"]["pruned"] = f"by the search's pruner after epoch {epoch}"
        self.metadata["best"] = {
            "metric": selection.metric,
            "mode": selection.mode,
            "value": selection.best_value,
            "epoch": selection.best_epoch,
            "checkpoint": self.epoch_checkpoint(selection.best_epoch).name,
        }
        self._save(self.epoch_checkpoint(epoch), {**state, "results": results})
        self._replace_mid_epoch_checkpoint(None)
        for old in dropped:
            self.epoch_checkpoint(old).unlink(missing_ok=True)
        self.write_metadata()

    def record_final_test(
        self, step: int, epoch: int, results: dict[str, dict[str, float]]
    ) -> None:
        """The final test's results, of epoch `epoch`'s checkpoint on the test split:
        in metadata.yaml, and in TensorBoard at `step`, the run's last."""
        self.metadata["final_test"] = {
            "split": "test",
            "epoch": epoch,
            "checkpoint": self.epoch_checkpoint(epoch).name,
            "results": results,
        }
        self.log_scalars(step, tagged(results))
        self.tensorboard.flush()
        self.write_metadata()

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.path / f"model_epoch_{epoch}.pth"

    def _replace_mid_epoch_checkpoint(self, path: Path | None) -> None:
        if self._mid_epoch_checkpoint not in (None, path):
            self._mid_epoch_checkpoint.unlink(missing_ok=True)
        self._mid_epoch_checkpoint = path

    def _save(self, path: Path, state: dict) -> None:
        # The event file must hold every point up to the checkpoint: a resume hides the
        # points after it and logs them again, but never those before it.
        self.tensorboard.flush()
        # A lone .pth still says where it came from, and what a resume must keep.
        policy = {
            "saved_epochs": sorted(self._saved_epochs),
            "best_of_group": [
                [group, value, epoch]
                for group, (value, epoch) in sorted(self._best_of_group.items())
            ],
        }
        record = {"progress": self.metadata["progress"], "best": self.metadata["best"]}
        state = {
            **state,
            "run_id": self.metadata["run_id"],
            "commit": self.metadata["git"]["commit"],
            "config": self.metadata["config"],
            "policy": policy,
            "record": record,
        }
        atomic_write(path, lambda file: write_checkpoint(state, file))
        self._last_checkpoint_time = time.monotonic()


def tagged(results: dict[str, dict[str, float]]) -> dict[str, float]:
    """Results by phase as TensorBoard's tags ("val/loss"), the names selection uses."""
    return {
        f"{phase}/{name}": value
        for phase, values in results.items()
        for name, value in values.items()
    }


def cannot_write(error: OSError, where: Path) -> str:
    """What to tell the user when the file system refuses a file of the run directory
    `where`: full, read-only, or not theirs."""
    return (
        f"cannot write {error.filename or where}: {error.strerror}. "
        "A logged run writes into logs/: free some space or make it writable, or "
        "pass --no-logging for a run that saves nothing."
    )
