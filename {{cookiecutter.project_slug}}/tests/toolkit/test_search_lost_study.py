"""A search's study.db lost, damaged or not its own: rebuilt from the points' records
where it can be, the sweep stopped where it cannot, and a trial that cannot reach its
study trains on without pruning."""

import shutil
from types import SimpleNamespace

import pytest
from harness import (
    read_yaml,
    run_py,
    start,
    sweep_file,
    the_sweep,
)
from search_harness import (
    LONG,
    the_study,
    wait_for,
)

from {{ cookiecutter.project_slug }}.toolkit import search, search_study
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.trial_pruning import TrialPruning

# Optuna is the [search] extra: pip install -e ".[search]".
optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.machinery


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
