"""Search with Optuna: a sweep file's `search:` runs one logged run per trial of a
study (kept in the sweep's study.db), prunes a trial that is clearly worse after an
epoch, resumes an interrupted trial, and refuses a bad range, a varied selection metric,
another search's study or a missing Optuna before anything is logged. A study.db lost
during a search is rebuilt from the points' records; a trial that cannot reach its
study trains on without pruning."""

import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import yaml
from harness import (
    environment,
    read_yaml,
    run_directories,
    run_py,
    start,
    sweep_file,
    sweep_record,
    the_sweep,
)

from {{ cookiecutter.project_slug }}.toolkit import search, search_study
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.trial_pruning import TrialPruning

# Optuna is the [search] extra: pip install -e ".[search]".
optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.machinery

# One short epoch per trial: what is tested is the search, not the training.
QUICK = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "1")
# Many small steps and no timed checkpoints, so that a signal lands mid-training.
LONG = (
    "sample_runconfig.yaml",
    "--mini",
    "--cpu",
    "--modify",
    "batch_size",
    "2",
    "--modify",
    "checkpoint_interval",
    "null",
    "--modify",
    "epochs",
    "3",
)


def the_study(record: dict) -> optuna.Study:
    return optuna.load_study(
        study_name=record["search"]["study_name"], storage=record["search"]["storage"]
    )


def wait_for(started: subprocess.Popen, project, pattern: str) -> None:
    """Poll until a file matching `pattern` exists in the project."""
    deadline = time.monotonic() + 120
    while not list(project.glob(pattern)):
        assert started.poll() is None, started.communicate()
        assert time.monotonic() < deadline, f"no {pattern} within two minutes"
        time.sleep(0.01)


def test_a_search_runs_a_logged_run_per_trial_and_its_study_agrees(project, tmp_path):
    sweep = sweep_file(
        tmp_path,
        """\
search:
  trials: 3
  params:
    model_parameters.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
    log_interval: {low: 2, high: 10, step: 2}
    gradient_accumulation_steps: {choices: [1, 2]}
  pruner: none
""",
    )
    result = run_py(project, *QUICK, "--sweep", str(sweep))
    assert result.returncode == 0, result.stderr
    directory, record = the_sweep(project)
    assert record["status"] == "finished"
    config = read_yaml(project / "sample_runconfig.yaml")
    study = record["search"]
    assert study["storage"] == f"sqlite:///{directory / 'study.db'}"
    assert study["study_name"] == directory.name
    assert (study["metric"], study["direction"]) == (
        config["selection"]["metric"],
        "minimize" if config["selection"]["mode"] == "min" else "maximize",
    )
    points = record["points"]
    assert len(points) == 3
    assert sorted(project / point["run"] for point in points) == run_directories(project)
    trials = {trial.number: trial for trial in the_study(record).trials}
    assert sorted(trials) == [point["trial"] for point in points] == [0, 1, 2]
    for point in points:
        values = point["values"]
        assert 1e-4 <= values["model_parameters.learning_rate"] <= 1e-2
        assert values["log_interval"] in (2, 4, 6, 8, 10)  # an int key gives ints
        assert values["gradient_accumulation_steps"] in (1, 2)
        metadata = read_yaml(project / point["run"] / "metadata.yaml")
        assert point["status"] == metadata["status"] == "finished"
        assert metadata["sweep"]["trial"]["number"] == point["trial"]
        assert (
            metadata["config"]["model_parameters"]["learning_rate"]
            == (values["model_parameters.learning_rate"])
        )
        assert metadata["config"]["log_interval"] == values["log_interval"]
        trial = trials[point["trial"]]
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.params == values
        assert trial.value == metadata["best"]["value"]  # the run's selected value
        assert list(trial.intermediate_values) == [0]  # reported after its one epoch
    best = min if study["direction"] == "minimize" else max
    best_trial = best(trials.values(), key=lambda trial: trial.value)
    assert study["best"] == {
        "number": best_trial.number,
        "value": best_trial.value,
        "values": best_trial.params,
    }


