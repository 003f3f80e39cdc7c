"""run.py as a user drives it: logged runs, the repository guard and the edit flags."""

import re
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import yaml
from harness import FIRST_LAYER, MODEL, WIDTH, environment, git, run_directories, run_py
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from {{ cookiecutter.project_slug }}.toolkit.command_line import parse_args

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu")


def test_a_constructor_that_rejects_a_value_is_a_clear_error(project):
    result = run_py(project, *QUICK, "--modify", "model_parameters.learning_rate_decay", "-1")
    assert result.returncode == 2
    assert MODEL in result.stderr and "learning_rate_decay must be in (0, 1]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()


@pytest.mark.parametrize("change", ["modified", "untracked"])
def test_dirty_tree_is_refused_and_nothing_is_written(project, change):
    if change == "modified":
        with open(project / "run.py", "a") as file:
            file.write("# an uncommitted change\n")
        expected = "run.py"
    else:
        (project / "notes.py").write_text("x = 1\n")
        expected = "notes.py"
    result = run_py(project, *QUICK)
    assert result.returncode == 2
    assert "uncommitted changes" in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()


def test_allow_dirty_repo_without_a_terminal_means_no(project):
    result = run_py(project, *QUICK, "--allow-dirty-repo")
    assert result.returncode == 2
    assert "--y" in result.stderr
    assert not (project / "logs").exists()


# One run.py a case; test_config.py and test_inputs.py check the same edits in-process.
@pytest.mark.machinery
@pytest.mark.parametrize(
    "edit, message",
    [
        (("--modify", "epochs", "ten"), "epochs: expected an integer"),
        (("--modify", "model_parameters.hiden_size", "32"), "hiden_size"),
        (("--modify", "epoch", "3"), "no key 'epoch'"),
        (("--delete", "model_parameter"), "no key 'model_parameter'"),
        (("--modify", "epochs"), "pairs"),
        (("--find-replace", "log_interval"), "pairs"),
        (("--find-replace", "no such text", "x"), "does not occur"),
        (("--modify", "model_type", "Nope"), "valid names"),
        (("--modify", "mixed_precision", "fp16"), "mixed_precision: expected bf16, or null"),
        (("--modify", "compile_model", "'no'"), "compile_model: expected true or false"),
        (("--modify", "selection.mode", "highest"), "selection.mode: expected min or max"),
        (
            ("--modify", "selection.patience", "0"),
            "selection.patience: expected a number of epochs",
        ),
        (("--modify", "val_split", "../test"), "val_split: expected the name of a folder"),
        (
            ("--modify", "learning_rate_schedule.type", "cosine"),
            "learning_rate_schedule.type: expected exponential or warmup_cosine",
        ),
        (
            ("--modify", "gradient_accumulation_steps", "0"),
            "gradient_accumulation_steps: value must",
        ),
    ],
)
def test_bad_edits_are_clear_errors_that_write_nothing(project, edit, message):
    result = run_py(project, *QUICK, *edit)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()


def test_missing_data_is_a_clear_error(project):
    result = run_py(project, *QUICK, "--modify", "data_directory", "nowhere")
    assert result.returncode == 2
    assert "make_dataset.py" in result.stderr
    assert not (project / "logs").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ("--list", "--print-config"),
            "--list reads logged runs and does nothing else; leave out: print_config",
        ),
        (("--compare", "A", "B", "--checkpoint", "last"), "--checkpoint and --split go with"),
        (("--resume", "R", "--sweep-point", "D", "0"), "leave out: sweep_point"),
        (
            ("--resume", "R", "--rerun", "R"),
            "--resume uses the config and flags the run started with; leave out: rerun",
        ),
        (("--list", "--sweep", "ID", "--columns", "test/loss"), "--columns goes with --list"),
        (("--list", "--columns", "test/loss", "--format", "csv"), "--columns goes with --list"),
        (("--evaluate", "R", "--jobs", "2"), "--jobs goes with --sweep or --resume-sweep"),
        (("--cpu",), "give a config file, --resume"),
    ],
)
def test_a_flag_the_command_does_not_take_is_refused(argv, message, capsys):
    """toolkit/command_line.py's COMMANDS, checked without starting anything."""
    with pytest.raises(SystemExit) as refused:
        parse_args(list(argv))
    assert refused.value.code == 2
    assert message in capsys.readouterr().err


def test_list_and_compare_take_a_runs_flags_and_ignore_them():
    """A command line edited from a run's, as before COMMANDS: nothing is refused."""
    assert parse_args(["--list", "--cpu", "--mini"]).list
    assert parse_args(["--compare", "A", "B", "--modify", "epochs", "1"]).compare == ["A", "B"]


