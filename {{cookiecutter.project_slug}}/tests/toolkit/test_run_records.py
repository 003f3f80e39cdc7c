"""What a logged run of run.py records: its commit, config and edits, checkpoints and
TensorBoard curves, and which split each phase read."""

import re
import socket

import pytest
import torch
import yaml
from harness import FIRST_LAYER, WIDTH, git, metadata_of, run_directories, run_py
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu")


@pytest.mark.machinery
def test_the_epochs_read_the_validation_split_and_the_final_test_the_test_split(project):
    # The splits differ in size (DATASET_ARGUMENTS): 12 batches of val/, 10 of test/.
    everything = (
        "--modify",
        "batch_size",
        "10",
        "data_loader_parameters",
        "{all: {mini_size: 100000}}",
    )
    result = run_py(project, *QUICK, *everything, "--modify", "epochs", "2")
    assert result.returncode == 0, result.stderr
    assert re.search(r"epoch 1 val: +\d+%\|[^|]*\| \d+/12 ", result.stderr)
    assert re.search(r"(?<!_)test: +\d+%\|[^|]*\| \d+/10 ", result.stderr)
    assert not re.search(r"epoch \d test", result.stderr)  # no epoch reads test/
    [run] = run_directories(project)
    assert metadata_of(run)["config"]["val_split"] == "val"

    # Selecting on the test split is possible, said in the config and recorded, with a warning.
    result = run_py(project, *QUICK, *everything, "--modify", "epochs", "1", "val_split", "test")
    assert result.returncode == 0, result.stderr
    assert "warning: val_split is test" in result.stderr
    assert re.search(r"epoch 0 val: +\d+%\|[^|]*\| \d+/10 ", result.stderr)
    assert metadata_of(run_directories(project)[-1])["config"]["val_split"] == "test"


def test_a_selection_metric_the_config_does_not_log_is_refused_before_anything_runs(project):
    result = run_py(project, *QUICK, "--modify", "selection.metric", "val/los")
    assert result.returncode == 2
    assert (
        "selection.metric is val/los, which this config does not log; it logs train/loss, "
    ) in result.stderr
    assert "val/loss" in result.stderr and "Traceback" not in result.stderr
    assert not (project / "logs").exists()


@pytest.mark.machinery
def test_an_unlogged_run_tests_the_same_selected_weights_as_a_logged_one(project):
    # Highest val/loss: an early epoch, whose weights an unlogged run keeps in memory.
    edits = ("--modify", "epochs", "3", "selection", "{metric: val/loss, mode: max}")
    logged = run_py(project, *QUICK, *edits)
    unlogged = run_py(project, *QUICK, *edits, "--no-logging")
    assert logged.returncode == unlogged.returncode == 0, logged.stderr + unlogged.stderr
    assert metadata_of(run_directories(project)[0])["best"]["epoch"] < 2
    [logged_test] = [line for line in logged.stdout.splitlines() if line.startswith("final test")]
    assert logged_test in unlogged.stdout.splitlines()


@pytest.mark.machinery
def test_a_config_field_added_to_the_schema_is_read_in_train_py(project):
    # docs/extending.md's recipe for a new field: a key in schema.py, read in train.py as
    # self.config[...] (the Trainer gets the whole config), no toolkit file touched.
    schema = next((project / "src").glob("*/schema.py"))
    schema.write_text(
        schema.read_text().replace(
            '    Optional("compile_model", default=False): boolean,\n',
            '    Optional("compile_model", default=False): boolean,\n'
            '    Optional("greeting", default="hello"): str,\n',
        )
    )
    train = next((project / "src").glob("*/train.py"))
    train.write_text(
        train.read_text().replace(
            "class Trainer(TrainerBase):\n",
            "class Trainer(TrainerBase):\n"
            "    def fit(self):\n"
            '        print(self.config["greeting"])\n'
            "        return super().fit()\n\n",
        )
    )
    git(project, "commit", "--quiet", "--all", "-m", "A greeting at the start of training")
    result = run_py(
        project, *QUICK, "--modify", "epochs", "1", "--modify", "greeting", "from the config"
    )
    assert result.returncode == 0, result.stderr
    assert "from the config" in result.stdout.splitlines()
    [run] = run_directories(project)
    assert metadata_of(run)["config"]["greeting"] == "from the config"


def assert_the_config_is_in_the_hparams_view(events: EventAccumulator, config: dict) -> None:
    """The config, for TensorBoard's HParams view: nested keys dotted, booleans as text."""
    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    hparams = hparams_metadata.parse_session_start_info_plugin_data(
        content[hparams_metadata.SESSION_START_INFO_TAG]
    ).hparams
    assert hparams["batch_size"].number_value == config["batch_size"]
    assert hparams[f"model_parameters.{WIDTH}"].number_value == config["model_parameters"][WIDTH]
    assert hparams["compile_model"].string_value == "false"
    assert hparams["bootstrap_model_file"].string_value == "null"


