"""Sweeps: `run.py CONFIG --sweep SWEEP_FILE` runs one logged run per point, refuses a
bad point before anything runs, records failed and interrupted points, and resumes."""

import os
import signal

import pytest
import torch
import yaml
from harness import (
    SWEPT_EPOCHS,
    SWEPT_RATES,
    SWEPT_SEEDS,
    git,
    read_yaml,
    run_directories,
    run_py,
    start,
    sweep_file,
    sweep_record,
    the_sweep,
    write_point,
)
from sweep_harness import (
    LONG,
    QUICK,
    final_weights,
    wait_for,
)

pytestmark = pytest.mark.machinery  # pytest -m machinery


def test_a_grid_with_seeds_runs_one_logged_run_per_point(swept):
    # conftest.py's sweep: a grid of SWEPT_RATES, SWEPT_SEEDS each, edited to
    # SWEPT_EPOCHS epochs.
    project, directory = swept
    record = sweep_record(directory)
    assert record["status"] == "finished"
    assert record["sweep"]["seeds"] == list(SWEPT_SEEDS)  # the sweep file as given
    assert record["edits"]["modify"] == ["epochs", str(SWEPT_EPOCHS)]
    assert record["flags"] == {"cpu": True, "mini": True}
    expected = [(rate, seed) for rate in SWEPT_RATES for seed in SWEPT_SEEDS]
    assert [
        (point["values"]["model_parameters.learning_rate"], point["values"]["seed"])
        for point in record["points"]
    ] == expected
    assert sorted(project / point["run"] for point in record["points"]) == run_directories(project)
    for number, point in enumerate(record["points"]):
        assert point["status"] == "finished"
        metadata = read_yaml(project / point["run"] / "metadata.yaml")
        assert metadata["status"] == "finished"
        assert metadata["git"]["commit"] == record["git"]["commit"]
        assert metadata["sweep"] == {
            "id": directory.name,
            "point": number,
            "values": point["values"],
        }
        learning_rate, seed = expected[number]
        assert metadata["config"]["model_parameters"]["learning_rate"] == learning_rate
        assert metadata["config"]["seed"] == seed
        assert metadata["config"]["epochs"] == SWEPT_EPOCHS  # the edits apply to every point
        assert metadata["flags"]["mini"] and metadata["flags"]["cpu"]
    # The sweep's record sits in logs/ beside the runs; --list lists the runs alone.
    listing = run_py(project, "--list")
    assert listing.returncode == 0, listing.stderr
    assert "sweeps" not in listing.stdout
    assert len(listing.stdout.splitlines()) == 1 + 4

    again = run_py(project, "--resume-sweep", str(directory))
    assert again.returncode == 2 and "has finished" in again.stderr, again.stderr
    not_a_sweep = run_py(project, "--resume-sweep", "logs")
    assert not_a_sweep.returncode == 2 and "not a sweep directory" in not_a_sweep.stderr


def test_print_config_shows_every_point_of_the_sample_sweep(project):
    result = run_py(
        project, "sample_runconfig.yaml", "--sweep", "sample_sweep.yaml", "--print-config"
    )
    assert result.returncode == 0, result.stderr
    configs = [config for config in yaml.safe_load_all(result.stdout) if config]
    sample = read_yaml(project / "sample_sweep.yaml")
    rates = sample["grid"]["model_parameters.learning_rate"]
    assert [
        (config["model_parameters"]["learning_rate"], config["seed"]) for config in configs
    ] == [(rate, seed) for rate in rates for seed in sample["seeds"]]
    assert not (project / "logs").exists()


def test_a_grid_combines_with_every_variant(project, tmp_path):
    sweep = sweep_file(
        tmp_path,
        "grid: {model_parameters.learning_rate: [0.001, 0.002]}\n"
        "variants: [{epochs: 2}, {epochs: 3, batch_size: 8}]\n",
    )
    result = run_py(project, *QUICK, "--sweep", str(sweep), "--print-config")
    assert result.returncode == 0, result.stderr
    configs = [config for config in yaml.safe_load_all(result.stdout) if config]
    assert [
        (config["model_parameters"]["learning_rate"], config["epochs"], config["batch_size"])
        for config in configs
    ] == [
        (0.001, 2, configs[0]["batch_size"]),
        (0.001, 3, 8),
        (0.002, 2, configs[0]["batch_size"]),
        (0.002, 3, 8),
    ]