def test_a_command_fills_in_the_defaults_of_its_flags():
    assert parse_args(["--resume-sweep", "D"]).jobs == 1
    assert parse_args(["--list", "--y"]).format == "table"  # --y goes with every command
    evaluate = parse_args(["--evaluate", "R"])
    assert (evaluate.checkpoint, evaluate.split) == ("best", "test")
    assert parse_args(["c.yaml", "--sweep", "S"]).jobs is None  # the sweep decides


def test_the_docs_document_every_flag_and_every_config_key(project):
    """The tables the README links: every flag and every config key in a table of docs/
    (docs/reference.md and docs/configuration.md, or the page of the option that adds
    it)."""
    tables = "".join(page.read_text() for page in (project / "docs").glob("*.md"))
    help_text = run_py(project, "--help").stdout
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text)) - {"--help"}
    assert {"--cpu", "--resume", "--rerun", "--evaluate", "--list", "--print-config"} <= flags
    assert [flag for flag in sorted(flags) if f"| `{flag}" not in tables] == []
    printed = run_py(project, "sample_runconfig.yaml", "--print-config")
    keys = yaml.safe_load(printed.stdout)
    assert [key for key in keys if f"| `{key}` |" not in tables] == []


def test_print_config_prints_the_edited_config_with_its_defaults(project, tmp_path):
    (project / "notes.py").write_text("x = 1\n")  # the tree is not checked
    result = run_py(
        project,
        "sample_runconfig.yaml",
        "--print-config",
        "--modify",
        "epochs",
        "3",
        "--delete",
        "log_interval",
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["epochs"] == 3
    assert config["log_interval"] == 50  # deleted, so the default
    # What it prints is a config file that validates to the very same config.
    printed = tmp_path / "printed.yaml"
    printed.write_text(result.stdout)
    again = run_py(project, str(printed), "--print-config")
    assert again.returncode == 0, again.stderr
    assert again.stdout == result.stdout

    bad = run_py(project, "sample_runconfig.yaml", "--print-config", "--modify", "epochs", "ten")
    assert bad.returncode == 2
    assert "epochs: expected an integer" in bad.stderr and "Traceback" not in bad.stderr
    assert bad.stdout == ""
    assert not (project / "logs").exists()


def metadata_of(run_directory):
    return yaml.safe_load((run_directory / "metadata.yaml").read_text())


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
    # The config, for TensorBoard's HParams view: nested keys dotted, booleans as text.
    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    hparams = hparams_metadata.parse_session_start_info_plugin_data(
        content[hparams_metadata.SESSION_START_INFO_TAG]
    ).hparams
    assert hparams["batch_size"].number_value == metadata["config"]["batch_size"]
    assert (
        hparams[f"model_parameters.{WIDTH}"].number_value
        == metadata["config"]["model_parameters"][WIDTH]
    )
    assert hparams["compile_model"].string_value == "false"
    assert hparams["bootstrap_model_file"].string_value == "null"
    # The process that trained, for `run.py --list` to tell whether it still runs.
    assert metadata["process"]["host"] == socket.gethostname()
    assert isinstance(metadata["process"]["pid"], int)
    # --print-config with a run directory: the config it recorded.
    printed = run_py(project, "--print-config", "--resume", str(run))
    assert printed.returncode == 0, printed.stderr
    assert yaml.safe_load(printed.stdout) == metadata["config"]
    # The selection the sample config states, on the validation split; the test split is
    # read once, at the end, with the selected checkpoint, and logged at the last step.
    assert (metadata["best"]["metric"], metadata["best"]["mode"]) == ("val/loss", "min")
    final_test = metadata["final_test"]
    assert (final_test["split"], final_test["epoch"], final_test["checkpoint"]) == (
        "test",
        metadata["best"]["epoch"],
        metadata["best"]["checkpoint"],
    )
    assert final_test["results"].keys() == {"test"}
    assert [(event.step, event.value) for event in events.Scalars("test/loss")] == [
        (2, pytest.approx(final_test["results"]["test"]["loss"], rel=1e-6))
    ]
    assert "final test, with the weights of epoch" in result.stdout


@pytest.mark.machinery
@pytest.mark.parametrize("batch_size", ["16", "256"])
def test_a_diverging_run_stops_as_failed_and_keeps_only_finite_checkpoints(project, batch_size):
    # A step size that overflows the weights: with batches of 16 the training loss goes
    # non-finite within the first epoch (or the held-out loss does, for some models);
    # with one batch of 256 per epoch, the held-out loss does, after a finite step.
    result = run_py(
        project,
        *QUICK,
        "--modify",
        "epochs",
        "3",
        "batch_size",
        batch_size,
        "model_parameters.learning_rate",
        "1.0e+20",
        "checkpoint_interval",
        "1.0e-6",
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "NaN or infinite" in error and "epoch 0" in error
    [run] = run_directories(project)
    metadata = metadata_of(run)
    assert metadata["status"] == "failed"
    assert metadata["error"] == error.removeprefix("error: ")
    assert metadata["best"] is None and metadata["progress"]["epochs_completed"] == 0
    checkpoints = list(run.glob("*.pth"))
    assert checkpoints  # the last one saved while the loss was finite
    for path in checkpoints:
        weights = torch.load(path, weights_only=True)["model_state_dict"]
        assert all(tensor.isfinite().all() for tensor in weights.values()), path.name


@pytest.mark.machinery
def test_the_same_seed_gives_bitwise_identical_weights(project):
    for _ in range(2):
        result = run_py(project, *QUICK, "--modify", "epochs", "2", "batch_size", "16")
        assert result.returncode == 0, result.stderr
    first, second = (
        torch.load(run / "model_epoch_1.pth", weights_only=True)["model_state_dict"]
        for run in run_directories(project)
    )
    assert all(torch.equal(first[name], second[name]) for name in first)


def final_weights(project, *edits: str) -> tuple[dict, dict]:
    """The metadata and final weights of a one-epoch run with `edits` (pairs for --modify)."""
    result = run_py(project, *QUICK, "--modify", "epochs", "1", "batch_size", "16", *edits)
    assert result.returncode == 0, result.stderr
    run = run_directories(project)[-1]
    weights = torch.load(run / "model_epoch_0.pth", weights_only=True)["model_state_dict"]
    return metadata_of(run), weights


@pytest.mark.machinery
def test_bf16_autocast_changes_the_arithmetic_but_not_what_is_learnt(project):
    float32_run, float32 = final_weights(project)
    bfloat16_run, bfloat16 = final_weights(project, "mixed_precision", "bf16")
    assert bfloat16_run["config"]["mixed_precision"] == "bf16"
    assert all(weights.dtype == torch.float32 for weights in bfloat16.values())
    # The forward passes ran in bfloat16: other weights, but the same training.
    assert not all(torch.equal(float32[name], bfloat16[name]) for name in float32)
    losses = [
        run["progress"]["last_results"]["train"]["loss"] for run in (float32_run, bfloat16_run)
    ]
    assert losses[1] == pytest.approx(losses[0], rel=0.05)


@pytest.mark.machinery
def test_a_compiled_model_trains_like_the_eager_one_and_saves_plain_names(project):
    _, eager = final_weights(project)
    compiled_run, compiled = final_weights(project, "compile_model", "true")
    assert compiled_run["config"]["compile_model"] is True
    # No `_orig_mod.` prefix: the checkpoint loads into a model that is not compiled.
    assert compiled.keys() == eager.keys()
    assert all(torch.allclose(eager[name], compiled[name], atol=1e-5) for name in eager)


@pytest.mark.machinery
def test_accumulating_n_batches_steps_as_one_batch_n_times_as_large(project):
    # The mini split's 100 samples: 3 steps of 32 and one of 4, in either run.
    _, big = final_weights(project, "batch_size", "32")
    accumulated_run, accumulated = final_weights(
        project, "batch_size", "8", "gradient_accumulation_steps", "4"
    )
    _, small = final_weights(project, "batch_size", "8")
    assert accumulated_run["config"]["gradient_accumulation_steps"] == 4
    # The same order of samples, summed in another order: equal up to float rounding.
    assert all(torch.allclose(accumulated[name], big[name], rtol=0, atol=1e-5) for name in big)
    assert not all(torch.allclose(small[name], big[name], rtol=0, atol=1e-3) for name in big)


@pytest.mark.machinery
def test_a_tiny_gradient_clip_norm_bounds_every_step(project):
    _, initial = final_weights(project, "model_parameters.learning_rate", "0")
    clipped_run, clipped = final_weights(project, "gradient_clip_norm", "1.0e-12")
    _, unclipped = final_weights(project)
    assert clipped_run["config"]["gradient_clip_norm"] == 1e-12
    # Adam moves a weight by at most learning_rate * |gradient| / eps per step, with
    # eps = 1e-8: 1e-7 per step here, over 7 steps (100 samples in batches of 16).
    learning_rate = clipped_run["config"]["model_parameters"]["learning_rate"]
    bound = 7 * learning_rate * 1e-12 / 1e-8
    assert all((clipped[name] - initial[name]).abs().max() <= bound for name in initial)
    assert any((unclipped[name] - initial[name]).abs().max() > 100 * bound for name in initial)


@pytest.mark.machinery
def test_warmup_cosine_sets_the_learning_rate_of_every_optimizer_step(project):
    schedule = "{type: warmup_cosine, warmup_steps: 3, final_learning_rate: 1.0e-5}"
    result = run_py(
        project,
        *QUICK,
        "--modify",
        "epochs",
        "2",
        "batch_size",
        "16",
        "learning_rate_schedule",
        schedule,
    )
    assert result.returncode == 0, result.stderr
    [run] = run_directories(project)
    config = metadata_of(run)["config"]
    assert config["learning_rate_schedule"] == {
        "type": "warmup_cosine",
        "warmup_steps": 3,
        "final_learning_rate": 1e-5,
    }
    # 7 optimizer steps an epoch: the scheduler was stepped after each of the 14, and the
    # last one ended the cosine (the rates between: test_config.py).
    checkpoint = torch.load(run / "model_epoch_1.pth", weights_only=True)
    assert checkpoint["step"] == checkpoint["scheduler_state_dict"]["last_epoch"] == 14
    assert checkpoint["optimizer_state_dict"]["param_groups"][0]["lr"] == pytest.approx(1e-5)


def test_compiling_without_a_compiler_is_refused_before_anything_is_written(project, tmp_path):
    # A PATH with git but no C++ compiler, as on a bare cluster node.
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git"))
    env = {**environment(project), "PATH": str(tools)}
    env.pop("CXX", None)
    result = subprocess.run(
        [sys.executable, "run.py", *QUICK, "--modify", "compile_model", "true"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2
    assert "compile_model: torch.compile needs a C++ compiler" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()


def test_allow_dirty_repo_runs_but_logs_nothing(project):
    (project / "notes.py").write_text("x = 1\n")
    result = run_py(project, *QUICK, "--allow-dirty-repo", "--y", "--modify", "epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "epoch 0:" in result.stdout + result.stderr
    assert not (project / "logs").exists()


def test_no_logging_writes_nothing(project):
    result = run_py(project, *QUICK, "--no-logging", "--modify", "epochs", "1")
    assert result.returncode == 0, result.stderr
    assert not (project / "logs").exists()


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


@pytest.mark.machinery
def test_bootstrap_model_file_loads_the_weights(project, tmp_path):
    assert run_py(project, *QUICK, "--modify", "epochs", "1").returncode == 0
    [first] = run_directories(project)
    source = first / "model_epoch_0.pth"
    # With a learning rate of zero, training leaves the bootstrapped weights unchanged.
    result = run_py(
        project,
        *QUICK,
        "--modify",
        "epochs",
        "1",
        "bootstrap_model_file",
        str(source),
        "model_parameters.learning_rate",
        "0",
    )
    assert result.returncode == 0, result.stderr
    [second] = [run for run in run_directories(project) if run != first]
    before = torch.load(source, weights_only=True)["model_state_dict"]
    after = torch.load(second / "model_epoch_0.pth", weights_only=True)["model_state_dict"]
    assert all(torch.equal(before[name], after[name]) for name in before)


@pytest.mark.machinery
def test_bootstrap_from_an_incompatible_model_names_the_mismatch(project):
    assert (
        run_py(
            project, *QUICK, "--modify", "epochs", "1", f"model_parameters.{WIDTH}", "4"
        ).returncode
        == 0
    )
    [first] = run_directories(project)
    result = run_py(
        project, *QUICK, "--modify", "bootstrap_model_file", str(first / "model_epoch_0.pth")
    )
    assert result.returncode == 2
    assert f"does not fit {MODEL}" in result.stderr
    assert FIRST_LAYER in result.stderr
    assert len(run_directories(project)) == 1


def test_a_prediction_that_would_broadcast_against_its_supervision_is_refused(project):
    """(B, 1, 2) against (B, 2) would broadcast to (B, B, 2) and train without a word."""
    source = next((project / "src").glob("*/model.py"))
    forward = 'return self.policy(batch["position"], batch["goal"])'
    assert forward in source.read_text()
    source.write_text(source.read_text().replace(forward, forward + ".unsqueeze(1)"))
    git(project, "commit", "--quiet", "--all", "-m", "a prediction of the wrong shape")
    result = run_py(project, *QUICK, "--modify", "epochs", "1")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: the prediction's shape (2, 1, 2) differs from the supervision's (2, 2): the "
        "loss would broadcast them to (2, 2, 2) (train's data through ToyPolicy)"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "logs").exists()
