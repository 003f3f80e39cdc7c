"""scripts/start-slurm.sh: the one-node SLURM cluster that the SLURM tests run on."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import TEMPLATE, run

SCRIPT = TEMPLATE / "scripts" / "start-slurm.sh"


def test_without_slurm_and_not_root_it_says_why_and_fails():
    with tempfile.TemporaryDirectory() as tools:
        # A PATH of the few commands it needs before it checks for root: no SLURM on it,
        # in a folder that another user may enter.
        os.chmod(tools, 0o755)
        for name in ("bash", "hostname", "id", "pgrep", "head"):
            (Path(tools) / name).symlink_to(shutil.which(name))
        command = ["bash", str(SCRIPT)]
        if os.geteuid() == 0:
            command = [
                shutil.which("setpriv"),
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                *command,
            ]
        result = run(command, Path("/"), PATH=tools)
    assert result.returncode == 1
    assert "needs root" in result.stderr


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("sinfo") is None,
    reason="needs root, and SLURM installed (the first start installs it)",
)
def test_a_second_start_finds_slurm_up_and_does_nothing(tmp_path):
    first = run(["bash", str(SCRIPT)], tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run(["bash", str(SCRIPT)], tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already up" in second.stdout and "nothing to do" in second.stdout