def test_with_jobs_trials_run_side_by_side_each_asked_when_a_slot_frees(project, tmp_path):
    sweep = sweep_file(
        tmp_path,
        """\
search:
  trials: 4
  params:
    model_parameters.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
  pruner: none
""",
    )
    result = run_py(project, *QUICK, "--sweep", str(sweep), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "a search of 4 trials" in result.stdout and "up to 2 at once" in result.stdout
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    points = record["points"]
    assert [point["status"] for point in points] == ["finished"] * 4
    trials = {trial.number: trial for trial in the_study(record).trials}
    assert sorted(point["trial"] for point in points) == sorted(trials) == [0, 1, 2, 3]
    runs = [read_yaml(project / point["run"] / "metadata.yaml") for point in points]
    for point, run in zip(points, runs, strict=True):
        trial = trials[point["trial"]]
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.value == run["best"]["value"]
        assert (
            run["config"]["model_parameters"]["learning_rate"]
            == trial.params["model_parameters.learning_rate"]
        )
    # Run times (to the second) that overlap: two trials ran at once.
    times = [(run["started"], run["ended"]) for run in runs]
    assert any(
        start < other_end and other_start < end
        for index, (start, end) in enumerate(times)
        for other_start, other_end in times[index + 1 :]
    ), times


# Room for the worse trial to fall behind: in some bakes its metric was still ahead of
# the median until the third epoch.
EPOCHS = 6


def test_a_clearly_worse_trial_is_pruned_after_an_epoch(project, tmp_path):
    # A learning rate of 0 learns nothing: once the finished trial with a real rate is
    # better at the same epoch, the median pruner stops it there (after epoch 0, 1 or 2: an
    # untrained model may start out ahead). The random sampler's seed 0 draws the
    # choices good, bad, good.
    sweep = sweep_file(
        tmp_path,
        """\
search:
  trials: 3
  params:
    model_parameters.learning_rate: {choices: [0.0, 0.003]}
  sampler: random
  seed: 0
  pruner: {type: median, startup_trials: 1}
""",
    )
    result = run_py(project, *QUICK[:-1], str(EPOCHS), "--sweep", str(sweep))
    assert result.returncode == 0, result.stderr
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    rates = [point["values"]["model_parameters.learning_rate"] for point in record["points"]]
    assert rates == [0.003, 0.0, 0.003], "the sampler's draws changed: pick another seed"
    assert [point["status"] for point in record["points"]] == ["finished", "pruned", "finished"]
    pruned = record["points"][1]
    metadata = read_yaml(project / pruned["run"] / "metadata.yaml")
    assert metadata["status"] == "pruned"
    epochs = metadata["progress"]["epochs_completed"]
    assert epochs < EPOCHS and f"after epoch {epochs - 1}" in metadata["progress"]["pruned"]
    assert (project / pruned["run"] / f"model_epoch_{epochs - 1}.pth").exists()
    trials = the_study(record).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "PRUNED", "COMPLETE"]
    assert list(trials[1].intermediate_values) == list(range(epochs))
    listing = run_py(project, "--list")
    assert listing.returncode == 0, listing.stderr
    [row] = [line for line in listing.stdout.splitlines() if pruned["run"] in line]
    assert " pruned " in row


def test_an_interrupted_search_resumes_its_trial_and_asks_the_rest(project, tmp_path):
    sweep = sweep_file(
        tmp_path,
        "search:\n  trials: 2\n  params:\n"
        "    model_parameters.learning_rate: {low: 0.001, high: 0.01}\n"
        "  pruner: none\n",
    )
    started = start(project, *LONG, "--sweep", str(sweep))
    wait_for(started, project, "logs/*/*/model_epoch_0.pth")  # trial 0 is training
    started.send_signal(signal.SIGTERM)
    _, stderr = started.communicate(timeout=120)
    assert started.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    directory, record = the_sweep(project)
    [stopped] = record["points"]
    assert record["status"] == stopped["status"] == "interrupted"
    assert [trial.state.name for trial in the_study(record).trials] == ["RUNNING"]

    resumed = run_py(project, "--resume-sweep", str(directory))
    assert resumed.returncode == 0, resumed.stderr
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    assert [point["status"] for point in record["points"]] == ["finished", "finished"]
    assert record["points"][0]["run"] == stopped["run"]  # the same trial, in its own run
    metadata = read_yaml(project / stopped["run"] / "metadata.yaml")
    assert len(metadata["resumed"]) == 1
    trials = the_study(record).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE"]
    assert trials[0].value == metadata["best"]["value"]
    assert list(trials[0].intermediate_values) == [0, 1, 2]  # every epoch, resumed or not


# Two trials of two short epochs: time enough to lose the study while trial 0 trains, and
# a trial to ask after.
SEARCH_OF_TWO = (
    "search:\n  trials: 2\n  params:\n"
    "    model_parameters.learning_rate: {low: 0.001, high: 0.01}\n"
    "  pruner: none\n"
)
TWO_EPOCHS = (*LONG[:-1], "2")


