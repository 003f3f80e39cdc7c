"""The user's journey through a default project, as its README tells it."""

import yaml
from conftest import git, python


def test_bake_make_data_and_log_a_run(cookies):
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
