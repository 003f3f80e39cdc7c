"""A logged run's model, rebuilt for use: in a notebook, on a robot, in a script.

    from run import PROJECT
    model = PROJECT.load_run("logs/<model_type>/<timestamp>", checkpoint="best")

The model is built with today's model.py from the config the run recorded in
metadata.yaml (`model_type`, `model_parameters`), and gets the checkpoint's weights,
read with `weights_only` so that a checkpoint cannot run code. Weights mean what they
meant in training only if the model's code is the run's commit: when it may not be,
a warning says so, and `require_same_code=True` refuses instead.
"""

import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from {{ cookiecutter.project_slug }}.toolkit.base_model import FishboticsModel
from {{ cookiecutter.project_slug }}.toolkit.builders import build_model
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import (
    EPOCH_CHECKPOINT,
    checkpoint_paths,
    config_differences,
    is_state_dict,
    read_checkpoint,
)
from {{ cookiecutter.project_slug }}.toolkit.config import (
    argument_problems,
    checked_name,
    path_inside,
    problem_list,
    resolve_path,
)
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.job import read_metadata
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.repo import repo_state
from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE

MODEL_KEYS = ("model_type", "model_parameters")  # what the model is built from
READ_ATTEMPTS = 5  # of "last" in a run that is training: each may be deleted as it is read


class CodeChangedWarning(UserWarning):
    """The code that rebuilds a run's model may not be the code that trained it."""


@dataclass(frozen=True)
class LoadableProject(Project):
    """The project as run.py hands it to you, in a notebook or a script: its logged
    runs' models are a call away."""

    def load_run(
        self,
        run_directory: str | Path,
        checkpoint: str | Path = "best",
        device: str | torch.device = "cpu",
        require_same_code: bool = False,
    ) -> FishboticsModel:
        """The model of a logged run, for use: built from the config the run recorded,
        holding the weights of `checkpoint`, in eval mode on `device`.

        run_directory: logs/<model_type>/<timestamp> (relative to the project root).
        checkpoint: "best" (the run's best epoch, as metadata.yaml names it), "last"
            (its newest epoch) or the path of a .pth file (relative: in the run directory).
        require_same_code: refuse, rather than warn, when the checkout is not the
            run's commit or has uncommitted changes.
        A mistake (no such run or checkpoint, a model that changed) raises a UserError.
        """
        return load_run(self, run_directory, checkpoint, device, require_same_code)


def load_run(
    project: Project,
    run_directory: str | Path,
    checkpoint: str | Path = "best",
    device: str | torch.device = "cpu",
    require_same_code: bool = False,
) -> FishboticsModel:
    """The model of the run in `run_directory`, with the weights of `checkpoint`, in
    eval mode on `device`. See LoadableProject.load_run for the arguments."""
    device = usable_device(device)
    run_path = resolve_path(str(run_directory), project.root)
    if not (run_path / METADATA_FILE).is_file():
        raise UserError(
            f"{run_path} is not a run directory: it has no {METADATA_FILE}. Pass "
            "logs/<model_type>/<timestamp>; `python run.py --list` lists them."
        )
    metadata = read_metadata(run_path)
    check_code(project.root, metadata["git"]["commit"], require_same_code)
    checkpoint_path, contents = read_chosen_checkpoint(run_path, metadata, checkpoint)
    config = metadata["config"]
    check_trained_with(config, checkpoint_path, contents)
    check_model_config(config, run_path / METADATA_FILE, project, metadata["git"]["commit"])
    # The initial weights drawn here are replaced: drawing them leaves the caller's
    # random numbers (a notebook's, a script's) as they were.
    with torch.random.fork_rng(devices=[]):
        model = build_model(config, project, bootstrap=False)
    load_weights(
        model,
        checkpoint_path,
        contents,
        config,
        "The model's code changed since the run's commit: load the run from a "
        f"checkout of it (`git worktree add DIR {metadata['git']['commit'][:12]}`).",
    )
    return model.to(device).eval()


