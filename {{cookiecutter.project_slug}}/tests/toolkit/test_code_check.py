"""A logged run trains the code its commit says, also where `git status` is clean but
the code imported is not the commit's (code_check.py), and nothing else refuses a
tree that is clean."""

import os
import shutil
import subprocess
import sys

import pytest
from harness import environment, git, run_directories, run_py

pytestmark = pytest.mark.machinery  # pytest -m machinery

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "1")
LOSSES = "src/{{ cookiecutter.project_slug }}/losses.py"


def halve_the_losses(project) -> None:
    """An edit that changes what is learnt, left uncommitted."""
    text = (project / LOSSES).read_text()
    assert "return F." in text
    (project / LOSSES).write_text(text.replace("return F.", "return 0.5 * F."))


def run_py_importing(project, source, *args: str) -> subprocess.CompletedProcess:
    """run.py in `project` with the package imported from `source` first, as a
    virtual environment shared with another checkout (`pip install -e .` there) does."""
    env = {**environment(project), "PYTHONPATH": str(source)}
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_refused(result, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def test_the_package_of_another_checkout_is_refused(project, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(project, other)
    halve_the_losses(other)
    assert git(project, "status", "--porcelain") == ""

    result = run_py_importing(project, other / "src", *QUICK)

    assert_refused(
        result,
        f"imported from another copy than this checkout's ({project})",
        str(other / "src" / "{{ cookiecutter.project_slug }}"),
        "pip install -e .",
        "PYTHONPATH=src",
    )
    assert not (project / "logs").exists()


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_a_file_hidden_from_git_status_is_refused(project, flag):
    git(project, "update-index", flag, LOSSES)
    halve_the_losses(project)
    assert git(project, "status", "--porcelain") == ""  # what the check used to trust

    result = run_py(project, *QUICK)

    assert_refused(
        result,
        LOSSES,
        "different from the commit",
        f"git update-index --no-skip-worktree --no-assume-unchanged {LOSSES}",
    )
    assert not (project / "logs").exists()
    assert "0.5 * F." in (project / LOSSES).read_text()  # the user's edit is kept


def test_a_submodule_ignored_by_git_status_is_checked(project, tmp_path):
    helper = tmp_path / "helper"
    helper.mkdir()
    (helper / "helper_values.py").write_text("SCALE = 1.0\n")
    git(helper, "init", "--quiet")
    git(helper, "add", "--all")
    git(
        helper,
        "-c",
        "user.name=Test",
        "-c",
        "user.email=test@example.com",
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--quiet",
        "-m",
        "helper",
    )
    git(
        project,
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "--quiet",
        str(helper),
        "libs/helper",
    )
    git(project, "config", "--file", ".gitmodules", "submodule.libs/helper.ignore", "all")
    # The project imports a module of the submodule, as code kept in a submodule is.
    (project / LOSSES).write_text(
        (project / LOSSES).read_text() + "\n\nimport helper_values  # noqa: E402, F401\n"
    )
    git(project, "add", "--all")
    git(project, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "a submodule")
    env_path = os.pathsep.join([str(project / "src"), str(project / "libs" / "helper")])

    clean = run_py_importing(project, env_path, *QUICK)
    assert clean.returncode == 0, clean.stderr  # its files are checked at its commit

    (project / "libs/helper/helper_values.py").write_text("SCALE = 0.5\n")
    assert git(project, "status", "--porcelain") == ""  # `ignore = all` hides the edit
    runs = run_directories(project)

    result = run_py_importing(project, env_path, *QUICK)

    assert_refused(result, "libs/helper")
    assert run_directories(project) == runs


def test_data_and_logs_may_be_symlinks(project, tmp_path):
    # Data on another disk, run directories on shared storage: both linked in.
    shutil.move(project / "data", tmp_path / "data")
    (tmp_path / "logs").mkdir()
    (project / "data").symlink_to(tmp_path / "data")
    (project / "logs").symlink_to(tmp_path / "logs")

    result = run_py(project, *QUICK)

    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "logs").glob("*/*/metadata.yaml"))) == 1
