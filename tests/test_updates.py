"""A generated project can follow the template: it records the answers and template
version it was made with, bakes again from that record, and takes updates through cruft."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROMPTS, TEMPLATE, git, run

# The last release before the generated package was split into the researcher's files and
# toolkit/ (0.3.0): projects made with it must be able to follow.
RELEASE_0_2_1 = "1cf674d2d4e3e716061f074acedecba00e3af3f7"
ANSWERS = {
    "task": "classification",
    "project_name": "Lab Shapes",
    "author_name": "Grace",
    "multi_gpu": True,
    "include_rollout_phase": False,
}
# Stands in for the author and committer of the user's own commits in these tests.
IDENTITY = {
    "GIT_AUTHOR_NAME": "Grace",
    "GIT_AUTHOR_EMAIL": "grace@example.com",
    "GIT_COMMITTER_NAME": "Grace",
    "GIT_COMMITTER_EMAIL": "grace@example.com",
}


def cookiecutter(*args: str, cwd: Path):
    return run([sys.executable, "-m", "cookiecutter", *args], cwd)


def cruft(*args: str, cwd: Path):
    return run([sys.executable, "-m", "cruft", *args], cwd, **IDENTITY)


def committed_contents(project: Path) -> dict[str, bytes]:
    return {name: (project / name).read_bytes() for name in git(project, "ls-files").split()}


def test_the_replay_file_records_the_public_answers_and_bakes_the_same_project(tmp_path):
    answers = [
        f"{key}={str(value).lower() if isinstance(value, bool) else value}"
        for key, value in ANSWERS.items()
    ]
    made = cookiecutter(
        "--no-input", "--output-dir", "first", str(TEMPLATE), *answers, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "first" / "lab_shapes"
    record = json.loads((project / ".cookiecutter.json").read_text())
    assert record["template_version"] == PROMPTS["_template_version"]
    # Every prompt's answer, and nothing private: no paths of the machine it was made on.
    public = [key for key in PROMPTS if not key.startswith("_")]
    assert list(record["cookiecutter"]) == public
    assert record["cookiecutter"] | ANSWERS == record["cookiecutter"]

    again = cookiecutter(
        "--replay-file",
        str(project / ".cookiecutter.json"),
        "--output-dir",
        "again",
        str(TEMPLATE),
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert committed_contents(tmp_path / "again" / "lab_shapes") == committed_contents(project)


def template_copy(destination: Path) -> Path:
    """The template as it is in this working tree, committed in a repository of its own
    (cruft reads templates from git)."""
    copy_working_tree(destination)
    git(destination, "init", "--quiet")
    commit_all(destination, "template")
    return destination


def copy_working_tree(destination: Path) -> None:
    """The template's files as they are in this working tree, committed or not."""
    files = git(TEMPLATE, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, files.split("\0")):
        if (TEMPLATE / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, destination / name)


def commit_all(repository: Path, message: str) -> None:
    for command in (
        ["add", "--all"],
        ["-c", "commit.gpgsign=false", "commit", "--quiet", "-m", message],
    ):
        result = run(["git", *command], repository, **IDENTITY)
        assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_cruft_creates_a_project_and_brings_a_later_template_change_into_it(tmp_path):
    template = template_copy(tmp_path / "template")
    created = cruft("create", "--no-input", "--output-dir", "projects", str(template), cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "projects" / "reaching_policy"
    assert (project / ".cruft.json").exists() and not (project / ".git").exists()

    # The user makes the first commit as the hook told them, then works on the project.
    [first_commit] = [
        line.split("run: ", 1)[1] for line in created.stdout.splitlines() if "run: git init" in line
    ]
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
    version_file = project / "src" / "reaching_policy" / "toolkit" / "__init__.py"
    assert '"99.0.0"' in version_file.read_text()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == git(
        template, "rev-parse", "HEAD"
    )
    assert cruft("check", cwd=project).returncode == 0


def test_a_project_made_at_0_2_1_moves_into_the_two_rooms_keeping_its_own_edits(tmp_path):
    """The CHANGELOG's route for 0.3.0: `cruft update` moves the toolkit's files into
    toolkit/ and keeps what the researcher changed in their own files."""
    template = tmp_path / "template"
    template.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(TEMPLATE), "archive", RELEASE_0_2_1], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(template)], input=archive, check=True)
    git(template, "init", "--quiet")
    commit_all(template, "Release 0.2.1")
    old_release = git(template, "rev-parse", "HEAD")
    created = cruft(
        "create",
        "--no-input",
        "--checkout",
        old_release,
        "--output-dir",
        "projects",
        str(template),
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "projects" / "reaching_policy"
    git(project, "init", "--quiet", "--initial-branch", "main")
    commit_all(project, "Initial commit")
    model = project / "src" / "reaching_policy" / "model.py"
    # A line that ruff format left as it was: an edit to a line the template reformatted
    # since (the signature above it) conflicts, as cruft says.
    model.write_text(
        model.read_text().replace("hidden_size), nn.ReLU()]", "hidden_size), nn.Tanh()]")
    )
    commit_all(project, "A smoother policy")

    # The new release replaces the old one's files in the template repository.
    for name in git(template, "ls-files", "-z").split("\0"):
        if name:
            (template / name).unlink()
    copy_working_tree(template)
    commit_all(template, "Release 0.3.0")

    updated = cruft("update", "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    package = project / "src" / "reaching_policy"
    assert (package / "toolkit" / "run_directory.py").exists()
    assert not (package / "run_directory.py").exists()
    assert "hidden_size), nn.Tanh()]" in model.read_text()  # the researcher's edit survives
    commit_all(project, "Template 0.3.0")
    checked = run(
        [sys.executable, "run.py", "sample_runconfig.yaml", "--print-config"],
        project,
        PYTHONPATH=str(project / "src"),
    )
    assert checked.returncode == 0, checked.stderr
    assert cruft("check", cwd=project).returncode == 0


def test_the_changelogs_newest_release_is_the_template_version():
    """A project records `_template_version`; the CHANGELOG must say what that version
    holds, as a dated release."""
    headings = re.findall(
        r"^## (\S+) \((.+)\)$", (TEMPLATE / "CHANGELOG.md").read_text(), re.MULTILINE
    )
    version, date = headings[0]
    assert version == PROMPTS["_template_version"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", date), f"{version} is {date}"
