"""The data's fingerprint: recorded by a logged run, checked by --resume and --rerun,
each shard's hash cached between starts."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import h5py
import pytest
import yaml
from harness import committed_copy, run_directories, run_py

from {{ cookiecutter.project_slug }}.toolkit.fingerprint import cache_file

pytestmark = pytest.mark.machinery  # pytest -m machinery

QUICK = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "epochs",
    "1",
    "--modify",
    "batch_size",
    "32",
)


def metadata_of(run: Path) -> dict:
    return yaml.safe_load((run / "metadata.yaml").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def logged(tmp_path_factory, dataset) -> Path:
    """A committed copy holding one logged QUICK run, made once for the tests that start
    from one; a test that changes it works on a copy (copied)."""
    project = committed_copy(tmp_path_factory.mktemp("logged"), dataset)
    assert run_py(project, *QUICK).returncode == 0
    return project


def copied(logged: Path, directory: Path) -> tuple[Path, Path]:
    """A copy of the `logged` project, and its run directory."""
    project = directory / "project"
    shutil.copytree(logged, project, symlinks=True)
    [run] = run_directories(project)
    return project, run


def interrupted_run(logged: Path, directory: Path) -> tuple[Path, Path]:
    """A copy of the `logged` project, and its run marked as stopped so that --resume
    takes it up."""
    project, run = copied(logged, directory)
    metadata = metadata_of(run)
    metadata["status"] = "interrupted"
    (run / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    return project, run


def change_in_place(shard: Path) -> None:
    """Change the shard's first sample: the same file and size, other content."""
    with h5py.File(shard, "r+") as file:
        field = file["steps/goal"]
        field[0] = field[0] + 0.01


def test_a_logged_run_records_the_hash_of_every_shard(logged):
    project = logged
    [run] = run_directories(project)
    data = metadata_of(run)["data"]
    assert set(data) == {"train", "val", "test"}
    for split, record in data.items():
        shards = sorted((project / "data" / split).glob("*.h5"))
        assert record["files"] == len(shards) > 0
        assert record["bytes"] == sum(shard.stat().st_size for shard in shards)
        assert record["shards"] == {
            shard.name: {"bytes": shard.stat().st_size, "hash": sha256(shard)} for shard in shards
        }
    assert data["train"]["hash"] != data["test"]["hash"]


def test_resume_refuses_changed_data_naming_split_and_shards(logged, tmp_path):
    project, run = interrupted_run(logged, tmp_path)
    before = (run / "metadata.yaml").read_text()
    test_shard = sorted((project / "data" / "test").glob("*.h5"))[0]
    change_in_place(test_shard)
    first, *_, last = sorted((project / "data" / "train").glob("*.h5"))
    shutil.copy(first, first.with_name("extra.h5"))
    last.unlink()

    refused = run_py(project, "--resume", str(run))
    assert refused.returncode == 2, refused.stderr
    assert f"test/: changed {test_shard.name}" in refused.stderr
    assert f"train/: added extra.h5, removed {last.name}" in refused.stderr
    assert "--allow-changed-data" in refused.stderr and "Traceback" not in refused.stderr
    assert (run / "metadata.yaml").read_text() == before  # nothing written

    allowed = run_py(project, "--resume", str(run), "--allow-changed-data")
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: the data differ" in allowed.stderr
    metadata = metadata_of(run)
    assert metadata["status"] == "finished"
    assert metadata["resumed"][-1]["data_changed"] == [
        f"test/: changed {test_shard.name}",
        f"train/: added extra.h5, removed {last.name}",
    ]
    # The record now holds the data the run went on with: the next resume checks those.
    assert metadata["data"]["test"]["shards"][test_shard.name]["hash"] == sha256(test_shard)
    assert set(metadata["data"]["train"]["shards"]) == {
        shard.name for shard in (project / "data" / "train").glob("*.h5")
    }  # extra.h5, no last


def test_rerun_refuses_changed_data_unless_allowed(logged, tmp_path):
    project, original = copied(logged, tmp_path)
    shard = sorted((project / "data" / "train").glob("*.h5"))[0]
    change_in_place(shard)

    refused = run_py(project, "--rerun", str(original))
    assert refused.returncode == 2
    assert f"train/: changed {shard.name}" in refused.stderr and "Traceback" not in refused.stderr
    assert run_directories(project) == [original]

    allowed = run_py(project, "--rerun", str(original), "--allow-changed-data")
    assert allowed.returncode == 0, allowed.stderr
    [rerun] = [run for run in run_directories(project) if run != original]
    metadata = metadata_of(rerun)
    assert metadata["data_changed"] == [f"train/: changed {shard.name}"]
    assert metadata["data"]["train"]["shards"][shard.name]["hash"] == sha256(shard)


def test_a_run_recorded_before_0_4_resumes_with_a_note(logged, tmp_path):
    project, run = interrupted_run(logged, tmp_path)
    metadata = metadata_of(run)
    recorded = metadata.pop("data")
    (run / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))

    result = run_py(project, "--resume", str(run))
    assert result.returncode == 0, result.stderr
    assert "note: the run was recorded before version 0.4" in result.stderr
    assert metadata_of(run)["data"] == recorded  # recorded from now on


def test_allow_changed_data_belongs_to_resume_rerun_and_evaluate(project):
    result = run_py(project, *QUICK, "--allow-changed-data")
    assert result.returncode == 2
    assert "--allow-changed-data goes with --resume, --rerun or --evaluate" in result.stderr
    assert run_directories(project) == []


def test_a_second_start_takes_unchanged_files_hashes_from_the_cache(project):
    assert run_py(project, *QUICK).returncode == 0
    shard = sorted((project / "data" / "train").glob("*.h5"))[0]
    # A hash no file has, planted in the cache for the unchanged shard: a start that
    # reads the file would record its true hash, one that trusts the cache records this.
    cache = json.loads(cache_file().read_text())
    planted = "0" * 64
    cache["files"][str(shard.resolve())]["hash"] = planted
    cache_file().write_text(json.dumps(cache))
    assert run_py(project, *QUICK).returncode == 0
    second = metadata_of(run_directories(project)[-1])
    assert second["data"]["train"]["shards"][shard.name]["hash"] == planted

    # A rewrite of the same size with its old modification time restored (as `cp -p`
    # or rsync leave it) changes the file's ctime: the cache misses and it is read.
    status = shard.stat()
    change_in_place(shard)
    os.utime(shard, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert shard.stat().st_size == status.st_size
    assert run_py(project, *QUICK).returncode == 0
    third = metadata_of(run_directories(project)[-1])
    assert third["data"]["train"]["shards"][shard.name]["hash"] == sha256(shard)


def test_a_damaged_cache_is_ignored_and_rewritten(project):
    cache_file().parent.mkdir(parents=True, exist_ok=True)
    cache_file().write_text('{"version": 1, "files": {"/x": ')  # cut off mid-write
    result = run_py(project, *QUICK)
    assert result.returncode == 0, result.stderr
    [run] = run_directories(project)
    shard = sorted((project / "data" / "test").glob("*.h5"))[0]
    assert metadata_of(run)["data"]["test"]["shards"][shard.name]["hash"] == sha256(shard)
    assert str(shard.resolve()) in json.loads(cache_file().read_text())["files"]
