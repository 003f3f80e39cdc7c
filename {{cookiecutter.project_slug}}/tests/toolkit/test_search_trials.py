"""Search with Optuna: a sweep file's `search:` runs one logged run per trial of a
study (kept in the sweep's study.db), side by side with --jobs, prunes a trial that is
clearly worse after an epoch and resumes an interrupted trial."""

import signal

import pytest
from harness import (
    read_yaml,
    run_directories,
    run_py,
    start,
    sweep_file,
    the_sweep,
)
from search_harness import (
    LONG,
    QUICK,
    the_study,
    wait_for,
)

# Optuna is the [search] extra: pip install -e ".[search]".
optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.machinery


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
