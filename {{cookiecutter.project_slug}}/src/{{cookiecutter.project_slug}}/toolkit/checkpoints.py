"""A run's checkpoints: finding the newest, reading one, and loading its weights.

    model_epoch_{E}.pth              the newest epoch, and the best epoch of every ten
                                     (by the config's `selection`)
    model_ckpt_ep_{E}_pct_{P}.pth    the newest mid-epoch checkpoint, P% into epoch E

Each checkpoint carries its run's id and the record (progress, best) as of itself, and
is the truth where metadata.yaml says otherwise.
"""

import os
import pickle
import re
import stat
import sys
from pathlib import Path
from typing import BinaryIO

import torch

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import METADATA_FILE

EPOCH_CHECKPOINT = re.compile(r"model_epoch_(\d+)\.pth")
MID_EPOCH_CHECKPOINT = re.compile(r"model_ckpt_ep_(\d+)_pct_(\d+)\.pth")


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents; its tensors on the CPU, nothing unpickled but data."""
    return torch.load(path, map_location="cpu", weights_only=True)


def checkpoint_order(path: Path) -> tuple[int, int] | None:
    """(epoch, progress) for sorting checkpoints oldest first; None for other files."""
    if match := EPOCH_CHECKPOINT.fullmatch(path.name):
        return int(match[1]), 101  # after every mid-epoch checkpoint of its epoch
    if match := MID_EPOCH_CHECKPOINT.fullmatch(path.name):
        return int(match[1]), int(match[2])
    return None


def checkpoint_paths(run_path: Path) -> list[Path]:
    """A run directory's checkpoint files, newest first."""
    return sorted(
        (path for path in run_path.glob("*.pth") if checkpoint_order(path)),
        key=checkpoint_order,
        reverse=True,
    )


def newest_checkpoint(run_path: Path, run_id: str) -> tuple[Path, dict] | None:
    """The newest readable checkpoint of run `run_id`, skipping damaged ones with a
    warning (and leaving them where they are). A checkpoint of another run anywhere in
    the directory is refused: resuming from it or past it would mix two runs' records,
    and the run's checkpoint policy could later delete it."""
    paths = checkpoint_paths(run_path)
    for index, path in enumerate(paths):
        try:
            checkpoint = read_checkpoint(path)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
            print(
                f"warning: {path.name} is damaged ({type(error).__name__}: {error}); "
                "trying the checkpoint before it",
                file=sys.stderr,
            )
            continue
        if not {"position", "policy", "record"} <= checkpoint.keys():
            print(f"warning: {path.name} holds no training state; skipping it", file=sys.stderr)
            continue
        check_belongs_to_run(path, checkpoint.get("run_id"), run_id)
        for older in paths[index + 1 :]:
            check_belongs_to_run(older, checkpoint_run_id(older, default=run_id), run_id)
        return path, checkpoint
    return None


def checkpoint_run_id(path: Path, default: str | None = None) -> str | None:
    """The run id a checkpoint carries; `default` if it cannot be read."""
    try:
        # mmap: only the few bytes the run id needs are read, not the weights.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        return default
    return checkpoint.get("run_id") if isinstance(checkpoint, dict) else None


def check_belongs_to_run(path: Path, checkpoint_id: str | None, run_id: str) -> None:
    if checkpoint_id != run_id:
        raise UserError(
            f"{path} belongs to another run (run id {checkpoint_id}; this run's "
            f"is {run_id}, in {METADATA_FILE}). Resuming from it, or past it, would mix the "
            "two runs' records: move it out of the run directory and resume again."
        )


def config_differences(
    recorded: object,
    truth: object,
    prefix: str = "",
    names: tuple[str, str] = (METADATA_FILE, "the checkpoint"),
) -> list[str]:
    """The dotted keys whose values differ between a config as a record holds it and as
    what ran holds it (by default metadata.yaml and a checkpoint, as `names` say), each
    with both values."""
    if isinstance(recorded, dict) and isinstance(truth, dict):
        return [
            difference
            for key in dict.fromkeys([*recorded, *truth])
            for difference in config_differences(
                recorded.get(key, "(missing)"),
                truth.get(key, "(missing)"),
                f"{prefix}{key}.",
                names,
            )
        ]
    if recorded == truth and type(recorded) is type(truth):
        return []
    return [f"{prefix[:-1]}: {recorded!r} in {names[0]}, {truth!r} in {names[1]}"]


def load_model_weights(model: torch.nn.Module, path: Path) -> None:
    """Load weights into `model` from one of our checkpoints or a bare state dict."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        raise UserError(f"bootstrap_model_file {path} does not exist") from None
    except OSError as error:
        raise UserError(f"cannot read bootstrap_model_file {path}: {error.strerror}") from None
    # Checked before opening: opening a FIFO blocks until something writes into it.
    if not regular:
        raise UserError(f"bootstrap_model_file {path} is not a regular file")
    try:
        checkpoint = read_checkpoint(path)
    except Exception as error:
        # torch.load of a file that is no checkpoint raises whatever its parser trips on
        # (IndexError for a text file, KeyError, UnpicklingError...).
        raise UserError(
            f"bootstrap_model_file {path} is not a readable PyTorch checkpoint "
            f"({type(error).__name__}: {str(error)[:200]})"
        ) from None
    state = checkpoint.get("model_state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not is_state_dict(state):
        raise UserError(
            f"bootstrap_model_file {path} holds no model weights (a mapping of "
            "parameter names to tensors)"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise UserError(
            f"bootstrap_model_file {path} does not fit {type(model).__name__}:\n{error}"
        ) from None


def is_state_dict(state: object) -> bool:
    return (
        isinstance(state, dict)
        and bool(state)
        and all(
            isinstance(name, str) and isinstance(value, torch.Tensor)
            for name, value in state.items()
        )
    )


def write_checkpoint(state: dict, file: BinaryIO) -> None:
    try:
        torch.save(state, file)
    except RuntimeError as error:
        # When a write fails (a full disk), torch.save's zip writer raises an error of
        # its own ("unexpected pos") as it closes, over the OSError that says why.
        if isinstance(error.__context__, OSError):
            raise error.__context__ from None
        raise
