"""A sweep's points and settings: `run.py --list --sweep ID` (table, CSV, JSON), and
the picture a sweep draws when it ends (sweep.png)."""

import csv
import io
import json
import shutil
import statistics

import matplotlib.image
import pytest
from harness import SWEPT_RATES, SWEPT_SEEDS, read_yaml, run_py, sweep_record, write_point

pytestmark = pytest.mark.machinery  # pytest -m machinery

RATES, SEEDS = SWEPT_RATES, SWEPT_SEEDS  # conftest.py's swept, which these tests read
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def best_values(project, directory) -> dict[tuple, dict]:
    """Each point's `best` from its run's metadata.yaml, by (learning rate, seed)."""
    points = sweep_record(directory)["points"]
    return {
        (point["values"]["model_parameters.learning_rate"], point["values"]["seed"]): read_yaml(
            project / point["run"] / "metadata.yaml"
        )["best"]
        for point in points
    }


def test_list_sweep_shows_each_point_and_mean_and_std_over_seeds(swept):
    project, directory = swept
    result = run_py(project, "--list", "--sweep", directory.name)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    commit = sweep_record(directory)["git"]["commit"]
    assert lines[0] == f"sweep {directory.name}, finished, commit {commit[:12]}"
    header = lines[1].split()
    assert header[:5] == ["point", "model_parameters.learning_rate", "seed", "status", "run"]
    best = best_values(project, directory)
    runs = [point["run"] for point in sweep_record(directory)["points"]]
    for number, (rate, seed) in enumerate((rate, seed) for rate in RATES for seed in SEEDS):
        cells = lines[2 + number].split()
        assert cells[:5] == [str(number), str(rate), str(seed), "finished", runs[number]]
        point_best = best[(rate, seed)]
        assert f"{point_best['value']:.4g} (epoch {point_best['epoch']})" in lines[2 + number]

    # The settings: a row per learning rate, mean ± std over its two seeds.
    start = lines.index("mean ± std over seeds (n: the finished ones)")
    assert lines[start + 1].split()[:2] == ["model_parameters.learning_rate", "n"]
    for row, rate in zip(lines[start + 2 : start + 4], RATES, strict=True):
        values = [best[(rate, seed)]["value"] for seed in SEEDS]
        mean, std = statistics.mean(values), statistics.stdev(values)
        assert row.split()[:2] == [str(rate), "2"]
        assert f"{mean:.4g} ± {std:.2g}" in row
    assert lines[-1].startswith(f"picture: logs/sweeps/{directory.name}/sweep.png")

    # The sweep's directory names it too.
    by_path = run_py(project, "--list", "--sweep", str(directory))
    assert by_path.returncode == 0 and by_path.stdout == result.stdout, by_path.stderr