def assert_the_selected_checkpoint_read_the_test_split_once(
    metadata: dict, events: EventAccumulator, last_step: int
) -> None:
    """The selection the sample config states, on the validation split; the test split is
    read once, at the end, with the selected checkpoint, and logged at the last step."""
    assert (metadata["best"]["metric"], metadata["best"]["mode"]) == ("val/loss", "min")
    final_test = metadata["final_test"]
    assert (final_test["split"], final_test["epoch"], final_test["checkpoint"]) == (
        "test",
        metadata["best"]["epoch"],
        metadata["best"]["checkpoint"],
    )
    assert final_test["results"].keys() == {"test"}
    assert [(event.step, event.value) for event in events.Scalars("test/loss")] == [
        (last_step, pytest.approx(final_test["results"]["test"]["loss"], rel=1e-6))
    ]


def test_logged_run_records_commit_config_checkpoints_and_tensorboard(project):
    result = run_py(project, *QUICK, "--modify", "epochs", "2")
    assert result.returncode == 0, result.stderr
    [run] = run_directories(project)
    assert f"run directory: {run}" in result.stdout

    metadata = metadata_of(run)
    assert metadata["status"] == "finished"
    assert metadata["git"]["commit"] == git(project, "rev-parse", "HEAD")
    assert metadata["git"]["branch"] == git(project, "branch", "--show-current")
    assert metadata["config"]["epochs"] == 2
    assert metadata["flags"]["mini"] is True
    assert metadata["environment"]["torch"] == str(torch.__version__)
    assert metadata["progress"]["epochs_completed"] == 2
    assert metadata["best"]["checkpoint"] in {path.name for path in run.glob("*.pth")}

    checkpoint = torch.load(run / "model_epoch_1.pth", weights_only=True)
    assert {"model_state_dict", "optimizer_state_dict", "epoch", "results"} <= checkpoint.keys()
    assert checkpoint["epoch"] == 1
    assert checkpoint["commit"] == metadata["git"]["commit"]

    events = EventAccumulator(str(run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "val/loss", "test/loss"} <= tags
    # Every curve is over optimizer steps (one per epoch here); `epoch` maps them back.
    assert [event.step for event in events.Scalars("train/loss")] == [1, 2]
    assert [event.value for event in events.Scalars("epoch")] == [0, 1]
    best = events.Scalars(f"best/{metadata['best']['metric']}")[-1]
    assert best.value == pytest.approx(metadata["best"]["value"], rel=1e-6)
    assert_the_config_is_in_the_hparams_view(events, metadata["config"])
    # The process that trained, for `run.py --list` to tell whether it still runs.
    assert metadata["process"]["host"] == socket.gethostname()
    assert isinstance(metadata["process"]["pid"], int)
    # --print-config with a run directory: the config it recorded.
    printed = run_py(project, "--print-config", "--resume", str(run))
    assert printed.returncode == 0, printed.stderr
    assert yaml.safe_load(printed.stdout) == metadata["config"]
    assert_the_selected_checkpoint_read_the_test_split_once(metadata, events, last_step=2)
    assert "final test, with the weights of epoch" in result.stdout


def test_edits_are_validated_and_saved_with_the_config(project):
    result = run_py(
        project,
        *QUICK,
        "--find-replace",
        "log_interval: 50",
        "log_interval: 7",
        "--delete",
        "test_data_loader_type",
        "--modify",
        "selection",
        "{metric: train/loss}",  # no val phase to select on
        "--modify",
        "epochs",
        "1",
        "--modify",
        f"model_parameters.{WIDTH}",
        "8",  # repeated flags add up
    )
    assert result.returncode == 0, result.stderr
    [run] = run_directories(project)
    metadata = metadata_of(run)
    config = metadata["config"]
    assert config["log_interval"] == 7
    assert config["test_data_loader_type"] is None
    assert config["model_parameters"][WIDTH] == 8
    assert config["epochs"] == 1
    assert "val" not in metadata["progress"]["last_results"]
    assert "final_test" not in metadata  # no test phase either
    assert metadata["flags"]["modify"] == [
        "selection",
        "{metric: train/loss}",
        "epochs",
        "1",
        f"model_parameters.{WIDTH}",
        "8",
    ]
    weights = torch.load(run / "model_epoch_0.pth", weights_only=True)["model_state_dict"]
    assert weights[FIRST_LAYER].shape[0] == 8
