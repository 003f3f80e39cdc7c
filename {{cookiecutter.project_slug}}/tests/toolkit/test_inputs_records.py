"""Records damaged by hand and logs that cannot be written: each once ended in a
traceback; each now stops with a short message naming the file or field at fault.
"""

import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from harness import MODEL, SAMPLE, TOY_PROJECT, WIDTH, git, run_py
from inputs_harness import (
    refused_run,
    run_directories_in,
)

from {{ cookiecutter.project_slug }}.toolkit.config import load_config
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu")


# --------------------------------------------------------------------------------------
# Records damaged by hand


def hand_made_run(project: Path, damage) -> Path:
    """A run directory whose metadata.yaml --resume would accept, after `damage(record)`."""
    record = {
        "description": "made by hand",
        "status": "interrupted",
        "git": {"commit": git(project, "rev-parse", "HEAD")},
        "flags": {"cpu": True, "mini": True},
        "environment": {"threads": 1},
{% if cookiecutter.multi_gpu %}
        "distributed": {"launcher": "single process", "world_size": 1, "backend": None},
{% endif %}
        "config": load_config(SAMPLE, TOY_PROJECT),
    }
    damage(record)
    directory = project / "logs" / MODEL / "2026-01-01_00-00-00"
    directory.mkdir(parents=True)
    (directory / "metadata.yaml").write_text(dump(record))
    return directory


def without_environment_and_flags(record: dict) -> None:
    del record["environment"]
    record["flags"] = None


@pytest.mark.parametrize(
    "flag, damage, messages",
    [
        (
            "--resume",
            without_environment_and_flags,
            ["environment: required key not provided", "flags: expected a dictionary"],
        ),
        ("--rerun", lambda record: record.update(git="abc"), ["git: expected a dictionary"]),
    ],
)
def test_a_damaged_record_names_the_fields(project, flag, damage, messages):
    run = hand_made_run(project, damage)
    before = (run / "metadata.yaml").read_bytes()
    stderr = refused_run(project, flag, str(run), message="metadata.yaml is damaged")
    assert all(message in stderr for message in messages)
    assert (run / "metadata.yaml").read_bytes() == before


def test_a_record_not_in_utf8_is_refused(project):
    run = hand_made_run(project, lambda record: None)
    with open(run / "metadata.yaml", "ab") as file:
        file.write("summary: café\n".encode("latin-1"))
    refused_run(
        project,
        "--print-config",
        "--resume",
        str(run),
        message="metadata.yaml: it is not UTF-8 text",
    )


# --------------------------------------------------------------------------------------
# The file system and the network refuse: faults injected into a run (a file system
# mounted to fail, a port taken), exhaustive checks of the machinery (pytest -m machinery)


def mount_tmpfs(directory: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system for this test needs root")
    directory.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")


@pytest.mark.machinery
def test_a_read_only_logs_directory_is_a_clear_error(project):
    logs = project / "logs"
    mount_tmpfs(logs, "ro,size=64k")
    try:
        refused_run(project, *QUICK, message="Read-only file system")
    finally:
        subprocess.run(["umount", str(logs)], check=True)


@pytest.mark.machinery
def test_a_full_disk_fails_the_run_and_keeps_its_checkpoints(project):
    # Room for the record (about 6 KB with its data fingerprint, and a temporary copy of
    # it for each rewrite) and the first epoch's checkpoint, not for the second's.
    room = "80k"  # a checkpoint of this model takes about 41 KB
    logs = project / "logs"
    mount_tmpfs(logs, f"size={room}")
    try:
        result = run_py(
            project,
            *QUICK,
            "--modify",
            "epochs",
            "3",
            "--modify",
            "checkpoint_interval",
            "null",
            "--modify",
            f"model_parameters.{WIDTH}",
            "4",
        )
        assert result.returncode == 2, result.stderr
        assert "No space left on device" in result.stderr
        assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
        [run] = run_directories_in(project)
        record = yaml.safe_load((run / "metadata.yaml").read_text())
        assert record["status"] == "failed"
        assert record["progress"]["epochs_completed"] == 1
        assert "model_state_dict" in torch.load(run / "model_epoch_0.pth", weights_only=True)
    finally:
        subprocess.run(["umount", str(logs)], check=True)
{% if cookiecutter.multi_gpu %}


@pytest.mark.machinery
def test_a_meeting_port_in_use_is_refused_before_the_run_starts(project):
    import socket  # this test's alone, in a multi-GPU bake

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        parameters = dump({"ngpus_per_node": 2, "url": f"tcp://127.0.0.1:{port}"})
        refused_run(
            project,
            *QUICK,
            "--modify",
            "multigpu_parameters",
            parameters,
            message=f"multigpu_parameters.url: cannot listen on 127.0.0.1:{port}",
        )
    assert not (project / "logs").exists()
{% endif %}