def assert_the_study_agrees_with_the_points(project, record: dict) -> None:
    """Every point's trial is in the study, with the point's values and its run's best."""
    trials = the_study(record).trials
    assert [trial.number for trial in trials] == [point["trial"] for point in record["points"]]
    for point, trial in zip(record["points"], trials, strict=True):
        metadata = read_yaml(project / point["run"] / "metadata.yaml")
        assert point["status"] == metadata["status"] == "finished"
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert (trial.params, trial.value) == (point["values"], metadata["best"]["value"])


def test_a_study_deleted_while_a_trial_trains_is_rebuilt_from_the_points(project, tmp_path):
    started = start(project, *TWO_EPOCHS, "--sweep", str(sweep_file(tmp_path, SEARCH_OF_TWO)))
    wait_for(started, project, "logs/*/*/metadata.yaml")  # trial 0 is training
    directory, _ = the_sweep(project)
    (directory / "study.db").unlink()
    stdout, stderr = started.communicate(timeout=300)
    assert started.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    assert f"{directory / 'study.db'} is missing" in stderr
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    assert_the_study_agrees_with_the_points(project, record)
    # Trial 0 could not report to its trial: it trained on, without pruning, and says so.
    trial = read_yaml(project / record["points"][0]["run"] / "metadata.yaml")["sweep"]["trial"]
    assert trial["pruning_off"]["from_epoch"] in (0, 1), trial
    assert (
        "pruning_off"
        not in read_yaml(project / record["points"][1]["run"] / "metadata.yaml")["sweep"]["trial"]
    )


def test_a_damaged_study_is_moved_aside_and_rebuilt_from_the_points(project, tmp_path):
    started = start(project, *TWO_EPOCHS, "--sweep", str(sweep_file(tmp_path, SEARCH_OF_TWO)))
    wait_for(started, project, "logs/*/*/metadata.yaml")  # trial 0 is training
    directory, _ = the_sweep(project)
    junk = b"not a database " * 100
    (directory / "study.db").write_bytes(junk)
    stdout, stderr = started.communicate(timeout=300)
    assert started.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    assert_the_study_agrees_with_the_points(project, record)
    [damaged] = directory.glob("study.db.damaged-*")
    assert damaged.read_bytes() == junk and str(damaged) in stderr


def test_a_lost_study_of_a_named_storage_stops_the_sweep_until_restored(project, tmp_path):
    # A storage the sweep file names may hold other searches' studies: it is not rebuilt.
    storage = tmp_path / "lab.db"
    sweep = sweep_file(tmp_path, f"{SEARCH_OF_TWO}  storage: sqlite:///{storage}\n")
    started = start(project, *TWO_EPOCHS, "--sweep", str(sweep))
    wait_for(started, project, "logs/*/*/metadata.yaml")  # trial 0 is training
    shutil.copyfile(storage, tmp_path / "backup.db")
    storage.unlink()
    stdout, stderr = started.communicate(timeout=300)
    assert started.returncode == 2, stderr[-3000:]
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    [error] = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert str(storage) in error and "--resume-sweep" in error, error
    assert not storage.exists()  # not made again, empty, by the sweep or its trial
    directory, record = the_sweep(project)
    assert record["status"] == "interrupted"
    assert [point["status"] for point in record["points"]] == ["finished"]

    shutil.copyfile(tmp_path / "backup.db", storage)  # as it was: trial 0 running in it
    resumed = run_py(project, "--resume-sweep", str(directory))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    assert_the_study_agrees_with_the_points(project, record)


# A search's record as sweep.py makes it (study_record, with its checked params), for the
# tests that use search.py in this process.
PARAMS = {
    "model_parameters.learning_rate": {
        "kind": "float",
        "low": 1e-4,
        "high": 1e-2,
        "log": True,
        "step": None,
    },
    "log_interval": {"kind": "int", "low": 2, "high": 10, "log": False, "step": 2},
    "batch_size": {"kind": "choice", "choices": [64, 128]},
}
BASE = {"selection": {"metric": "val/loss", "mode": "min"}, "epochs": 3}


def search_record(directory, **given) -> dict:
    spec = {"trials": 10, "params": {}, "sampler": "random", "seed": 0, "pruner": "none", **given}
    return {**search.study_record(spec, directory, BASE), "params": PARAMS}


def values(rate: float, interval: int, batch: int) -> dict:
    return {"model_parameters.learning_rate": rate, "log_interval": interval, "batch_size": batch}


