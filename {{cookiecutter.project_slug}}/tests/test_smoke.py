"""Your committed config, trained for real through run.py on a small slice of your data:
what CI checks on every push. Keep it fast; it is yours to change."""

import yaml
from helpers import DATASET_ARGUMENTS, make_dataset

from {{ cookiecutter.project_slug }}.toolkit.testing import run_directories, run_py


def test_the_sample_config_trains_a_logged_run(project):
    # --mini: mini_size elements of each split; one epoch is enough to go through
    # every phase, the checkpoint and the final test.
    result = run_py(project, "sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "1")
    assert result.returncode == 0, result.stderr
    [run] = run_directories(project)
    metadata = yaml.safe_load((run / "metadata.yaml").read_text())
    assert metadata["status"] == "finished"
    assert metadata["final_test"]["results"]


def test_make_dataset_writes_the_same_bytes_every_time(dataset, tmp_path):
    result = make_dataset(tmp_path, *DATASET_ARGUMENTS)
    assert result.returncode == 0, result.stderr
    for split in ("train", "val", "test"):
        ours = sorted((tmp_path / split).glob("*.h5"))
        theirs = sorted((dataset / split).glob("*.h5"))
        assert ours and [path.name for path in ours] == [path.name for path in theirs]
        assert [path.read_bytes() for path in ours] == [path.read_bytes() for path in theirs]
