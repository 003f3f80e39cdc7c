"""Every prompt combination bakes a clean, lint-free repository with no template residue."""

import re
import sys

import pytest
from conftest import git, run

# Files by path; the package's modules by name, as the package's name follows the task.
SOURCE = {
    ".gitignore", "README.md", "pyproject.toml", "run.py", "sample_runconfig.yaml",
    "scripts/make_dataset.py",
    "tests/conftest.py", "tests/test_config.py", "tests/test_data.py", "tests/test_datasets.py",
    "tests/test_experiment.py", "tests/test_run.py", "tests/test_runs.py",
}
MODULES = {"__init__", "config", "data_loader", "errors", "experiment", "losses", "model",
           "random_state", "repo", "rerun", "runs", "schema", "stopping", "train"}
TASK_MODULES = {"trajectory": {"arm"}, "classification": {"shapes"}, "blank": set()}
# Tests that train: a blank project has nothing to train until its user writes the task.
TRAINING_TESTS = {"tests/test_rerun.py", "tests/test_resume.py"}
MULTI_GPU_TESTS = {"tests/test_distributed.py"}


def modules(project, *names: str) -> set[str]:
    return {f"src/{project.name}/{name}.py" for name in names}
# Words that must not appear anywhere in a project that declined the rollout phase.
ROLLOUT_WORDS = re.compile(r"rollout|eval_|evaluation_loop|final_distance", re.IGNORECASE)
# ... nor in a project that declined multi-GPU.
DISTRIBUTED_WORDS = re.compile(
    r"distributed|multigpu|multi-gpu|multi-node|torchrun|DDP|gloo|nccl|rank|world_size",
    re.IGNORECASE)
RESIDUE = re.compile(r"\{\{|\{%|%\}|\{#|cookiecutter\.")  # Jinja openers; `}}` is valid Python


def tracked_files(project):
    return set(git(project, "ls-files").splitlines())


def test_the_exact_file_set_is_committed(baked):
    answers, project = baked
    expected = SOURCE | modules(project, *MODULES, *TASK_MODULES[answers["task"]])
    if answers["task"] != "blank":
        expected |= TRAINING_TESTS
    if answers["multi_gpu"]:
        expected |= modules(project, "distributed")
        if answers["task"] != "blank":
            expected |= MULTI_GPU_TESTS
    assert tracked_files(project) == expected


def test_one_commit_on_main_and_a_clean_tree(baked):
    _, project = baked
    assert git(project, "branch", "--show-current") == "main"
    assert git(project, "rev-list", "--count", "HEAD") == "1"
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""


def test_no_template_residue(baked):
    _, project = baked
    for name in tracked_files(project):
        text = (project / name).read_text()
        assert not RESIDUE.search(text), f"{name}: {RESIDUE.search(text).group()!r}"
        assert "\n\n\n\n" not in text, f"{name}: a run of blank lines"
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{name}: file end"
        for number, line in enumerate(text.splitlines(), 1):
            assert line == line.rstrip(), f"{name}:{number}: trailing whitespace"


def test_ruff_finds_nothing(baked):
    _, project = baked
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], project)
    assert result.returncode == 0, result.stdout


def test_rollout_phase_is_there_only_when_asked_for(baked):
    answers, project = baked
    mentions = {name for name in tracked_files(project)
                if ROLLOUT_WORDS.search((project / name).read_text())}
    if answers["include_rollout_phase"]:
        assert {"run.py", "sample_runconfig.yaml",
                *modules(project, "train", "model", "schema")} <= mentions
    else:
        assert mentions == set()


def test_multi_gpu_code_is_there_only_when_asked_for(baked):
    answers, project = baked
    mentions = {name for name in tracked_files(project)
                if DISTRIBUTED_WORDS.search((project / name).read_text())}
    if answers["multi_gpu"]:
        assert {"README.md", "run.py", "sample_runconfig.yaml", *modules(
            project, "train", "schema", "data_loader", "experiment", "distributed")} <= mentions
    else:
        assert mentions == set()


@pytest.mark.slow
def test_the_generated_test_suite_passes(baked):
    _, project = baked
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
