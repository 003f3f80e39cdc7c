"""Baking helpers shared by the template's tests.

Every combination of the choice and boolean prompts in cookiecutter.json is baked
once per session (a tracker, with fewer: see COMBINATIONS); a new prompt joins the
matrix without touching the tests.
"""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
PROMPTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
OPTIONS = {
    key: value if isinstance(value, list) else [True, False]
    for key, value in PROMPTS.items()
    if not key.startswith("_") and isinstance(value, (list, bool))
}
COMBINATIONS = [
    dict(zip(OPTIONS, values, strict=True)) for values in itertools.product(*OPTIONS.values())
]
# A tracker is whole files of its own that no other option's code touches: each one is
# baked with every task and the yes/no options all on or all off (every pair of its
# answer with another prompt's), not in the full product, which would double the bakes.
COMBINATIONS = [
    answers
    for answers in COMBINATIONS
    if answers["tracker"] == "none"
    or len({value for value in answers.values() if isinstance(value, bool)}) == 1
]


def answer_pairs(answers: dict) -> set[frozenset]:
    return {frozenset(pair) for pair in itertools.combinations(answers.items(), 2)}


def covering_combinations(**fixed) -> list[dict]:
    """Few combinations in which every pair of answers to two prompts occurs (picked
    greedily: 6 of the 12 for 3 tasks and two yes/no prompts), among those with the
    answers `fixed` (tracker="none", say), if given.

    A generated project's own suite takes minutes, so it runs on these: every task with
    and without each option, and every two options together, while the quick checks
    (file set, lint, residue) run on all combinations."""
    among = [
        answers
        for answers in COMBINATIONS
        if all(answers[key] == value for key, value in fixed.items())
    ]
    uncovered = set().union(*map(answer_pairs, among))
    chosen = []
    while uncovered:
        best = max(among, key=lambda answers: len(answer_pairs(answers) & uncovered))
        chosen.append(best)
        uncovered -= answer_pairs(best)
    return chosen


def combination_id(answers: dict) -> str:
    return "-".join(
        str(value) if not isinstance(value, bool) else f"{key}={value}"
        for key, value in answers.items()
    )


def checked(answers: dict) -> dict:
    # cookiecutter silently ignores unknown keys: a misspelt answer would test the default.
    unknown = set(answers) - set(PROMPTS)
    assert not unknown, f"not prompts of cookiecutter.json: {sorted(unknown)}"
    return answers


def clean_environment(**overrides: str) -> dict[str, str]:
    """os.environ without variables that point git elsewhere, plus `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    }
    env.update(overrides)
    return env


def run(command: list[str], cwd: Path, **overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd,
        env=clean_environment(**overrides),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )


def git(project: Path, *args: str) -> str:
    result = run(["git", *args], project)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def python(project: Path, *args: str, **overrides: str) -> subprocess.CompletedProcess:
    """Python in a baked project, importing that project's src/ first (as `pip install -e .`)."""
    return run([sys.executable, *args], project, PYTHONPATH=str(project / "src"), **overrides)


@pytest.hookimpl(trylast=True)  # after pytest's own ordering, which would undo this one
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, the longest first, each followed by a quick one.

    The suite's time is mostly in a few slow tests, shared by two workers
    (scripts/test.sh). A long one started last keeps one worker busy long after the
    other has run out of tests; and a worker holds the test after the one it runs, which
    an idle worker cannot take, so no slow test is put right behind another."""
    slow = sorted(
        (item for item in items if item.get_closest_marker("slow")),
        key=expected_minutes,
        reverse=True,
    )
    quick = [item for item in items if not item.get_closest_marker("slow")]
    ordered = []
    for item in slow:
        ordered += [item, *quick[:1]]
        quick = quick[1:]
    items[:] = ordered + quick


def expected_minutes(item: pytest.Item) -> float:
    """About how long a slow test takes on one core, to start the longest first: what its
    `slow` mark says (`@pytest.mark.slow(minutes=8)`), else two minutes."""
    return item.get_closest_marker("slow").kwargs.get("minutes", 2)


@pytest.fixture
def bake(cookies):
    def bake(**answers):
        return cookies.bake(extra_context=checked(answers))

    return bake


@pytest.fixture(scope="session", params=COMBINATIONS, ids=combination_id)
def baked(request, cookies_session):
    """(answers, project path) for one prompt combination, baked once per session."""
    result = cookies_session.bake(extra_context=checked(request.param))
    assert result.exit_code == 0, result.exception
    return request.param, Path(result.project_path)
