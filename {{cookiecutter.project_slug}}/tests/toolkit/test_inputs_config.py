"""Config inputs that once ended in a traceback or a hang: numbers as users type them,
values of the wrong type or out of range, text in another encoding, YAML that would
exhaust the loader, a FIFO, a bootstrap file that is no checkpoint. Each now stops with
a short message naming the key, value or file at fault, and writes nothing.
"""

import os
import re

import pytest
import torch
import yaml
from harness import MODEL, SAMPLE, TOY_PROJECT, WIDTH, run_py
from inputs_harness import (
    SAMPLE_TEXT,
    refused_config,
    refused_run,
    sample_with,
    write,
)

from {{ cookiecutter.project_slug }}.toolkit.base_dataset import FishboticsDataset
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import load_model_weights
from {{ cookiecutter.project_slug }}.toolkit.config import load_config
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu")
# Nine levels of ten aliases: a few lines that stand for 10**9 values.
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n" for level in range(1, 9)
)


# --------------------------------------------------------------------------------------
# Numbers as users type them, and values of the wrong type or out of range


@pytest.mark.parametrize("spelling", ["1e-4", "1E-4", "+1e-4", "0.1e-3", ".1e-3", "1.0e-4"])
def test_an_exponent_without_a_dot_is_a_float_in_files_and_edits(tmp_path, spelling):
    path = write(tmp_path, sample_with(r"^  learning_rate: \S+", f"  learning_rate: {spelling}"))
    assert load_config(path, TOY_PROJECT)["model_parameters"]["learning_rate"] == 1e-4
    edited = load_config(SAMPLE, TOY_PROJECT, modify=["model_parameters.learning_rate", spelling])
    assert edited["model_parameters"]["learning_rate"] == 1e-4


def test_a_string_that_looks_like_such_a_float_stays_a_string(tmp_path):
    config = load_config(SAMPLE, TOY_PROJECT, modify=["description", "'1e-4'"])
    assert config["description"] == "1e-4"
    assert load_config(write(tmp_path, dump(config)), TOY_PROJECT)["description"] == "1e-4"


def test_small_aliases_still_work():
    config = load_config(
        SAMPLE,
        TOY_PROJECT,
        modify=["data_loader_parameters", "{all: &shared {mini_size: 7}, train: *shared}"],
    )
    assert config["data_loader_parameters"]["train"] == {"mini_size": 7}


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            ("model_parameters.learning_rate", '"0.001"'),
            "model_parameters.learning_rate: expected float, got '0.001'",
        ),
        (
            ("model_parameters.learning_rate_decay", "true"),
            "model_parameters.learning_rate_decay: expected float, got True",
        ),
        (
            (f"model_parameters.{WIDTH}", "true"),
            f"model_parameters.{WIDTH}: expected int, got True",
        ),
        (
            (f"model_parameters.{WIDTH}", "64.0"),
            f"model_parameters.{WIDTH}: expected int, got 64.0",
        ),
        (
            ("data_loader_parameters.train.mini_size", "x"),
            "data_loader_parameters.train.mini_size: expected int, got 'x'",
        ),
        (
            ("data_loader_parameters.all.mini_size", "[1, 2]"),
            "data_loader_parameters.all.mini_size: expected int, got [1, 2]",
        ),
        (("seed", "-1"), "seed: expected an integer from 0 to"),
        (("seed", str(2**64)), "seed: expected an integer from 0 to"),
        (("checkpoint_interval", ".inf"), "checkpoint_interval: expected seconds"),
        (("checkpoint_interval", ".nan"), "checkpoint_interval: expected seconds"),
        (("gradient_clip_norm", "0"), "gradient_clip_norm: expected a positive number"),
        (("gradient_clip_norm", ".inf"), "gradient_clip_norm: expected a positive number"),
        (
            ("gradient_accumulation_steps", "0"),
            "gradient_accumulation_steps: value must be at least 1",
        ),
        (
            ("gradient_accumulation_steps", "2.0"),
            "gradient_accumulation_steps: expected an integer",
        ),
        (("learning_rate_schedule", "cosine"), "learning_rate_schedule: expected a dictionary"),
        (
            ("learning_rate_schedule.type", "cosine"),
            "learning_rate_schedule.type: expected exponential or warmup_cosine",
        ),
        (
            ("learning_rate_schedule.warmup_steps", "100"),  # the sample's type is exponential
            "learning_rate_schedule.warmup_steps: warmup_steps belongs to type warmup_cosine",
        ),
        (
            ("learning_rate_schedule", "{type: warmup_cosine, warmup_steps: -1}"),
            "learning_rate_schedule.warmup_steps: value must be at least 0",
        ),
        (
            ("learning_rate_schedule", "{type: warmup_cosine, final_learning_rate: .nan}"),
            "learning_rate_schedule.final_learning_rate: expected a finite number >= 0",
        ),
        (("data_directory", "~nouser-x/data"), "data_directory: '~nouser-x/data' starts with"),
        (("bootstrap_model_file", "~nouser-x/model.pth"), "bootstrap_model_file: '~nouser-x/"),
        (
            ("model_parameters.learning_rate", "[" + "1, " * 5000 + "1]"),
            "model_parameters.learning_rate: expected float, got [1, 1, 1, 1, 1, 1, ...]",
        ),
    ],
)
def test_a_value_of_the_wrong_type_names_its_key_and_the_type(edit, message):
    refused_config(edit, message)


