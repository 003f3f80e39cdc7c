"""run.py --evaluate as a user runs it on a logged run: the checkpoint and split it
evaluates, the record it writes in the run directory, the code and data it checks,
and each mistake refused with nothing written."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from harness import (
    MODEL,
    TOY_PROJECT,
    WIDTH,
    committed_copy,
    environment,
    git,
    run_directories,
    run_py,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery

TRAINING = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "2")
BROKEN_FORWARD = f"""

def broken_forward(self, batch):
    raise RuntimeError("a later, broken model.py")


{MODEL}.forward = broken_forward
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A committed copy of the project holding one logged --mini run of two epochs.
    Tests that change it work on a copy."""
    project = committed_copy(tmp_path_factory.mktemp("trained"), dataset)
    result = run_py(project, *TRAINING)
    assert result.returncode == 0, result.stderr
    return project


def copied(trained: Path, directory: Path) -> tuple[Path, Path]:
    """A copy of the trained project, and its run directory."""
    project = directory / "project"
    shutil.copytree(trained, project, symlinks=True)
    [run] = run_directories(project)
    return project, run


def metadata_of(run: Path) -> dict:
    return yaml.safe_load((run / "metadata.yaml").read_text())


def records(run: Path) -> list[dict]:
    return [
        yaml.safe_load(path.read_text()) for path in sorted((run / "evaluations").glob("*.yaml"))
    ]


def evaluate(project: Path, run: Path, *args: str):
    return run_py(project, "--evaluate", str(run.relative_to(project)), "--mini", "--cpu", *args)


def test_the_best_checkpoint_on_test_gives_the_final_test_and_is_recorded(trained, tmp_path):
    project, run = copied(trained, tmp_path)
    metadata = metadata_of(run)

    result = evaluate(project, run)
    assert result.returncode == 0, result.stderr
    [record] = records(run)
    # The same weights on the same data, drawn alike: the final test's numbers, exactly.
    assert record["results"] == metadata["final_test"]["results"]
    assert record["checkpoint"] == metadata["best"]["checkpoint"]
    assert record["checkpoint_epoch"] == metadata["best"]["epoch"]
    assert record["split"] == "test"
    assert record["commit"] == metadata["git"]["commit"]
    assert record["config_changes"] == {}
    assert record["data"]["test"]["hash"] == metadata["data"]["test"]["hash"]
    assert record["finished"] >= record["started"]
    assert "recorded in" in result.stdout

    # The last epoch's checkpoint on val/: that epoch's validation numbers, exactly.
    result = evaluate(project, run, "--checkpoint", "last", "--split", "val")
    assert result.returncode == 0, result.stderr
    newest = records(run)[-1]
    last_epoch = metadata["progress"]["epochs_completed"] - 1
    assert newest["checkpoint"] == f"model_epoch_{last_epoch}.pth"
    assert newest["split"] == "val"
    assert newest["results"] == {
        phase: values
        for phase, values in metadata["progress"]["last_results"].items()
        if phase.startswith("val")
    }

    # Two evaluations, counted in the run's row of --list.
    listing = run_py(project, "--list")
    header, row = listing.stdout.splitlines()[:2]
    assert header.split()[-1] == "evals" and row.split()[-1] == "2"
    assert git(project, "status", "--porcelain") == ""  # logs/ is ignored: still clean


def test_an_edit_changes_how_the_model_is_evaluated_and_is_recorded(trained, tmp_path):
    project, run = copied(trained, tmp_path)
    edit = ("batch_size", metadata_of(run)["config"]["batch_size"], 7)
    result = evaluate(project, run, "--modify", edit[0], str(edit[2]))
    assert result.returncode == 0, result.stderr
    [record] = records(run)
    assert record["config_changes"] == {edit[0]: [edit[1], edit[2]]}
    assert record["results"].keys() == metadata_of(run)["final_test"]["results"].keys()


def test_a_checkout_at_a_later_commit_evaluates_with_the_runs_code(trained, tmp_path):
    project, run = copied(trained, tmp_path)
    model = next((project / "src").glob("*/model.py"))
    # A later commit whose model could not evaluate the run at all.
    model.write_text(model.read_text() + BROKEN_FORWARD)
    git(project, "commit", "--quiet", "--all", "-m", "A later change")

    result = evaluate(project, run)
    assert result.returncode == 0, result.stderr
    assert "not at the run's commit" in result.stdout
    [record] = records(run)
    assert record["commit"] == metadata_of(run)["git"]["commit"]
    assert record["results"] == metadata_of(run)["final_test"]["results"]
    assert "evaluate-" not in git(project, "worktree", "list")  # the worktree is gone


def test_changed_data_are_refused_unless_allowed_and_then_recorded(trained, tmp_path):
    project, run = copied(trained, tmp_path)
    shard = sorted((project / "data" / "test").iterdir())[0]
    shard.unlink()
    shutil.copy(sorted((project / "data" / "val").iterdir())[0], shard)  # other samples

    refused = evaluate(project, run)
    assert refused.returncode == 2
    assert f"test/: changed {shard.name}" in refused.stderr
    assert "--allow-changed-data" in refused.stderr
    assert not (run / "evaluations").exists()

    allowed = evaluate(project, run, "--allow-changed-data")
    assert allowed.returncode == 0, allowed.stderr
    [record] = records(run)
    assert record["data_changed"] == [f"test/: changed {shard.name}"]
    # The split evaluated is the only one checked: val/ is as the run read it.
    assert evaluate(project, run, "--split", "val").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--checkpoint", "model_epoch_9.pth"), "model_epoch_9.pth does not exist"),
        (("--checkpoint", "newest"), 'give "best", "last" or the path of a .pth file'),
        (("--split", "nosuch"), "nosuch"),
        (("--modify", "model_type", "Nope"), "model_type: unknown name"),
        (("--modify", "epochs", "0"), "epochs"),
        (("--no-logging",), "leave out: no_logging"),
        (("--find-replace", "a", "b"), "leave out: find_replace"),
    ],
)
def test_mistakes_are_one_screen_errors_that_write_nothing(trained, tmp_path, args, message):
    project, run = copied(trained, tmp_path)
    result = evaluate(project, run, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (run / "evaluations").exists()


def test_the_model_dirty_trees_and_other_directories_are_refused(trained, tmp_path):
    project, run = copied(trained, tmp_path)
    changed_model = evaluate(project, run, "--modify", f"model_parameters.{WIDTH}", "3")
    assert changed_model.returncode == 2
    assert f"model_parameters.{WIDTH}: the model is the run's" in changed_model.stderr

    not_a_run = run_py(project, "--evaluate", "logs", "--cpu")
    assert not_a_run.returncode == 2
    assert "logs is not a run directory" in not_a_run.stderr

    (project / "notes.txt").write_text("uncommitted")
    dirty = evaluate(project, run)
    assert dirty.returncode == 2
    assert "uncommitted changes" in dirty.stderr and "notes.txt" in dirty.stderr
    assert "Traceback" not in dirty.stderr + changed_model.stderr + not_a_run.stderr
    assert not (run / "evaluations").exists()


def test_a_split_is_one_folder_however_it_is_typed(trained, tmp_path):
    project, run = copied(trained, tmp_path)
    final_test = metadata_of(run)["final_test"]["results"]
    # The slash tab completion adds: the same split, phases and numbers as --split test.
    result = evaluate(project, run, "--split", "test/")
    assert result.returncode == 0, result.stderr
    [record] = records(run)
    assert record["split"] == "test"
    assert record["results"] == final_test

    # ./test is checked against the run's fingerprint of test/, as test is.
    shard = sorted((project / "data" / "test").iterdir())[0]
    shard.unlink()
    shutil.copy(sorted((project / "data" / "val").iterdir())[0], shard)
    refused = evaluate(project, run, "--split", "./test")
    assert refused.returncode == 2
    assert f"test/: changed {shard.name}" in refused.stderr

    # Outside the data directory, or a folder inside a split: one line naming the flag.
    for split in ("../data", "test/sub", "/tmp", "."):
        refused = evaluate(project, run, "--split", split)
        assert refused.returncode == 2, split
        assert f"--split {split!r}" in refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert len(records(run)) == 1


def test_weights_of_another_shape_are_refused_naming_the_file(trained, tmp_path):
    project, run = copied(trained, tmp_path)
    parameters = metadata_of(run)["config"]["model_parameters"]
    other = getattr(TOY_PROJECT.models, MODEL)(**{**parameters, WIDTH: 3}).state_dict()
    bare, wrapped = tmp_path / "bare.pth", tmp_path / "wrapped.pth"
    torch.save(other, bare)  # as torch.save(model.state_dict(), path) writes it
    torch.save({"model_state_dict": other}, wrapped)  # a checkpoint without its config
    for path in (bare, wrapped):
        result = evaluate(project, run, "--checkpoint", str(path))
        assert result.returncode == 2, result.stderr
        assert str(path) in result.stderr
        assert "Traceback" not in result.stderr
    assert "size mismatch for" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (run / "evaluations").exists()


def test_last_is_read_while_a_training_run_rotates_its_checkpoints(project):
    # A mid-epoch checkpoint every step and an epoch every second or so: the checkpoint
    # that is newest when an evaluation looks is soon deleted by the checkpoint policy.
    training = subprocess.Popen(
        [sys.executable, "run.py", *TRAINING[:-1], "1000", "checkpoint_interval", "0.01"],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not list((project / "logs").glob("*/*/model_epoch_*.pth")):
            assert training.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        [run] = run_directories(project)
        for _ in range(3):
            result = evaluate(project, run, "--checkpoint", "last", "--split", "val")
            assert "Traceback" not in result.stderr
            assert result.returncode == 0, result.stderr
        assert training.poll() is None  # it rotated checkpoints all along
    finally:
        training.terminate()
        training.wait(timeout=60)
    assert [record["checkpoint"].startswith("model_epoch_") for record in records(run)] == [
        True
    ] * 3
