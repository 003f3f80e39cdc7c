"""--rerun: a logged experiment reproduced at its own commit, the checkout left alone."""

import yaml
from conftest import git, run_directories, run_py

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "2",
         "--modify", "batch_size", "32")


def metadata_of(run_directory) -> dict:
    return yaml.safe_load((run_directory / "metadata.yaml").read_text())


def test_rerun_reproduces_a_run_made_with_older_code(project):
    assert run_py(project, *QUICK).returncode == 0
    [original] = run_directories(project)
    recorded = metadata_of(original)

    # Later work changes what the same config does; the re-run must not see it.
    model_file = next((project / "src").glob("*/model.py"))
    model_file.write_text(model_file.read_text().replace("nn.ReLU()", "nn.Tanh()"))
    git(project, "commit", "--quiet", "--all", "-m", "a new activation")
    head = git(project, "rev-parse", "HEAD")

    result = run_py(project, "--rerun", str(original))
    assert result.returncode == 0, result.stderr
    assert "final results match bit for bit" in result.stdout

    [rerun] = [run for run in run_directories(project) if run != original]
    metadata = metadata_of(rerun)
    assert metadata["rerun_of"] == str(original)
    assert metadata["git"]["commit"] == recorded["git"]["commit"] != head
    assert metadata["config"] == recorded["config"]
    assert metadata["progress"]["last_results"] == recorded["progress"]["last_results"]
    # The user's checkout is untouched and no worktree is left behind.
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
    assert len(git(project, "worktree", "list").splitlines()) == 1


def test_rerun_needs_a_run_directory(project, tmp_path):
    result = run_py(project, "--rerun", str(tmp_path))
    assert result.returncode == 2
    assert "is not a run directory" in result.stderr and "Traceback" not in result.stderr
