"""Inputs that once ended in a traceback or a hang. Each now stops with a short message
naming the key, value or file at fault, and writes nothing.

The config loader and the edit flags are also fed random text, bytes and edits
(Hypothesis): whatever they get, they give a valid config or a UserError, never
another exception.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from harness import MODEL, SAMPLE, TOY_PROJECT, WIDTH, environment, git, run_py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.project_slug }}.schema import TOP_LEVEL_KEYS
from {{ cookiecutter.project_slug }}.toolkit.base_dataset import FishboticsDataset
from {{ cookiecutter.project_slug }}.toolkit.checkpoints import load_model_weights
from {{ cookiecutter.project_slug }}.toolkit.config import load_config
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump

SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
QUICK = ("sample_runconfig.yaml", "--mini", "--cpu")
# Nine levels of ten aliases: a few lines that stand for 10**9 values.
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n" for level in range(1, 9)
)
LONGEST_LINE = 500  # of an error message


def write(directory: Path, content: str | bytes, name: str = "config.yaml") -> Path:
    path = directory / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def sample_with(pattern: str, replacement: str) -> str:
    return re.sub(pattern, replacement, SAMPLE_TEXT, count=1, flags=re.MULTILINE)


def refused_config(path_or_edits, message: str) -> str:
    """The UserError load_config raises, checked to contain `message` and to be short."""
    with pytest.raises(UserError) as error:
        if isinstance(path_or_edits, Path):
            load_config(path_or_edits, TOY_PROJECT)
        else:
            load_config(SAMPLE, TOY_PROJECT, modify=list(path_or_edits))
    text = str(error.value)
    assert message in text
    assert max(map(len, text.splitlines())) <= LONGEST_LINE
    return text


def run_directories_in(project: Path) -> list[Path]:
    return sorted((project / "logs").glob("*/*"))


def refused_run(project: Path, *args: str, message: str, timeout: int = 600) -> str:
    """`run.py ARGS` exits with 2 and `message`, no traceback, no new run directory."""
    before = run_directories_in(project)
    result = subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=project,
        env=environment(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert run_directories_in(project) == before
    return result.stderr


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


# --------------------------------------------------------------------------------------
# Records damaged by hand


def hand_made_run(project: Path, damage) -> Path:
    """A run directory whose metadata.yaml --resume would accept, after `damage(record)`."""
    record = {
        "description": "made by hand",
        "status": "interrupted",
        "git": {"commit": git(project, "rev-parse", "HEAD")},
        "flags": {"cpu": True, "mini": True},
        "environment": {"threads": 1},
{% if cookiecutter.multi_gpu %}
        "distributed": {"launcher": "single process", "world_size": 1, "backend": None},
{% endif %}
        "config": load_config(SAMPLE, TOY_PROJECT),
    }
    damage(record)
    directory = project / "logs" / MODEL / "2026-01-01_00-00-00"
    directory.mkdir(parents=True)
    (directory / "metadata.yaml").write_text(dump(record))
    return directory


def without_environment_and_flags(record: dict) -> None:
    del record["environment"]
    record["flags"] = None


@pytest.mark.parametrize(
    "flag, damage, messages",
    [
        (
            "--resume",
            without_environment_and_flags,
            ["environment: required key not provided", "flags: expected a dictionary"],
        ),
        ("--rerun", lambda record: record.update(git="abc"), ["git: expected a dictionary"]),
    ],
)
def test_a_damaged_record_names_the_fields(project, flag, damage, messages):
    run = hand_made_run(project, damage)
    before = (run / "metadata.yaml").read_bytes()
    stderr = refused_run(project, flag, str(run), message="metadata.yaml is damaged")
    assert all(message in stderr for message in messages)
    assert (run / "metadata.yaml").read_bytes() == before


def test_a_record_not_in_utf8_is_refused(project):
    run = hand_made_run(project, lambda record: None)
    with open(run / "metadata.yaml", "ab") as file:
        file.write("summary: café\n".encode("latin-1"))
    refused_run(
        project,
        "--print-config",
        "--resume",
        str(run),
        message="metadata.yaml: it is not UTF-8 text",
    )


# --------------------------------------------------------------------------------------
# The file system and the network refuse: faults injected into a run (a file system
# mounted to fail, a port taken), exhaustive checks of the machinery (pytest -m machinery)


def mount_tmpfs(directory: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system for this test needs root")
    directory.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")


@pytest.mark.machinery
def test_a_read_only_logs_directory_is_a_clear_error(project):
    logs = project / "logs"
    mount_tmpfs(logs, "ro,size=64k")
    try:
        refused_run(project, *QUICK, message="Read-only file system")
    finally:
        subprocess.run(["umount", str(logs)], check=True)


@pytest.mark.machinery
def test_a_full_disk_fails_the_run_and_keeps_its_checkpoints(project):
    # Room for the record (about 6 KB with its data fingerprint, and a temporary copy of
    # it for each rewrite) and the first epoch's checkpoint, not for the second's.
    room = "80k"  # a checkpoint of this model takes about 41 KB
    logs = project / "logs"
    mount_tmpfs(logs, f"size={room}")
    try:
        result = run_py(
            project,
            *QUICK,
            "--modify",
            "epochs",
            "3",
            "--modify",
            "checkpoint_interval",
            "null",
            "--modify",
            f"model_parameters.{WIDTH}",
            "4",
        )
        assert result.returncode == 2, result.stderr
        assert "No space left on device" in result.stderr
        assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
        [run] = run_directories_in(project)
        record = yaml.safe_load((run / "metadata.yaml").read_text())
        assert record["status"] == "failed"
        assert record["progress"]["epochs_completed"] == 1
        assert "model_state_dict" in torch.load(run / "model_epoch_0.pth", weights_only=True)
    finally:
        subprocess.run(["umount", str(logs)], check=True)
{% if cookiecutter.multi_gpu %}


@pytest.mark.machinery
def test_a_meeting_port_in_use_is_refused_before_the_run_starts(project):
    import socket  # this test's alone, in a multi-GPU bake

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        parameters = dump({"ngpus_per_node": 2, "url": f"tcp://127.0.0.1:{port}"})
        refused_run(
            project,
            *QUICK,
            "--modify",
            "multigpu_parameters",
            parameters,
            message=f"multigpu_parameters.url: cannot listen on 127.0.0.1:{port}",
        )
    assert not (project / "logs").exists()
{% endif %}


# --------------------------------------------------------------------------------------
# Whatever the input: a valid config or a UserError


YAML_PIECES = [
    ":",
    ": ",
    " ",
    "\n",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "<<: ",
    "? ",
    "!!float ",
    "!!int ",
    "!!binary ",
    "!!timestamp ",
    "!!python/tuple ",
    "!!set ",
    "|\n",
    ">\n",
    "'",
    '"',
    "# ",
    "\t",
    "~",
    "null",
    "true",
    "1e-4",
    ".inf",
    ".nan",
    "-1",
    "0",
    str(2**64),
    "2024-13-45",
    "x",
    "é",
    "\x1b[2J",
    "\ufeff",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "epochs",
    "seed",
    "description",
    "model_parameters",
    "learning_rate",
    "data_loader_parameters",
    "mini_size",
    "bootstrap_model_file",
    "data_directory",
]
yaml_like = st.lists(st.sampled_from(YAML_PIECES), max_size=30).map("".join)
# The sample config with YAML fragments (or any text) spliced into it somewhere.
spliced_text = st.tuples(st.integers(0, len(SAMPLE_TEXT)), st.one_of(yaml_like, st.text())).map(
    lambda cut: SAMPLE_TEXT[: cut[0]] + cut[1] + SAMPLE_TEXT[cut[0] :]
)
spliced_bytes = st.tuples(st.integers(0, len(SAMPLE_TEXT)), st.binary(max_size=20)).map(
    lambda cut: SAMPLE_TEXT.encode()[: cut[0]] + cut[1] + SAMPLE_TEXT.encode()[cut[0] :]
)
KEYS = [
    *TOP_LEVEL_KEYS,
    "model_parameters.learning_rate",
    "model_parameters.learning_rate_decay",
    "data_loader_parameters.all",
    "data_loader_parameters.train.mini_size",
    "data_loader_parameters.train.preload",
    "model_parameters.nothing",
    "learning_rate_schedule.type",
    "learning_rate_schedule.warmup_steps",
    "learning_rate_schedule.final_learning_rate",
]
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
value_texts = st.one_of(values.map(dump), yaml_like, st.text(max_size=12))
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))
snippets = st.one_of(
    st.sampled_from(["epochs", "256", "128", ": ", "\n", "null", "  "]), st.text(max_size=4)
)
edits = st.lists(
    st.one_of(
        st.tuples(st.just("modify"), keys, value_texts),
        st.tuples(st.just("delete"), keys),
        st.tuples(st.just("find_replace"), snippets, st.one_of(yaml_like, st.text(max_size=8))),
    ),
    max_size=4,
)
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def loads_or_refuses(path: Path, directory: Path, **edits) -> None:
    """load_config gives a complete config that prints and reads back as itself, or
    a short UserError; any other exception fails the test."""
    try:
        config = load_config(path, TOY_PROJECT, **edits)
    except UserError as error:
        assert max(map(len, str(error).splitlines()), default=0) <= LONGEST_LINE
        return
    assert set(config) == set(TOP_LEVEL_KEYS)
    printed = dump(config)
    assert dump(load_config(write(directory, printed, "printed.yaml"), TOY_PROJECT)) == printed


@EXAMPLES
@given(text=spliced_text)
def test_any_config_text_gives_a_config_or_a_user_error(tmp_path, text):
    loads_or_refuses(write(tmp_path, text), tmp_path)


@EXAMPLES
@given(data=st.one_of(spliced_bytes, st.binary(max_size=64)))
def test_any_config_bytes_give_a_config_or_a_user_error(tmp_path, data):
    loads_or_refuses(write(tmp_path, data), tmp_path)


@EXAMPLES
@given(chosen=edits, extra=st.lists(st.text(max_size=6), max_size=1))
def test_any_edit_flags_give_a_config_or_a_user_error(tmp_path, chosen, extra):
    flags = {"find_replace": [], "delete": [], "modify": []}
    for flag, *arguments in chosen:
        flags[flag] += arguments
    # A value too few or too many, as a user may type them.
    flags["modify" if len(chosen) % 2 else "find_replace"] += extra
    loads_or_refuses(SAMPLE, tmp_path, **flags)