def test_a_bad_point_stops_the_sweep_before_anything_is_logged(project, tmp_path):
    mistakes = {
        "grid: {model_parameters.learning_rate: [0.001, 0.01]}\n"
        "variants: [{epochs: 1}, {epochs: 0}]\n": "(epochs=0)",
        "grid: {model_parameters.learning_rat: [0.001]}\n": "learning_rat",
        "grid: {epoch: [1, 2]}\n": "a config has no key 'epoch'",
        "gird: {epochs: [1, 2]}\n": "unknown key 'gird'",
        "description: nothing varies\n": "holds no points",
        "grid: {epochs: []}\n": "grid.epochs",
        "grid: {seed: [1, 2]}\nseeds: [3]\n": "seed is in grid and seeds is given",
    }
    for text, named in mistakes.items():
        result = run_py(project, *QUICK, "--sweep", str(sweep_file(tmp_path, text)))
        assert result.returncode == 2, (text, result.stderr)
        assert result.stderr.startswith("error: ") and named in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()


def test_a_sweep_is_logged_runs_from_a_config(project, tmp_path):
    sweep = str(sweep_file(tmp_path, "seeds: [1, 2]\n"))
    for arguments, named in [
        ((*QUICK, "--sweep", sweep, "--no-logging"), "no_logging"),
        ((*QUICK, "--sweep", sweep, "--allow-dirty-repo"), "allow_dirty_repo"),
        (("--sweep", sweep), "needs the config"),
        (("--resume-sweep", "logs", "--mini"), "leave out: mini"),
    ]:
        result = run_py(project, *arguments)
        assert result.returncode == 2 and named in result.stderr, (arguments, result.stderr)
    assert not (project / "logs").exists()


def test_a_sweep_from_a_dirty_tree_is_refused(project, tmp_path):
    (project / "notes.txt").write_text("not committed")
    result = run_py(project, *QUICK, "--sweep", str(sweep_file(tmp_path, "seeds: [1, 2]\n")))
    assert result.returncode == 2
    assert "uncommitted changes" in result.stderr and "notes.txt" in result.stderr
    assert not (project / "logs").exists()


def test_a_failing_point_is_recorded_and_the_others_go_on(project, tmp_path):
    # A learning rate of 1e30 makes the loss infinite at once: that run fails.
    sweep = sweep_file(
        tmp_path,
        "variants:\n  - {model_parameters.learning_rate: 1e30}\n"
        "  - {model_parameters.learning_rate: 0.001}\n",
    )
    result = run_py(project, *QUICK, "--sweep", str(sweep))
    assert result.returncode == 1, result.stderr
    _, record = the_sweep(project)
    failed, finished = record["points"]
    assert record["status"] == "failed"
    assert failed["status"] == "failed" and finished["status"] == "finished"
    assert read_yaml(project / failed["run"] / "metadata.yaml")["status"] == "failed"
    assert read_yaml(project / finished["run"] / "metadata.yaml")["status"] == "finished"
    assert "1 failed, 1 finished" in result.stdout

    # Its points all run one commit: resuming it after a new commit is refused.
    (project / "notes.txt").write_text("a new commit")
    git(project, "add", "notes.txt")
    git(project, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "notes")
    resumed = run_py(project, "--resume-sweep", str(the_sweep(project)[0]))
    assert resumed.returncode == 2 and "HEAD is" in resumed.stderr, resumed.stderr