def test_a_lost_study_is_rebuilt_from_the_points_with_their_numbers(tmp_path, capsys):
    record = search_record(tmp_path)
    points = [  # as sweep.search_trials gives them; 3 is no point's (another sweep's)
        {"number": 0, "values": values(1e-3, 4, 64), "status": "finished", "value": 0.5},
        {"number": 1, "values": values(2e-3, 2, 128), "status": "pruned", "value": None},
        {"number": 2, "values": values(3e-3, 6, 64), "status": "failed", "value": None},
        {"number": 4, "values": values(4e-3, 8, 128), "status": "finished", "value": 0.25},
        {"number": 5, "values": values(5e-3, 10, 64), "status": "interrupted", "value": None},
        {"number": 6, "values": values(6e-3, 2, 128), "status": "pending", "value": None},
    ]
    study = search.open_study(record, tmp_path, lambda: points, asked=len(points))
    assert f"{tmp_path / 'study.db'} is missing" in capsys.readouterr().err
    trials = the_study({"search": record}).trials
    assert [(trial.number, trial.state.name, trial.value) for trial in trials] == [
        (0, "COMPLETE", 0.5),
        (1, "PRUNED", None),
        (2, "FAIL", None),
        (3, "FAIL", None),
        (4, "COMPLETE", 0.25),
        (5, "RUNNING", None),
        (6, "RUNNING", None),
    ]
    assert [trial.params for trial in trials if trial.number != 3] == [
        point["values"] for point in points
    ]
    assert the_study({"search": record}).user_attrs["search"] == search_study.search_attrs(record)
    # The interrupted trial is told as before once its run ends, and the next one asked
    # comes after the rebuilt ones.
    search.tell(study, 5, "finished", 0.125)
    assert search.best_trial(study) == {"number": 5, "value": 0.125, "values": points[4]["values"]}
    assert search.ask(study, PARAMS)[0] == 7


def test_a_study_a_sweep_file_names_is_not_rebuilt(tmp_path):
    storage = tmp_path / "lab.db"
    record = search_record(tmp_path, storage=f"sqlite:///{storage}")
    points = []
    study = search.open_study(record, tmp_path, lambda: points)
    number, asked = search.ask(study, PARAMS)
    points.append({"number": number, "values": asked, "status": "finished", "value": 1.0})
    search.tell(study, number, "finished", 1.0)
    with pytest.raises(UserError, match="Cannot tell for trial with number 7"):
        search.tell(study, 7, "finished", 1.0)  # no ValueError: the sweep stops on one line
    storage.unlink()
    with pytest.raises(UserError, match=f"{storage}: its file is missing.*--resume-sweep"):
        search.open_study(record, tmp_path, lambda: points, asked=1)
    assert not storage.exists()  # not made again, empty


def test_a_trial_whose_study_is_lost_or_not_its_own_trains_on_without_pruning(tmp_path, capsys):
    record = search_record(tmp_path)
    study = search.open_study(record, tmp_path, lambda: [])
    number, asked = search.ask(study, PARAMS)

    def trial_run(**changes) -> SimpleNamespace:
        trial = {
            "number": number,
            "study_name": record["study_name"],
            "storage": record["storage"],
            "pruner": record["pruner"],
            "search": search_study.search_attrs(record),
        }
        return SimpleNamespace(metadata={"sweep": {"values": asked, "trial": trial, **changes}})

    pruning = TrialPruning.of(trial_run())
    assert pruning.should_prune(0, 0.5) is False
    assert the_study({"search": record}).trials[0].intermediate_values == {0: 0.5}
    assert capsys.readouterr().err == ""
    other_values = {**asked, "batch_size": 64 if asked["batch_size"] == 128 else 128}
    other_search = trial_run()
    other_search.metadata["sweep"]["trial"]["search"]["metric"] = "train/loss"
    for run, why in [
        (trial_run(values=other_values), "has other values than this run"),
        (
            other_search,
            "belongs to another search (its selection metric is "
            "val/loss, this search's train/loss)",
        ),
    ]:
        pruning = TrialPruning.of(run)
        assert [pruning.should_prune(epoch, 0.25) for epoch in (1, 2)] == [False, False]
        [warning] = capsys.readouterr().err.splitlines()  # once
        assert warning.startswith(
            "warning: this run cannot report to its trial 0 of the "
            f"study {record['study_name']} in {record['storage']}: "
        )
        assert why in warning and "trains on without pruning" in warning, warning
        assert run.metadata["sweep"]["trial"]["pruning_off"]["from_epoch"] == 1
    assert the_study({"search": record}).trials[0].intermediate_values == {0: 0.5}
    (tmp_path / "study.db").unlink()
    run = trial_run()
    assert TrialPruning.of(run).should_prune(1, 0.25) is False
    assert "its file is missing" in run.metadata["sweep"]["trial"]["pruning_off"]["reason"]
    assert not (tmp_path / "study.db").exists()  # not made again, empty


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
