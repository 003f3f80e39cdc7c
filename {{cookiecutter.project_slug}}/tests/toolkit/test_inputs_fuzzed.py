"""The config loader and the edit flags fed random text, bytes and edits (Hypothesis):
whatever they get, they give a valid config or a UserError, never another exception.
"""

from pathlib import Path

from harness import SAMPLE, TOY_PROJECT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inputs_harness import (
    LONGEST_LINE,
    SAMPLE_TEXT,
    write,
)

from {{ cookiecutter.project_slug }}.schema import TOP_LEVEL_KEYS
from {{ cookiecutter.project_slug }}.toolkit.config import load_config
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump

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
