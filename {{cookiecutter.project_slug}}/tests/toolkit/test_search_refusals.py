"""A search refused before anything is logged: a bad range, a varied selection metric,
another search's study or a missing Optuna; and the sample search, valid as committed."""

import subprocess
import sys

import pytest
import yaml
from harness import (
    environment,
    read_yaml,
    run_py,
    sweep_file,
    sweep_record,
)
from search_harness import QUICK

# Optuna is the [search] extra: pip install -e ".[search]".
optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.machinery


def test_a_bad_search_is_refused_before_anything_is_logged(project, tmp_path):
    mistakes = {
        "model_parameters.learning_rate: {low: 0.01, high: 0.001}": (
            "learning_rate: low (0.01) must be below high (0.001)"
        ),
        "epochs: {low: 0, high: 3}": "search.params.epochs, low 0",
        "epochs: {low: 1, high: 2.5}": "epochs is an integer in the config",
        "batch_size: {choices: [8, -1]}": "search.params.batch_size, choice -1",
        "model_parameters.learning_rat: {low: 0.001, high: 0.01}": "learning_rat",
        "epochs: {high: 3}": "search.params.epochs: expected a range",
    }
    for params, named in mistakes.items():
        text = f"search:\n  trials: 2\n  params:\n    {params}\n"
        result = run_py(project, *QUICK, "--sweep", str(sweep_file(tmp_path, text)))
        assert result.returncode == 2, (params, result.stderr)
        assert result.stderr.startswith("error: ") and named in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    combined = sweep_file(
        tmp_path, "seeds: [1, 2]\nsearch:\n  trials: 2\n  params:\n    epochs: {low: 1, high: 2}\n"
    )
    result = run_py(project, *QUICK, "--sweep", str(combined))
    assert result.returncode == 2 and "leave out seeds" in result.stderr, result.stderr
    assert not (project / "logs").exists()
    unreachable = sweep_file(
        tmp_path,
        "search:\n  trials: 2\n  storage: not-a-database-url\n"
        "  params:\n    epochs: {low: 1, high: 2}\n",
    )
    result = run_py(project, *QUICK, "--sweep", str(unreachable))
    assert result.returncode == 2, result.stderr
    assert "cannot open the study" in result.stderr and "not-a-database-url" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((project / "logs" / "sweeps").iterdir())  # its directory removed


def test_a_search_may_not_vary_the_selection_metric_or_mode(project, tmp_path):
    # Its study optimises one metric in one direction: trials selecting on others would
    # be compared with each other (a train/loss of 0.004 "beating" a distance of 1.5).
    for key, spec in {
        "selection.metric": "{choices: [val/loss, train/loss]}",
        "selection.mode": "{choices: [min, max]}",
        "selection": "{choices: [null]}",
    }.items():
        text = f"search:\n  trials: 2\n  params:\n    {key}: {spec}\n"
        result = run_py(project, *QUICK, "--sweep", str(sweep_file(tmp_path, text)))
        assert result.returncode == 2, (key, result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith(f"error: {tmp_path / 'sweep.yaml'}: search.params.{key}: ")
        assert "one metric in one direction" in line and "grid sweep" in line, line
    assert not (project / "logs").exists()
    # Patience only says when a trial stops: the study's objective stays the same.
    text = "search:\n  trials: 2\n  params:\n    selection.patience: {low: 1, high: 3}\n"
    result = run_py(project, *QUICK, "--sweep", str(sweep_file(tmp_path, text)), "--print-config")
    assert result.returncode == 0, result.stderr


def test_a_study_belongs_to_one_search_and_others_are_refused(project, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    shared = (
        f"search:\n  trials: 1\n  storage: {storage}\n  study_name: shared\n"
        "  pruner: none\n  params:\n"
    )
    rate = "    model_parameters.learning_rate: {low: 0.001, high: 0.01}\n"
    first = run_py(project, *QUICK, "--sweep", str(sweep_file(tmp_path, shared + rate)))
    assert first.returncode == 0, first.stderr
    refusals = {  # another search, the same storage and study_name: what differs
        "base config": (*QUICK, "--modify", "model_parameters.hidden_size", "32"),
        "selection metric": (*QUICK, "--modify", "selection.metric", "train/loss"),
        "direction": (*QUICK, "--modify", "selection.mode", "max"),
        "params": QUICK,  # with a param of its own, below
    }
    for differs, arguments in refusals.items():
        params = rate + ("    batch_size: {choices: [64, 128]}\n" if differs == "params" else "")
        result = run_py(project, *arguments, "--sweep", str(sweep_file(tmp_path, shared + params)))
        assert result.returncode == 2, (differs, result.stderr)
        [line] = result.stderr.splitlines()
        assert "the study shared in " + storage in line and differs in line, line
        assert "Traceback" not in result.stderr
    assert len(list((project / "logs" / "sweeps").iterdir())) == 1  # no record of theirs
    # The same search on another machine joins the study: that is how machines share one.
    second = run_py(project, *QUICK, "--sweep", str(sweep_file(tmp_path, shared + rate)))
    assert second.returncode == 0, second.stderr
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE"]
    records = [
        sweep_record(directory) for directory in sorted((project / "logs" / "sweeps").iterdir())
    ]
    assert [[point["trial"] for point in record["points"]] for record in records] == [[0], [1]]


def test_a_search_without_optuna_is_refused_with_the_install_hint(project, tmp_path):
    # An Optuna that cannot be imported: what a project installed without [search] has.
    missing = tmp_path / "no_optuna"
    (missing / "optuna").mkdir(parents=True)
    (missing / "optuna" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'optuna'\")\n"
    )
    env = environment(project)
    env["PYTHONPATH"] = f"{missing}:{env['PYTHONPATH']}"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "run.py", *args],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )

    search = sweep_file(
        tmp_path, "search:\n  trials: 2\n  params:\n    epochs: {low: 1, high: 2}\n"
    )
    result = run(*QUICK, "--sweep", str(search))
    assert result.returncode == 2, result.stderr
    assert "needs Optuna" in result.stderr and "pip install -e '.[search]'" in result.stderr
    assert not (project / "logs").exists()
    # A grid sweep and a single run never import it.
    grid = tmp_path / "grid.yaml"
    grid.write_text("seeds: [1, 2]\n")
    for arguments in [(*QUICK, "--sweep", str(grid), "--print-config"), (*QUICK, "--print-config")]:
        result = run(*arguments)
        assert result.returncode == 0, result.stderr


def test_the_sample_search_is_valid_as_committed(project):
    result = run_py(
        project, "sample_runconfig.yaml", "--sweep", "sample_search.yaml", "--print-config"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# every trial of the search: this config")
    assert (
        yaml.safe_load(result.stdout)["model_type"]
        == read_yaml(project / "sample_runconfig.yaml")["model_type"]
    )
    assert not (project / "logs").exists()