def test_constructors_refuse_values_out_of_range():
    for parameters in (
        {"learning_rate": float("nan")},
        {"learning_rate": -1.0},
        {"learning_rate": float("inf")},
    ):
        with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0"):
            getattr(TOY_PROJECT.models, MODEL)(**parameters)
    for size in (0, -5):
        with pytest.raises(UserError, match=f"mini_size must be at least 1, got {size}"):
            FishboticsDataset("data", "train", mini=True, mini_size=size)
    with pytest.raises(ValueError, match=WIDTH):
        getattr(TOY_PROJECT.models, MODEL)(**{WIDTH: 0})


def test_a_learning_rate_typed_1e_4_trains_with_that_rate(project):
    result = run_py(
        project,
        *QUICK,
        "--modify",
        "model_parameters.learning_rate",
        "1e-4",
        "--modify",
        "epochs",
        "1",
    )
    assert result.returncode == 0, result.stderr
    [metadata] = (project / "logs").glob("*/*/metadata.yaml")
    record = yaml.safe_load(metadata.read_text())
    assert record["status"] == "finished"
    assert record["config"]["model_parameters"]["learning_rate"] == 1e-4


# --------------------------------------------------------------------------------------
# Files: encodings, FIFOs, YAML that would exhaust the loader


@pytest.mark.parametrize(
    "encoding, message",
    [
        ("latin-1", "it is not UTF-8 text"),
        ("utf-16", "it is UTF-16 text"),
    ],
)
def test_a_config_not_in_utf8_names_its_encoding(tmp_path, encoding, message):
    path = write(tmp_path, sample_with(r"^description: .*$", "description: café").encode(encoding))
    text = refused_config(path, message)
    assert str(path) in text and "save it as UTF-8" in text


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + SAMPLE_TEXT.encode())
    assert load_config(path, TOY_PROJECT) == load_config(SAMPLE, TOY_PROJECT)


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochs: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
        ("[1, 2]: 3\n", "a list cannot be a key"),
        ("{a: 1}: 3\n", "a dict cannot be a key"),
        ("loop: &loop [*loop]\n", "a value that contains itself"),
        ("when: 2024-13-45\n", "a value YAML cannot read (ValueError: month must be in 1..12)"),
        ("when: !!timestamp x\n", "a value YAML cannot read (AttributeError"),
        (ALIAS_BOMB, "aliases expand to more than"),
    ],
)
def test_yaml_that_would_exhaust_or_crash_the_loader_is_refused(tmp_path, text, message):
    if text == ALIAS_BOMB:  # the bomb goes off in a key that takes a value, as filed
        text = ALIAS_BOMB + sample_with(r"^description: .*$", "description: *a8")
    else:
        text = SAMPLE_TEXT + text
    refused_config(write(tmp_path, text), message)


def test_an_alias_bomb_in_an_edit_is_refused():
    bomb = "[" + ", ".join(["&a [x, x, x, x, x, x, x, x, x, x]"] + ["*a"] * 2000) + "]"
    refused_config(["description", bomb], "aliases expand to more than")


def test_a_fifo_config_is_refused_rather_than_waited_on(project, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused_run(
        project,
        str(fifo),
        "--print-config",
        timeout=60,
        message=f"cannot read config file {fifo}: it is not a regular file",
    )


def test_a_bootstrap_file_that_is_no_checkpoint_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    numbered = tmp_path / "numbered.pth"
    torch.save({1: torch.zeros(2)}, numbered)
    for path, message in [
        (fifo, "is not a regular file"),  # opening it would wait for a writer
        (
            write(tmp_path, "root:x:0:0:root:/root:/bin/sh\n", "passwd"),
            "is not a readable PyTorch checkpoint",
        ),
        (numbered, "holds no model weights"),
    ]:
        with pytest.raises(UserError, match=re.escape(f"bootstrap_model_file {path} {message}")):
            load_model_weights(torch.nn.Linear(2, 2), path)
