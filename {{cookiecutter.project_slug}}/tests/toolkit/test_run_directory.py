"""The run directory: checkpoint policy, atomic writes, the summary field, git facts."""

import time

import pytest
import torch
import yaml
from harness import MODEL
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from {{ cookiecutter.project_slug }}.toolkit import hparams, tensorboard_log
from {{ cookiecutter.project_slug }}.toolkit.repo import RepoState, strip_credentials
from {{ cookiecutter.project_slug }}.toolkit.run_directory import RunDirectory
from {{ cookiecutter.project_slug }}.toolkit.selection import Selection
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import atomic_write

CONFIG = {"model_type": MODEL, "description": "test", "checkpoint_interval": None}
REPO = RepoState(root=None, commit="0" * 40, branch="main", remote=None, dirty_files=())
DATA = {}  # no data fingerprint: these runs read no data


@pytest.fixture
def run(tmp_path):
    return RunDirectory.create(
        tmp_path, CONFIG, flags={}, repo=REPO, device=torch.device("cpu"), data=DATA
    )


def checkpoints(run):
    return sorted(path.name for path in run.path.glob("*.pth"))


def end_epochs(run, selection: Selection, phase: str, values: list[float]) -> None:
    """Epochs whose `phase` results hold `values` of the selection's metric, as the
    trainer ends them: the selection takes each in before the run directory does."""
    name = selection.metric.split("/")[1]
    for epoch, value in enumerate(values):
        results = {phase: {name: value}}
        selection.add_epoch(epoch, {selection.metric: value})
        run.end_epoch(epoch, epoch, results, selection, {"epoch": epoch})


@pytest.mark.parametrize("mode, sign", [("min", 1), ("max", -1)])
def test_keeps_the_newest_epoch_and_the_best_of_every_ten(run, mode, sign):
    # Epoch 3 is the best of 0-9, epoch 12 the best of 10-19, epoch 20 the newest; with
    # mode max, the same numbers negated select the same epochs.
    metrics = [5, 4, 3, 1, 2, 6, 7, 8, 9, 9, 9, 9, 0.5, 9, 9, 9, 9, 9, 9, 9, 7]
    end_epochs(run, Selection("val/loss", mode), "val", [sign * value for value in metrics])
    assert checkpoints(run) == ["model_epoch_12.pth", "model_epoch_20.pth", "model_epoch_3.pth"]
    best = yaml.safe_load((run.path / "metadata.yaml").read_text())["best"]
    assert best == {
        "metric": "val/loss",
        "mode": mode,
        "value": sign * 0.5,
        "epoch": 12,
        "checkpoint": "model_epoch_12.pth",
    }


def test_a_nan_metric_never_beats_a_number(run):
    end_epochs(run, Selection("train/loss"), "train", [float("nan"), 2.0, float("nan")])
    assert checkpoints(run) == ["model_epoch_1.pth", "model_epoch_2.pth"]


def test_a_mid_epoch_checkpoint_replaces_the_last_and_goes_when_the_epoch_ends(run):
    run.save_mid_epoch_checkpoint(0, 30, {"epoch": 0})
    run.save_mid_epoch_checkpoint(0, 60, {"epoch": 0})
    assert checkpoints(run) == ["model_ckpt_ep_0_pct_60.pth"]
    checkpoint = torch.load(run.path / "model_ckpt_ep_0_pct_60.pth", weights_only=True)
    assert checkpoint["commit"] == REPO.commit and checkpoint["config"] == CONFIG
    end_epochs(run, Selection("train/loss"), "train", [1.0])
    assert checkpoints(run) == ["model_epoch_0.pth"]


def test_checkpoint_is_due_after_the_interval(tmp_path):
    run = RunDirectory.create(
        tmp_path, {**CONFIG, "checkpoint_interval": 1e-9}, {}, REPO, torch.device("cpu"), DATA
    )
    assert run.checkpoint_due()
    run.checkpoint_interval = 3600
    assert not run.checkpoint_due()


def test_logged_points_reach_tensorboard_in_batches_stamped_when_logged(run, tmp_path, monkeypatch):
    for step in range(3):
        run.log_scalars(step, {"train_step/loss": step / 10})
    logged = time.time()
    assert not list(run.path.glob("events.out.tfevents.*"))  # held back until due
    time.sleep(0.05)
    run.finish("finished")
    events = EventAccumulator(str(run.path))
    events.Reload()
    points = events.Scalars("train_step/loss")
    assert [(point.step, point.value) for point in points] == [
        (0, 0.0),
        (1, pytest.approx(0.1)),
        (2, pytest.approx(0.2)),
    ]
    assert all(point.wall_time <= logged for point in points)

    monkeypatch.setattr(tensorboard_log, "SCALARS_BATCH_SECONDS", 0)
    later = RunDirectory.create(tmp_path / "later", CONFIG, {}, REPO, torch.device("cpu"), DATA)
    later.log_scalars(0, {"train_step/loss": 1.0})
    assert list(later.path.glob("events.out.tfevents.*"))  # handed over once due


def test_the_researchers_summary_survives_rewrites(run):
    path = run.path / "metadata.yaml"
    metadata = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**metadata, "summary": "lr too high"}))
    run.finish("finished")
    rewritten = yaml.safe_load(path.read_text())
    assert rewritten["summary"] == "lr too high" and rewritten["status"] == "finished"


def test_a_summary_edited_into_invalid_yaml_is_kept_as_typed(run, capsys):
    path = run.path / "metadata.yaml"
    broken = path.read_text().replace("summary: ''", "summary: lr: too high,\n  diverged: yes")
    path.write_text(broken)
    run.finish("finished")
    rewritten = yaml.safe_load(path.read_text())
    assert rewritten["summary"] == "lr: too high,\ndiverged: yes"
    [kept] = run.path.glob("metadata.yaml.unreadable-*")
    assert kept.read_text() == broken
    assert f"what it held is kept in {kept.name}" in capsys.readouterr().err


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"old")

    def fail_halfway(file):
        file.write(b"new but incomplete")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail_halfway)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_run_directories_are_unique(tmp_path):
    paths = {
        RunDirectory.create(tmp_path, CONFIG, {}, REPO, torch.device("cpu"), DATA).path
        for _ in range(3)
    }
    assert len(paths) == 3


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://user:token@github.com/lab/repo.git", "https://github.com/lab/repo.git"),
        ("https://github.com/lab/repo.git", "https://github.com/lab/repo.git"),
        ("git@github.com:lab/repo.git", "git@github.com:lab/repo.git"),
        ("ssh://git:secret@host:22/repo", "ssh://host:22/repo"),
        ("https://host/x.git?token=abc", "https://host/x.git"),
        ("https://host/x.git?private_token=abc&ref=main#key=def", "https://host/x.git"),
        ("https://oauth2:tok@host/x.git#tok", "https://host/x.git"),
    ],
)
def test_remote_credentials_are_stripped(url, expected):
    assert strip_credentials(url) == expected


def test_the_config_goes_to_hparams_with_dotted_keys_and_values_it_can_hold():
    config = {
        "epochs": 3,
        "compile_model": False,
        "bootstrap_model_file": None,
        "model_parameters": {"hidden_size": 8, "sizes": [1, 2]},
        "data_loader_parameters": {"all": {}},
    }
    assert hparams.flat_hparams(config) == {
        "epochs": 3,
        "compile_model": "false",
        "bootstrap_model_file": "null",
        "model_parameters.hidden_size": 8,
        "model_parameters.sizes": "[1, 2]",
        "data_loader_parameters.all": "{}",
    }
