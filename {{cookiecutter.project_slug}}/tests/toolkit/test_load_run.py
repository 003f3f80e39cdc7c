"""PROJECT.load_run as a notebook or a robot's script calls it: the checkpoint it
picks, the code check, and each mistake a user can make."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from harness import (
    MODEL,
    TOY_PROJECT,
    committed_copy,
    environment,
    git,
    run_directories,
    run_py,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery

# Calls PROJECT.load_run(...) with each argument list (Python source) given as JSON,
# and prints, as JSON, the UserError message of each, or null where it loaded.
CALLS = """
import json, sys, warnings
from run import PROJECT
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError

warnings.simplefilter("ignore")
messages = []
for arguments in json.loads(sys.argv[1]):
    try:
        eval(f"PROJECT.load_run({arguments})")
        messages.append(None)
    except UserError as error:
        messages.append(str(error))
print(json.dumps(messages))
"""
# An edit of model.py that changes the weights the model has.
NEW_LAYER = ("nn.Linear(hidden_size, 2)", "nn.Linear(hidden_size, 2, bias=False)")


def python(project: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    """`code` in a fresh Python in `project`'s root, as a notebook there runs it."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def load_run_errors(project: Path, *calls: str) -> list[str | None]:
    """The UserError message of each PROJECT.load_run call, None where it loaded."""
    result = python(project, CALLS, json.dumps(calls))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A committed copy of the project holding one logged --mini run of two epochs.
    Tests that change it work on a copy (changed_copy)."""
    project = committed_copy(tmp_path_factory.mktemp("trained"), dataset)
    result = run_py(project, "sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "2")
    assert result.returncode == 0, result.stderr
    return project


def the_run(project: Path) -> Path:
    [run] = run_directories(project)
    return run


def changed_copy(trained: Path, directory: Path) -> Path:
    copy = directory / "project"
    shutil.copytree(trained, copy, symlinks=True)
    return copy


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model_state_dict"]


def assert_same_weights(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]):
    assert state.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor), name


def test_the_best_checkpoint_is_loaded_for_inference(trained, tmp_path):
    run = the_run(trained)
    saved = tmp_path / "loaded.pt"
    # As a notebook in the project's root calls it; then what it loaded, saved.
    result = python(
        trained,
        f"""
import torch
from run import PROJECT

policy = PROJECT.load_run({str(run.relative_to(trained))!r}, checkpoint="best")
torch.manual_seed(0)
inputs = dict(position=torch.rand(5, 2), goal=torch.rand(5, 2))
with torch.no_grad():
    outputs = policy(policy.transform(inputs))
torch.save(dict(inputs=inputs, outputs=outputs, state=policy.state_dict(),
                training=policy.training), {str(saved)!r})
""",
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr  # the checkout is the run's commit

    loaded = torch.load(saved, weights_only=True)
    best = yaml.safe_load((run / "metadata.yaml").read_text())["best"]["checkpoint"]
    checkpoint = torch.load(run / best, weights_only=True)
    assert_same_weights(loaded["state"], checkpoint["model_state_dict"])
    assert loaded["training"] is False  # eval mode
    # The checkpoint's weights in the model built by hand from the run's config.
    by_hand = getattr(TOY_PROJECT.models, MODEL)(**checkpoint["config"]["model_parameters"])
    by_hand.load_state_dict(checkpoint["model_state_dict"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the example ran: sums in the same order, the same bits
    try:
        with torch.no_grad():
            expected = by_hand.eval()(by_hand.transform(loaded["inputs"]))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(loaded["outputs"], expected)


def test_last_and_a_path_name_their_checkpoints(trained, tmp_path):
    run = the_run(trained)
    best = yaml.safe_load((run / "metadata.yaml").read_text())["best"]["checkpoint"]
    saved = tmp_path / "loaded.pt"
    result = python(
        trained,
        f"""
import torch
from run import PROJECT

run = {str(run)!r}
torch.save(dict(last=PROJECT.load_run(run, checkpoint="last").state_dict(),
                name=PROJECT.load_run(run, checkpoint={best!r}).state_dict(),
                path=PROJECT.load_run(run, checkpoint={str(run / best)!r}).state_dict()),
           {str(saved)!r})
