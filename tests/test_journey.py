"""The user's journey through a new project, as its README tells it."""

import pytest
import yaml
from conftest import git, python


def test_bake_make_data_log_a_run_and_evaluate_it(cookies):
    result = cookies.bake()
    assert result.exit_code == 0, result.exception
    project = result.project_path

    made = python(project, "scripts/make_dataset.py")
    assert made.returncode == 0, made.stderr
    assert len(list((project / "data" / "train").glob("*.h5"))) == 4

    # The data is ignored by git, so the tree is still clean and the run is logged.
    trained = python(project, "run.py", "sample_runconfig.yaml", "--mini", "--cpu")
    assert trained.returncode == 0, trained.stderr
    [metadata_file] = (project / "logs").glob("ReachingPolicy/*/metadata.yaml")
    metadata = yaml.safe_load(metadata_file.read_text())
    assert metadata["status"] == "finished"
    assert metadata["git"]["commit"] == git(project, "rev-parse", "HEAD")
    assert f"run directory: {metadata_file.parent}" in trained.stdout
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""

    # The run's best checkpoint on the test split again, recorded inside the run.
    run = metadata_file.parent
    evaluated = python(project, "run.py", "--evaluate", str(run), "--mini", "--cpu")
    assert evaluated.returncode == 0, evaluated.stderr
    [record_file] = (run / "evaluations").glob("*.yaml")
    record = yaml.safe_load(record_file.read_text())
    assert record["results"] == metadata["final_test"]["results"]
    assert record["checkpoint"] == metadata["best"]["checkpoint"]
    listed = python(project, "run.py", "--list")
    assert listed.stdout.splitlines()[1].split()[-1] == "1"  # one evaluation


@pytest.mark.slow(minutes=3)
def test_the_classification_sample_config_reaches_90_percent_test_accuracy(bake):
    """The promise in a classification project's README, kept by its full sample run."""
    result = bake(task="classification", include_rollout_phase=False)
    assert result.exit_code == 0, result.exception
    project = result.project_path
    assert python(project, "scripts/make_dataset.py").returncode == 0

    # One thread: the test runs beside others, and threads that contend for the same
    # cores slow each other down many times over.
    trained = python(project, "run.py", "sample_runconfig.yaml", "--cpu", OMP_NUM_THREADS="1")
    assert trained.returncode == 0, trained.stderr
    [metadata_file] = (project / "logs").glob("ShapeClassifier/*/metadata.yaml")
    metadata = yaml.safe_load(metadata_file.read_text())
    # The test split, read once, by the epoch with the best validation accuracy.
    final_test = metadata["final_test"]
    assert final_test["epoch"] == metadata["best"]["epoch"]
    assert final_test["results"]["test"]["accuracy"] >= 0.9, metadata
    print(
        f"final test of epoch {final_test['epoch']}: {final_test['results']}; "
        f"last epoch: {metadata['progress']['last_results']}"
    )