def test_a_sweep_stops_before_a_point_when_the_tree_changed_while_it_ran(project, tmp_path):
    started = start(project, *QUICK, "--sweep", str(sweep_file(tmp_path, "seeds: [1, 2]\n")))
    wait_for(started, project, "logs/sweeps/*/points/0.run")  # point 0 checked the tree
    (project / "notes.txt").write_text("edited while the sweep runs")
    _, stderr = started.communicate(timeout=120)
    assert started.returncode == 2
    assert "uncommitted changes (?? notes.txt" in stderr and "--resume-sweep" in stderr, stderr
    directory, record = the_sweep(project)
    assert record["status"] == "interrupted"
    assert [point["status"] for point in record["points"]] == ["finished", "pending"]

    # As a sweep's process killed while point 0 ran, just before the point ended, would
    # have left it: the resume finds in the run that it finished, and does not repeat it.
    write_point(directory, {**record["points"][0], "status": "running", "run": None})
    (project / "notes.txt").unlink()
    resumed = run_py(project, "--resume-sweep", str(directory))
    assert resumed.returncode == 0, resumed.stderr
    points = the_sweep(project)[1]["points"]
    assert [point["status"] for point in points] == ["finished"] * 2
    assert sorted(project / point["run"] for point in points) == run_directories(project)


def test_a_stopped_sweep_resumes_to_the_weights_of_an_uninterrupted_one(project, tmp_path):
    # The first point's run.py is frozen (SIGSTOP) once it trains, until the sweep has
    # been sent its stop: the test's steps land within the point's training however busy
    # the machine, and the point trains for a few seconds only (the toy task's epoch
    # takes about 0.1 s), here, on resuming and in the reference run.
    sweep = sweep_file(tmp_path, "variants: [{epochs: 20}, {epochs: 1}]\nseeds: [5]\n")
    started = start(project, *LONG, "--sweep", str(sweep))
    wait_for(started, project, "logs/*/*/model_epoch_*.pth")  # the first point is training
    [training] = run_directories(project)
    point_process = read_yaml(training / "metadata.yaml")["process"]["pid"]
    os.kill(point_process, signal.SIGSTOP)
    try:
        [directory] = (project / "logs" / "sweeps").iterdir()
        meanwhile = run_py(project, "--resume-sweep", str(directory))  # one process a sweep
        assert meanwhile.returncode == 2, meanwhile.stderr
        assert f"is in use by process {started.pid}" in meanwhile.stderr
        started.send_signal(signal.SIGTERM)  # passed on to the point, taken once it wakes
    finally:
        os.kill(point_process, signal.SIGCONT)
    stdout, stderr = started.communicate(timeout=120)
    assert started.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    directory, record = the_sweep(project)
    stopped, waiting = record["points"]
    assert record["status"] == "interrupted"
    assert stopped["status"] == "interrupted"
    assert list((project / stopped["run"]).glob("model_ckpt_ep_*_pct_*.pth")), "no checkpoint"
    assert read_yaml(project / stopped["run"] / "metadata.yaml")["status"] == "interrupted"
    assert waiting == {**waiting, "status": "pending", "run": None}
    assert f"--resume-sweep {directory}" in stdout

    resumed = run_py(project, "--resume-sweep", str(directory))
    assert resumed.returncode == 0, resumed.stderr
    _, record = the_sweep(project)
    assert record["status"] == "finished"
    assert [point["status"] for point in record["points"]] == ["finished", "finished"]
    assert record["points"][0]["run"] == stopped["run"]  # resumed in its own directory

    # The first point's config, run once without a stop, ends at the very same weights.
    reference = run_py(project, str(directory / "points" / "0.yaml"), "--mini", "--cpu")
    assert reference.returncode == 0, reference.stderr
    expected = final_weights(run_directories(project)[-1])
    weights = final_weights(project / stopped["run"])
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[name], expected[name]) for name in expected)


def test_each_point_describes_itself_by_its_values(swept):
    project, directory = swept
    base = read_yaml(project / "sample_runconfig.yaml")["description"]
    record = sweep_record(directory)
    values = [(rate, seed) for rate in SWEPT_RATES for seed in SWEPT_SEEDS]
    for point, (rate, seed) in zip(record["points"], values, strict=True):
        expected = f"{base} [model_parameters.learning_rate={rate}, seed={seed}]"
        assert (
            read_yaml(project / point["run"] / "metadata.yaml")["config"]["description"] == expected
        )
        assert read_yaml(directory / "points" / f"{point['point']}.yaml")["description"] == expected
