"""The generated projects' own test suites, each test run once where its code differs.

The bake with every option on runs its whole suite, the machinery tier included, in
parts that the template's two test workers share. Every other covering bake runs its
researcher's tests, the toolkit's journey through run.py (train, stop, resume, evaluate,
list, compare), and the toolkit tests whose code differs from the full bake's: the same
test with the same code has already run there (suites.py)."""

import subprocess
from pathlib import Path

import pytest
from conftest import checked, combination_id, covering_combinations, git
from suites import differing_tests
from test_bake import run_ci_step

FULL = {
    "task": "trajectory",
    "include_rollout_phase": True,
    "multi_gpu": True,
    "slurm": True,
    "tracker": "none",
}
# A tracker is whole files that only a logged run calls, and every logged run of a bake
# with one pays for it (a store, the tracker's import): the covering bakes leave it out,
# and one more per tracker, the full bake with it, runs its tests and the journey mirrored.
OTHERS = [
    *(answers for answers in covering_combinations(tracker="none") if answers != FULL),
    {**FULL, "tracker": "mlflow"},
    {**FULL, "tracker": "wandb"},
]
TOOLKIT = "tests/toolkit"
SEVERAL_PROCESSES = [
    f"{TOOLKIT}/{name}.py"
    for name in (
        "test_distributed_failures",
        "test_distributed_resume",
        "test_distributed_training",
        "test_slurm_jobs",
        "test_slurm_requeue",
        "test_slurm_sweeps",
        "test_slurm_tasks",
    )
]
SWEEPS = [
    f"{TOOLKIT}/{name}.py"
    for name in (
        "test_sweep",
        "test_sweep_jobs",
        "test_sweep_report",
        "test_search_lost_study",
        "test_search_refusals",
        "test_search_trials",
    )
]
# The full bake's machinery tier (its workflow's machinery job) in parts of a few
# minutes each, by file, and about how many minutes each takes on one core.
SWEEP_RECORDS = [f"{TOOLKIT}/test_sweep_records.py", f"{TOOLKIT}/test_sweep_sequences.py"]
MACHINERY_PARTS = {
    "several processes and SLURM": (SEVERAL_PROCESSES, 8),
    "sweeps and search": (SWEEPS, 7),
    "sweep records": (SWEEP_RECORDS, 2),
    "the rest": (
        [TOOLKIT, *(f"--ignore={path}" for path in SEVERAL_PROCESSES + SWEEPS + SWEEP_RECORDS)],
        7,
    ),
}


@pytest.fixture(scope="session")
def full_bake(cookies_session) -> Path:
    result = cookies_session.bake(extra_context=checked(FULL))
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def passed(result: subprocess.CompletedProcess, project: Path) -> None:
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.slow(minutes=2)
def test_the_full_bakes_default_tests_pass(full_bake):
    """`pytest` as the project's checks job runs it: the researcher's tests and the
    toolkit's quick ones."""
    passed(run_ci_step(full_bake, "Tests", "-q", "-p", "no:cacheprovider"), full_bake)


@pytest.mark.parametrize(
    "part",
    [
        pytest.param(name, marks=pytest.mark.slow(minutes=minutes), id=name)
        for name, (_, minutes) in MACHINERY_PARTS.items()
    ],
)
def test_the_full_bakes_machinery_tests_pass(part, full_bake):
    """`pytest -m machinery`, as the project's machinery job runs it, a part at a time."""
    paths, _ = MACHINERY_PARTS[part]
    result = run_ci_step(
        full_bake, "Machinery tests", "-q", "-p", "no:cacheprovider", *paths, job="machinery"
    )
    passed(result, full_bake)


def collected(project: Path, *arguments: str) -> set[str]:
    result = run_ci_step(
        project,
        "Machinery tests",
        "-q",
        "-p",
        "no:cacheprovider",
        "--collect-only",
        *arguments,
        job="machinery",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return {line for line in result.stdout.splitlines() if "::" in line}


def selected(test_ids: set[str], arguments: list[str]) -> set[str]:
    """The tests of `test_ids` that pytest runs given `arguments`: files, and folders
    less the files --ignore'd."""
    ignored = {argument.split("=", 1)[1] for argument in arguments if argument.startswith("--")}
    paths = [argument for argument in arguments if not argument.startswith("--")]
    return {
        test_id
        for test_id in test_ids
        for file in [test_id.split("::")[0]]
        if file not in ignored
        and any(file == path or file.startswith(f"{path}/") for path in paths)
    }


def test_the_machinery_parts_run_every_machinery_test_once(full_bake):
    """Collected once (a collection imports the toolkit and torch: seconds), and split
    by file as each part's arguments split it."""
    whole = collected(full_bake)
    assert len(whole) > 100
    for paths, _ in MACHINERY_PARTS.values():
        assert [
            path for path in paths if not (full_bake / path.removeprefix("--ignore=")).exists()
        ] == []
    parts = [selected(whole, paths) for paths, _ in MACHINERY_PARTS.values()]
    assert sum(map(len, parts)) == len(whole) and set().union(*parts) == whole


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(answers, marks=pytest.mark.slow(minutes=2), id=combination_id(answers))
        for answers in OTHERS
    ],
)
def test_a_covering_bake_passes_the_tests_its_answers_change(answers, cookies_session, full_bake):
    baked = cookies_session.bake(extra_context=checked(answers))
    assert baked.exit_code == 0, baked.exception
    project = Path(baked.project_path)
    # A tracker's bake differs from the full one in the tracker's files and in what
    # --list shows after a run's status: its researcher's tests are the full bake's, its
    # journey runs mirrored, and the listing's tests read the rows its detail widens.
    tracker = answers["tracker"] != "none"
    researchers = sorted(
        str(path.relative_to(project))
        for path in (project / "tests").glob("test_*.py")
        if not tracker
    )
    listing = [f"{TOOLKIT}/test_runs.py", f"{TOOLKIT}/test_compare.py"] if tracker else []
    differing = differing_tests(project, full_bake)
    print(f"{len(differing)} toolkit tests differ from the full bake's:", *differing, sep="\n")
    result = run_ci_step(
        project,
        "Tests",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "''",
        *researchers,
        f"{TOOLKIT}/test_journey.py",
        *listing,
        *differing,
    )
    passed(result, project)
