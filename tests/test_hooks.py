"""The hooks: bad answers are refused up front, and git set-up never fails a bake."""

import sys
import tomllib
from pathlib import Path

import pytest
from conftest import TEMPLATE, git, run
from cookiecutter.main import cookiecutter


@pytest.mark.parametrize(
    "slug, reason",
    [
        ("Reaching-Policy", "not a lowercase Python identifier"),
        ("1st_project", "not a lowercase Python identifier"),
        ("class", "Python keyword"),
        ("json", "standard library"),
        ("logging", "standard library"),
        ("test", "would shadow"),
        ("torch", "depends on"),
        ("yaml", "depends on"),
        ("git", "depends on"),
        ("run", "depends on or uses"),
    ],
)
def test_bad_slugs_are_refused_with_the_reason_first(tmp_path, slug, reason):
    result = run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(tmp_path),
            str(TEMPLATE),
            f"project_slug={slug}",
        ],
        tmp_path,
    )
    assert result.returncode != 0
    first_line = result.stderr.lstrip().splitlines()[0]
    assert first_line.startswith(f"ERROR: project_slug {slug!r}") and reason in first_line
    assert list(tmp_path.iterdir()) == []


def test_quotes_and_backslashes_in_answers_survive(bake):
    name = 'Ada\'s "Arm" \\ Lab'
    result = bake(project_name=name, author_name='O"Brien \\ Co', description='a "quoted" one')
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    assert project.name == "ada_s_arm_lab"
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["authors"][0]["name"] == 'O"Brien \\ Co'
    assert metadata["description"] == 'a "quoted" one'
    assert git(project, "log", "-1", "--format=%s").startswith("Initial commit")


@pytest.mark.parametrize(
    "value, expected", [("yes", True), ("no", False), ("true", True), ("false", False)]
)
def test_booleans_from_the_command_line(tmp_path, value, expected):
    result = run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(tmp_path),
            str(TEMPLATE),
            f"include_rollout_phase={value}",
            "project_slug=arm_lab",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    config = (tmp_path / "arm_lab" / "sample_runconfig.yaml").read_text()
    assert ("rollout_data_loader_type" in config) is expected


def test_no_git_identity_uses_the_author_answers_locally(bake, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ):
        monkeypatch.delenv(variable, raising=False)
    result = bake(author_name="Grace Hopper", author_email="grace@example.com")
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    assert git(project, "log", "-1", "--format=%an <%ae>") == "Grace Hopper <grace@example.com>"
    assert git(project, "config", "--local", "user.name") == "Grace Hopper"


def test_missing_git_warns_and_keeps_the_project(bake, monkeypatch, tmp_path, capfd):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = bake()
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    assert (project / "run.py").exists()
    assert not (project / ".git").exists()
    assert "git was not found" in capfd.readouterr().err


@pytest.fixture
def outer_repository(tmp_path):
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "--quiet")
    (outer / "file.txt").write_text("outer\n")
    git(outer, "add", "file.txt")
    git(
        outer,
        "-c",
        "user.name=Outer",
        "-c",
        "user.email=outer@example.com",
        "commit",
        "--quiet",
        "-m",
        "outer",
    )
    return outer


def commits(repository: Path) -> list[str]:
    return git(repository, "rev-list", "HEAD").splitlines()


def test_inside_another_repository_the_project_gets_its_own(outer_repository):
    before = commits(outer_repository)
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(outer_repository)))
    assert (project / ".git").is_dir()
    assert git(project, "rev-parse", "--show-toplevel") == str(project.resolve())
    assert len(commits(project)) == 1
    assert commits(outer_repository) == before


def test_a_leaked_git_dir_does_not_redirect_the_first_commit(bake, monkeypatch, outer_repository):
    before = commits(outer_repository)
    monkeypatch.setenv("GIT_DIR", str(outer_repository / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(outer_repository))
    result = bake()
    assert result.exit_code == 0, result.exception
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    assert commits(outer_repository) == before
    assert len(commits(Path(result.project_path))) == 1


def test_answers_reach_the_hooks_as_json_not_as_source():
    for hook in (TEMPLATE / "hooks").glob("*.py"):
        source = hook.read_text()
        assert "'{{" not in source and '"{{' not in source, hook.name
        assert "| tojson" in source, hook.name