""",
    )
    assert result.returncode == 0, result.stderr
    loaded = torch.load(saved, weights_only=True)
    assert_same_weights(loaded["last"], weights(run / "model_epoch_1.pth"))  # the newest
    assert_same_weights(loaded["name"], weights(run / best))  # in the run directory
    assert_same_weights(loaded["path"], weights(run / best))


def test_other_code_than_the_runs_commit_warns_and_require_same_code_refuses(trained, tmp_path):
    project = changed_copy(trained, tmp_path)
    run = str(the_run(project))
    commit = git(project, "rev-parse", "HEAD")
    model = next((project / "src").glob("*/model.py"))
    model.write_text(model.read_text() + "\n# an edit after the run\n")
    load = f"from run import PROJECT\nPROJECT.load_run({run!r})"

    uncommitted = python(project, load)
    assert uncommitted.returncode == 0, uncommitted.stderr
    assert "CodeChangedWarning" in uncommitted.stderr
    assert (
        f"trained at commit {commit[:12]}, and the checkout has uncommitted changes: "
        f"src/{model.parent.name}/model.py" in uncommitted.stderr
    )
    [refused] = load_run_errors(project, f"{run!r}, require_same_code=True")
    assert "uncommitted changes" in refused and f"git checkout {commit[:12]}" in refused

    git(project, "commit", "--quiet", "--all", "-m", "An edit after the run")
    head = git(project, "rev-parse", "HEAD")
    committed = python(project, load)
    assert committed.returncode == 0, committed.stderr
    assert f"trained at commit {commit[:12]}, but HEAD is {head[:12]}" in committed.stderr
    [refused] = load_run_errors(project, f"{run!r}, require_same_code=True")
    assert f"but HEAD is {head[:12]}" in refused

    shutil.rmtree(project / ".git")  # the code copied to a robot, say
    copied = python(project, load)
    assert copied.returncode == 0, copied.stderr
    assert f"git cannot tell whether the code in {project} is the run's commit" in copied.stderr
    [refused] = load_run_errors(project, f"{run!r}, require_same_code=True")
    assert f"is the run's commit {commit[:12]}. Check out the run's commit" in refused


def add_mistakes(run: Path) -> tuple[dict, Path, Path]:
    """A file named .pth that is no checkpoint in `run`, and beside it two runs made from
    it: one whose first epoch never finished, one edited to another model. Returns the
    run's metadata and the two runs."""
    (run / "notes.pth").write_text("not a checkpoint")
    # A run whose first epoch never finished: no best, no epoch checkpoint.
    unfinished = run.with_name("unfinished")
    unfinished.mkdir()
    metadata = yaml.safe_load((run / "metadata.yaml").read_text())
    (unfinished / "metadata.yaml").write_text(yaml.safe_dump({**metadata, "best": None}))
    # metadata.yaml edited to another model than its checkpoints were trained with.
    edited = run.with_name("edited")
    shutil.copytree(run, edited)
    parameters = metadata["config"]["model_parameters"]
    (edited / "metadata.yaml").write_text(
        yaml.safe_dump(
            {
                **metadata,
                "config": {
                    **metadata["config"],
                    "model_parameters": {**parameters, "learning_rate": 0.5},
                },
            }
        )
    )
    return metadata, unfinished, edited


def test_each_mistake_is_a_user_error_naming_the_file_and_the_fix(trained, tmp_path):
    project = changed_copy(trained, tmp_path)
    run = the_run(project)
    metadata, unfinished, edited = add_mistakes(run)

    messages = load_run_errors(
        project,
        "'logs'",
        f"{str(run)!r}, checkpoint='model_epoch_7.pth'",
        f"{str(run)!r}, checkpoint='newest'",
        f"{str(run)!r}, checkpoint='notes.pth'",
        f"{str(unfinished)!r}",
        f"{str(unfinished)!r}, checkpoint='last'",
        f"{str(edited)!r}",
        f"{str(run)!r}, device='gpu'",
    )
    assert "logs is not a run directory: it has no metadata.yaml" in messages[0]
    assert "python run.py --list" in messages[0]
    assert f"{run}/model_epoch_7.pth does not exist" in messages[1]
    assert "It holds: model_epoch_1.pth" in messages[1]
    assert 'checkpoint=\'newest\': give "best", "last" or the path of a .pth file' in messages[2]
    assert f"{run}/notes.pth is not a readable PyTorch checkpoint" in messages[3]
    assert (
        "names no best checkpoint (best.checkpoint): no epoch of the run has finished"
        in messages[4]
    )
    assert "It holds no checkpoint" in messages[4]
    assert f"{unfinished} has no epoch checkpoint" in messages[5]
    assert "model_parameters.learning_rate: 0.5 in metadata.yaml" in messages[6]
    assert "device='gpu' is not a device" in messages[7]

    # The model's code changes: weights that no longer fit, then a class renamed.
    model = next((project / "src").glob("*/model.py"))
    model.write_text(model.read_text().replace(*NEW_LAYER))
    git(project, "commit", "--quiet", "--all", "-m", "Another last layer")
    [message] = load_run_errors(project, repr(str(run)))
    assert f"the weights in {run / metadata['best']['checkpoint']} do not fit {MODEL}" in message
    assert "Unexpected key(s) in state_dict" in message
    model.write_text(model.read_text().replace(f"class {MODEL}(", f"class Renamed{MODEL}("))
    git(project, "commit", "--quiet", "--all", "-m", "A model renamed")
    [message] = load_run_errors(project, repr(str(run)))
    assert f"model_type: unknown name '{MODEL}'; valid names in model.py: Renamed{MODEL}" in message
    assert "git worktree add DIR" in message


def test_a_record_naming_a_checkpoint_outside_its_run_is_refused(trained, tmp_path):
    project = changed_copy(trained, tmp_path)
    run = the_run(project)
    metadata = yaml.safe_load((run / "metadata.yaml").read_text())
    best = metadata["best"]["checkpoint"]
    other = run.with_name("other")
    shutil.copytree(run, other)
    # best.checkpoint edited to name another run's file, relative or absolute.
    edits = {"relative": f"../../{run.parent.name}/other/{best}", "absolute": str(other / best)}
    for name, value in edits.items():
        run.with_name(name).mkdir()
        (run.with_name(name) / "metadata.yaml").write_text(
            yaml.safe_dump({**metadata, "best": {**metadata["best"], "checkpoint": value}})
        )
    messages = load_run_errors(
        project,
        repr(str(run.with_name("relative"))),
        repr(str(run.with_name("absolute"))),
        # A path the caller passes is theirs to choose, inside the run or not.
        f"{str(run)!r}, checkpoint={str(other / best)!r}",
        f"{str(run)!r}, checkpoint={f'../other/{best}'!r}",
    )
    for message, value in zip(messages[:2], edits.values(), strict=True):
        assert message is not None and f"best.checkpoint {value!r}" in message
        assert "run directory" in message
    assert messages[2:] == [None, None]
