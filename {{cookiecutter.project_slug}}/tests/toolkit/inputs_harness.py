"""What the tests of inputs share: configs written from the sample's text, and a config
or a run.py command checked to be refused with a short message."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness import SAMPLE, TOY_PROJECT, environment

from {{ cookiecutter.project_slug }}.toolkit.config import load_config
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError

SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
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