def test_list_sweep_as_json_and_csv_holds_the_same_numbers(swept):
    project, directory = swept
    best = best_values(project, directory)
    as_json = run_py(project, "--list", "--sweep", directory.name, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    assert [
        (point["config.model_parameters.learning_rate"], point["config.seed"])
        for point in records["points"]
    ] == [(rate, seed) for rate in RATES for seed in SEEDS]
    for point in records["points"]:
        key = (point["config.model_parameters.learning_rate"], point["config.seed"])
        assert point["status"] == "finished"
        assert (point["best_value"], point["best_epoch"]) == (
            best[key]["value"],
            best[key]["epoch"],
        )
        assert point["best_metric"] == best[key]["metric"]
    assert [
        setting["config.model_parameters.learning_rate"] for setting in records["settings"]
    ] == list(RATES)
    for setting, rate in zip(records["settings"], RATES, strict=True):
        values = [best[(rate, seed)]["value"] for seed in SEEDS]
        assert "config.seed" not in setting
        assert setting["n"] == 2 and setting["points"] == [
            point for point in range(4) if point // 2 == RATES.index(rate)
        ]
        assert setting["best_value_mean"] == statistics.mean(values)
        assert setting["best_value_std"] == statistics.stdev(values)
        test_losses = [
            point["test/loss"]
            for point in records["points"]
            if point["config.model_parameters.learning_rate"] == rate
        ]
        assert setting["test/loss_mean"] == statistics.mean(test_losses)

    as_csv = run_py(project, "--list", "--sweep", directory.name, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 4
    for row, point in zip(rows, records["points"], strict=True):
        assert (
            float(row["config.model_parameters.learning_rate"])
            == point["config.model_parameters.learning_rate"]
        )
        assert int(row["config.seed"]) == point["config.seed"]
        assert float(row["best_value"]) == point["best_value"]
        assert float(row["test/loss"]) == point["test/loss"]


def test_the_sweep_draws_its_picture_and_list_redraws_it(swept):
    project, directory = swept
    picture = directory / "sweep.png"
    assert read_yaml(directory / "sweep.yaml")["picture"] == "sweep.png"
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
    height, width, _ = matplotlib.image.imread(picture).shape
    assert width >= 600 and height >= 300  # two panels: the learning rate, the curves

    picture.unlink()
    redrawn = run_py(project, "--list", "--sweep", directory.name, "--format", "json", "--picture")
    assert redrawn.returncode == 0, redrawn.stderr
    assert f"drew logs/sweeps/{directory.name}/sweep.png" in redrawn.stderr
    json.loads(redrawn.stdout)  # what stdout holds stays JSON
    assert matplotlib.image.imread(picture).shape == (height, width, 4)


def test_an_unknown_sweep_is_refused_with_the_sweeps_there(swept, project):
    swept_project, directory = swept
    result = run_py(swept_project, "--list", "--sweep", "2020-01-01_00-00-00")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no sweep 2020-01-01_00-00-00")
    assert f"\n  {directory.name}" in result.stderr and "Traceback" not in result.stderr

    none_yet = run_py(project, "--list", "--sweep", "2020-01-01_00-00-00")
    assert none_yet.returncode == 2 and "holds none yet" in none_yet.stderr, none_yet.stderr
    picture_alone = run_py(project, "--list", "--picture")
    assert picture_alone.returncode == 2 and "--picture goes with" in picture_alone.stderr


def test_a_point_that_did_not_finish_is_left_out_of_mean_and_std(swept, tmp_path):
    project, directory = swept
    # The sweep as it would be had its point 1 failed: its run's numbers stay on disk,
    # but only finished points count.
    copy = tmp_path / "sweep"
    shutil.copytree(directory, copy)
    write_point(copy, {**sweep_record(copy)["points"][1], "status": "failed"})
    result = run_py(project, "--list", "--sweep", str(copy), "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    points, settings = records["points"], records["settings"]
    assert [point["status"] for point in points] == ["finished", "failed", "finished", "finished"]
    assert settings[0]["n"] == 1 and settings[0]["points"] == [0, 1]
    assert settings[0]["best_value_mean"] == points[0]["best_value"]
    assert settings[0]["best_value_std"] is None
    table = run_py(project, "--list", "--sweep", str(copy)).stdout.splitlines()
    assert table[3].split()[3] == "failed"
    start = table.index("mean ± std over seeds (n: the finished ones)")
    assert table[start + 2].split()[:4] == [str(RATES[0]), "1", "of", "2"]


def test_a_failed_point_and_a_picture_that_cannot_be_drawn(project, tmp_path):
    # A learning rate of 1e30 makes the loss infinite at once: that run fails.
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "variants: [{model_parameters.learning_rate: 1.0e+30}, "
        "{model_parameters.learning_rate: 0.001}]\n"
    )
    result = run_py(
        project,
        "sample_runconfig.yaml",
        "--mini",
        "--cpu",
        "--modify",
        "epochs",
        "1",
        "--sweep",
        str(sweep),
    )
    assert result.returncode == 1, result.stderr
    [directory] = (project / "logs" / "sweeps").iterdir()
    listing = run_py(project, "--list", "--sweep", directory.name)
    assert listing.returncode == 0, listing.stderr
    failed, finished = listing.stdout.splitlines()[2:4]
    assert failed.split()[:3] == ["0", "1e+30", "failed"]
    assert finished.split()[:3] == ["1", "0.001", "finished"]
    assert "mean ± std" not in listing.stdout  # no seeds: no settings table
    assert (directory / "sweep.png").read_bytes().startswith(PNG_SIGNATURE)

    # Drawing fails (something is in the picture's way): the sweep says so in a line
    # and records it, and ends as it would have.
    (directory / "sweep.png").unlink()
    (directory / "sweep.png").mkdir()
    resumed = run_py(project, "--resume-sweep", str(directory))
    assert resumed.returncode == 1, resumed.stderr  # for its failed point, as before
    warnings = [line for line in resumed.stderr.splitlines() if "picture" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: the sweep's picture was not drawn (IsADirectoryError"
    )
    assert "Traceback" not in resumed.stderr
    record = read_yaml(directory / "sweep.yaml")
    assert record["status"] == "failed" and record["picture"].startswith("not drawn: ")
    assert "picture: not drawn" in run_py(project, "--list", "--sweep", directory.name).stdout