def load_weights(
    model: torch.nn.Module, path: Path, contents: dict, config: dict, fix: str
) -> None:
    """The checkpoint's weights into `model`, all of them and each of its shape
    (strict), or a UserError naming the file, the weights that do not fit and `fix`."""
    try:
        model.load_state_dict(contents["model_state_dict"])
    except RuntimeError as error:
        # PyTorch's message: a heading, then a tab-indented line per misfit.
        misfits = [line.strip().rstrip(".") for line in str(error).splitlines()[1:] if line.strip()]
        raise UserError(
            f"the weights in {path} do not fit {config['model_type']} as model.py builds it "
            f"from the run's model_parameters: {'; '.join(misfits[:3])}"
            f"{' ...' if len(misfits) > 3 else ''}. {fix}"
        ) from None


def check_code(project_root: Path, commit: str, require_same_code: bool) -> None:
    """Warn, or refuse with `require_same_code`, when the checkout is not at `commit`
    or has uncommitted changes to tracked files (new untracked files are no change to
    the code that was committed)."""
    try:
        repo = repo_state(project_root)
    except UserError:  # a copy without .git (on a robot, say), or no git installed
        problem = (
            f"git cannot tell whether the code in {project_root} is the run's commit {commit[:12]}"
        )
    else:
        changed = [line for line in repo.dirty_files if not line.startswith("??")]
        if repo.commit != commit:
            problem = f"the run was trained at commit {commit[:12]}, but HEAD is {repo.commit[:12]}"
        elif changed:
            problem = (
                f"the run was trained at commit {commit[:12]}, and the checkout has "
                f"uncommitted changes: {', '.join(line[3:] for line in changed[:5])}"
                + (" ..." if len(changed) > 5 else "")
            )
        else:
            return
    if require_same_code:
        raise UserError(
            f"{problem}. Check out the run's commit (`git checkout {commit[:12]}`, "
            "or `git worktree add DIR` it and load from there), or leave out "
            "require_same_code to load anyway."
        )
    # A warning rather than a printed line: it shows in a notebook, points at the line
    # that called load_run, and a script can make it an error or silence it
    # (warnings.simplefilter("error", CodeChangedWarning)).
    warnings.warn(
        f"{problem}; the model is built by today's code and may not compute what was trained.",
        CodeChangedWarning,
        stacklevel=4,
    )


def chosen_checkpoint(run_path: Path, metadata: dict, checkpoint: str | Path) -> Path:
    """The file `checkpoint` names: "best" (metadata.yaml's best.checkpoint), "last"
    (the newest epoch's), or a .pth file (a relative path is in the run directory)."""
    saved = [path.name for path in checkpoint_paths(run_path)]
    listed = f" It holds: {', '.join(saved)}." if saved else " It holds no checkpoint."
    if checkpoint == "best":
        best = metadata.get("best")
        name = best.get("checkpoint") if isinstance(best, dict) else None
        if not name:
            raise UserError(
                f"{run_path / METADATA_FILE} names no best checkpoint (best.checkpoint): no "
                f'epoch of the run has finished.{listed} Pass checkpoint="last" or the '
                "path of one of them."
            )
        # A record names a file of its own run; an edited one names no other run's weights.
        path = run_path / path_inside(
            str(name),
            f"{run_path / METADATA_FILE}: best.checkpoint",
            f"the run directory {run_path}",
        )
    elif checkpoint == "last":
        epochs = [
            path for path in checkpoint_paths(run_path) if EPOCH_CHECKPOINT.fullmatch(path.name)
        ]
        if not epochs:
            raise UserError(
                f"{run_path} has no epoch checkpoint (model_epoch_E.pth): no "
                f"epoch of the run has finished.{listed} Pass the path of one "
                "of them."
            )
        path = epochs[0]
    elif str(checkpoint).endswith(".pth"):
        # The caller's own choice, which may be outside the run; an absolute path stays itself.
        path = Path(os.path.normpath(run_path / Path(checkpoint).expanduser()))
    else:
        raise UserError(
            f'checkpoint={checkpoint!r}: give "best", "last" or the path of a '
            ".pth file (relative paths are in the run directory)."
        )
    if not path.is_file() and checkpoint != "last":  # "last" was listed: read it, or look again
        raise UserError(
            f"checkpoint {path} does not exist.{listed} The checkpoint policy "
            "keeps the newest epoch and the best of every ten: pass one of "
            'those, "best" or "last".'
        )
    return path


