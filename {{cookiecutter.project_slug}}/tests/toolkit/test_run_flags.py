"""run.py as a user drives it: the repository guard, the edit flags and the flags each
command takes, each mistake refused before anything is written."""

import re

import pytest
import yaml
from harness import MODEL, run_py

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


# One run.py a case; test_config.py and test_inputs_config.py check the same edits in-process.
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
