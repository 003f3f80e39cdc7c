"""A generated project can follow the template: it records the answers and template
version it was made with, bakes again from that record, and takes updates through cruft."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import PROMPTS, TEMPLATE, git, run

ANSWERS = {"task": "classification", "project_name": "Lab Shapes", "author_name": "Grace",
           "multi_gpu": True, "include_rollout_phase": False}
# Stands in for the author and committer of the user's own commits in these tests.
IDENTITY = {"GIT_AUTHOR_NAME": "Grace", "GIT_AUTHOR_EMAIL": "grace@example.com",
            "GIT_COMMITTER_NAME": "Grace", "GIT_COMMITTER_EMAIL": "grace@example.com"}


def cookiecutter(*args: str, cwd: Path):
    return run([sys.executable, "-m", "cookiecutter", *args], cwd)


def cruft(*args: str, cwd: Path):
    return run([sys.executable, "-m", "cruft", *args], cwd, **IDENTITY)


def committed_contents(project: Path) -> dict[str, bytes]:
    return {name: (project / name).read_bytes() for name in git(project, "ls-files").split()}


def test_the_replay_file_records_the_public_answers_and_bakes_the_same_project(tmp_path):
    answers = [f"{key}={str(value).lower() if isinstance(value, bool) else value}"
               for key, value in ANSWERS.items()]
    made = cookiecutter("--no-input", "--output-dir", "first", str(TEMPLATE), *answers,
                        cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "first" / "lab_shapes"
    record = json.loads((project / ".cookiecutter.json").read_text())
    assert record["template_version"] == PROMPTS["_template_version"]
    # Every prompt's answer, and nothing private: no paths of the machine it was made on.
    public = [key for key in PROMPTS if not key.startswith("_")]
    assert list(record["cookiecutter"]) == public
    assert record["cookiecutter"] | ANSWERS == record["cookiecutter"]

    again = cookiecutter("--replay-file", str(project / ".cookiecutter.json"),
                         "--output-dir", "again", str(TEMPLATE), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert committed_contents(tmp_path / "again" / "lab_shapes") == committed_contents(project)


def template_copy(destination: Path) -> Path:
    """The template as it is in this working tree, committed in a repository of its own
    (cruft reads templates from git)."""
    files = git(TEMPLATE, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, files.split("\0")):
        if (TEMPLATE / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, destination / name)
    git(destination, "init", "--quiet")
    commit_all(destination, "template")
    return destination


def commit_all(repository: Path, message: str) -> None:
    for command in (["add", "--all"],
                    ["-c", "commit.gpgsign=false", "commit", "--quiet", "-m", message]):
        result = run(["git", *command], repository, **IDENTITY)
        assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_cruft_creates_a_project_and_brings_a_later_template_change_into_it(tmp_path):
    template = template_copy(tmp_path / "template")
    created = cruft("create", "--no-input", "--output-dir", "projects", str(template),
                    cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "projects" / "reaching_policy"
    assert (project / ".cruft.json").exists() and not (project / ".git").exists()

    # The user makes the first commit as the hook told them, then works on the project.
    [first_commit] = [line.split("run: ", 1)[1] for line in created.stdout.splitlines()
                      if "run: git init" in line]
    made = run(["bash", "-c", first_commit], project, **IDENTITY)
    assert made.returncode == 0, made.stderr
    with open(project / "README.md", "a") as file:
        file.write("\n## Results\n\nOurs.\n")
    commit_all(project, "Our results")

    # A later template release: a new version and one more ignored folder.
    prompts = json.loads((template / "cookiecutter.json").read_text())
    prompts["_template_version"] = "99.0.0"
    (template / "cookiecutter.json").write_text(json.dumps(prompts, indent=2) + "\n")
    with open(template / "{{cookiecutter.project_slug}}" / ".gitignore", "a") as file:
        file.write("# Models exported for sharing.\nexports/\n")
    commit_all(template, "Release 99.0.0")

    assert cruft("check", cwd=project).returncode != 0
    updated = cruft("update", "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (project / ".gitignore").read_text().endswith("exports/\n")
    assert "## Results" in (project / "README.md").read_text()  # the user's work is kept
    record = json.loads((project / ".cookiecutter.json").read_text())
    assert record["template_version"] == "99.0.0"
    assert '"99.0.0"' in (project / "src" / "reaching_policy" / "__init__.py").read_text()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == git(
        template, "rev-parse", "HEAD")
    assert cruft("check", cwd=project).returncode == 0