def read_chosen_checkpoint(
    run_path: Path, metadata: dict, checkpoint: str | Path
) -> tuple[Path, dict]:
    """The file `checkpoint` names (chosen_checkpoint) and its contents, read once. A
    run that is training deletes its older checkpoints at any moment (the checkpoint
    policy): "last" is whichever epoch checkpoint is newest when it is read."""
    for _ in range(READ_ATTEMPTS):
        path = chosen_checkpoint(run_path, metadata, checkpoint)
        try:
            return path, readable_checkpoint(path)
        except FileNotFoundError:
            continue  # gone since it was chosen: choose again ("best" or a path is then refused)
    raise UserError(
        f"{run_path}: its newest epoch checkpoint was deleted as it was read, "
        f"{READ_ATTEMPTS} times (the run is training, and its checkpoint policy "
        'replaces it); try again, or pass "best" or one of its checkpoints.'
    )


def readable_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, which must hold a model's weights. FileNotFoundError
    if it is gone: read_chosen_checkpoint looks again."""
    try:
        contents = read_checkpoint(path)
    except FileNotFoundError:
        raise
    except (
        OSError,
        RuntimeError,
        EOFError,
        ValueError,
        IndexError,
        KeyError,
        pickle.UnpicklingError,
    ) as error:
        # torch.load of a damaged file raises whatever its parser trips on.
        raise UserError(
            f"{path} is not a readable PyTorch checkpoint "
            f"({type(error).__name__}: {str(error)[:200]}); pass another "
            "checkpoint."
        ) from None
    if not isinstance(contents, dict) or not is_state_dict(contents.get("model_state_dict")):
        raise UserError(
            f"{path} holds no model_state_dict: it is not a checkpoint of a run; "
            'pass "best", "last" or one of the run\'s .pth files.'
        )
    return contents


def check_trained_with(config: dict, path: Path, contents: dict) -> None:
    """The checkpoint records the model config it was trained with: a metadata.yaml
    edited since, or a checkpoint of another run, would build another model."""
    if "config" not in contents:
        return  # a bare checkpoint: metadata.yaml alone says what it is
    differences = config_differences(
        {key: config.get(key) for key in MODEL_KEYS},
        {key: contents["config"].get(key) for key in MODEL_KEYS},
    )
    if differences:
        raise UserError(
            f"{path} was trained with another model than the run's "
            f"{METADATA_FILE} records:\n  "
            + "\n  ".join(differences)
            + f"\nPut the checkpoint's values back in {METADATA_FILE}, or pass "
            "a checkpoint of this run."
        )


def check_model_config(config: dict, source: Path, project: Project, commit: str) -> None:
    """That today's model.py still has the run's model class, taking its parameters."""
    missing = [key for key in MODEL_KEYS if key not in config]
    if missing or not isinstance(config["model_parameters"], dict):
        raise UserError(
            f"{source}: config.{(missing or ['model_parameters'])[0]} is missing or "
            "damaged, and the model is built from it. Restore it, e.g. from the "
            "config the checkpoint holds (torch.load(path, weights_only=True)"
            '["config"]).'
        )
    problems = []
    model_class = checked_name(config, "model_type", project.models, FishboticsModel, problems)
    if model_class:
        problems += argument_problems("model_parameters", model_class, config["model_parameters"])
    if problems:
        raise UserError(
            problem_list(source, problems)
            + "\nThe model's code changed since the run: load the run from a "
            f"checkout of its commit (`git worktree add DIR {commit[:12]}`), or "
            f"edit the model config in {METADATA_FILE} to match today's code."
        )


def usable_device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise UserError(f"device={device!r} is not a device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f'device={str(device)!r}, but PyTorch finds no GPU here; pass device="cpu".'
        )
    return device
