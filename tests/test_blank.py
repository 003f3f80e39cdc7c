"""The blank task's skeleton, as a new user meets it: each place left to fill in stops a
run with its name, and the example in each TODO works once written.

These checks belong to the template: the generated project's own tests must pass once
its user has filled the skeleton in, so none of them asserts the unfilled one."""

import re

import h5py
import numpy as np
import pytest
from conftest import git, python

QUICK = ("run.py", "sample_runconfig.yaml", "--mini", "--cpu")
SIZES = ("--train-examples", "30", "--val-examples", "10", "--test-examples", "10", "--shards", "3")
# The example in make_examples' comment, as a user might write it first.
EXAMPLE = """    inputs = rng.normal(size=(count, 8)).astype(np.float32)
    return {"inputs": inputs, "targets": inputs.sum(axis=1, keepdims=True)}
"""


@pytest.fixture
def blank(bake):
    result = bake(task="blank")
    assert result.exit_code == 0, result.exception
    return result.project_path


def commit(project, message: str) -> None:
    git(project, "add", "--all")
    git(
        project,
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--quiet",
        "--allow-empty",
        "--no-verify",
        "-m",
        message,
    )


def write_shards(project) -> None:
    """Data as scripts/make_dataset.py would write it once make_examples is filled in."""
    for split in ("train", "val", "test"):
        (project / "data" / split).mkdir(parents=True)
        with h5py.File(project / "data" / split / "shard_000.h5", "w") as file:
            file["inputs"] = np.zeros((10, 3), dtype=np.float32)
            file["targets"] = np.zeros((10, 1), dtype=np.float32)


def fill_in_the_fields(project) -> None:
    source = next((project / "src").glob("*/data_loader.py"))
    source.write_text(
        source.read_text().replace(
            "fields: dict[str, Field] = {}",
            'fields = {"inputs": Field("inputs", "float32", (3,)),\n'
            '              "supervision": Field("targets", "float32", (1,))}',
        )
    )


@pytest.mark.slow(minutes=1)
def test_each_place_left_to_fill_stops_the_run_with_its_name(blank):
    """What a user meets on the way to a first run, one place at a time."""
    steps = [
        ("no *.h5 shard files", None),
        ("MyDataset.fields is empty", write_shards),
        ("MyModel.forward in model.py is yours to write", fill_in_the_fields),
    ]
    for message, fill_in in steps:
        if fill_in:
            fill_in(blank)
            commit(blank, "the next place filled in")
        result = python(blank, *QUICK)
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert not (blank / "logs").exists()


def with_written(project, function: str, body: str):
    """The project's make_dataset.py, with `body` in place of `function`'s TODO."""
    script = project / "scripts" / "make_dataset.py"
    source = script.read_text()
    start = source.index("    raise UserError", source.index(f"def {function}"))
    end = source.index("\n\n\n", start)
    script.write_text(source[:start] + body + source[end + 1 :])
    return script


def test_make_dataset_names_the_function_to_write(blank, tmp_path):
    result = python(blank, "scripts/make_dataset.py", "--output", str(tmp_path / "data"), *SIZES)
    assert result.returncode != 0
    assert "make_examples in scripts/make_dataset.py is yours to write" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "train").exists()


def test_once_written_make_examples_writes_the_same_shards_every_time(blank, tmp_path):
    script = with_written(blank, "make_examples", EXAMPLE)
    for output in ("first", "second"):
        result = python(blank, str(script), "--output", str(tmp_path / output), *SIZES)
        assert result.returncode == 0, result.stderr
    for split, rows in (("train", 30), ("val", 10), ("test", 10)):
        first = sorted((tmp_path / "first" / split).glob("*.h5"))
        second = sorted((tmp_path / "second" / split).glob("*.h5"))
        assert len(first) == 3
        assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
        assert sum(len(h5py.File(path, "r")["inputs"]) for path in first) == rows


@pytest.mark.slow(minutes=1)
def test_the_shipped_tests_pass_and_skip_what_needs_data_not_yet_written(blank):
    result = python(
        blank, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "--ignore", "tests/toolkit"
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ skipped", result.stdout), result.stdout[-500:]
    assert "failed" not in result.stdout


def test_the_readme_shows_the_load_run_call_and_a_directory_that_is_no_run_is_refused(
    blank, tmp_path
):
    readme = (blank / "README.md").read_text()
    [example] = re.findall(r"<!-- load_run example -->\n```python\n(.*?)```\n", readme, re.S)
    compile(example, "README.md", "exec")
    assert "PROJECT.load_run(" in example
    result = python(blank, "-c", f"from run import PROJECT; PROJECT.load_run({str(tmp_path)!r})")
    assert f"{tmp_path} is not a run directory: it has no metadata.yaml" in result.stderr
    assert "python run.py --list" in result.stderr


# Data that already exists in a file: read_examples and --from.
# The CSV example in read_examples' comment, as a user might write it first.
CSV_EXAMPLE = (
    '    table = np.loadtxt(source, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)\n'
    '    return {"inputs": table[:, :-1], "targets": table[:, -1:]}\n'
)


def with_read_examples(project, body):
    """The project's script, with `body` in place of read_examples' TODO."""
    return with_written(project, "read_examples", body)


def a_table(path, rows):
    """A CSV file with a header line: each row's number (its id), a feature, a target."""
    path.write_text("id,x,y\n" + "".join(f"{row},{row / 2},{row * 2}\n" for row in range(rows)))
    return path


def read_from(project, source, output, *flags):
    return python(
        project, "scripts/make_dataset.py", "--from", str(source), "--output", str(output), *flags
    )


def split_ids(output, split):
    ids = []
    for path in sorted((output / split).glob("*.h5")):
        with h5py.File(path, "r") as file:
            ids += [int(value) for value in file["inputs"][:, 0]]
    return ids


def test_unwritten_read_examples_is_named_when_data_comes_from_a_file(blank, tmp_path):
    result = read_from(blank, a_table(tmp_path / "my_table.csv", 20), tmp_path / "data")
    assert result.returncode != 0
    assert "read_examples in scripts/make_dataset.py is yours to write" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_file_is_read_once_and_split_by_the_seed_the_same_way_every_time(blank, tmp_path):
    # The reader is the one read_examples' comment shows.
    for line in CSV_EXAMPLE.splitlines():
        assert f"#     {line.strip()}" in (blank / "scripts" / "make_dataset.py").read_text()
    with_read_examples(blank, CSV_EXAMPLE)
    table = a_table(tmp_path / "my_table.csv", 50)
    for output, seed in (("first", "0"), ("second", "0"), ("other_seed", "1")):
        result = read_from(blank, table, tmp_path / output, "--shards", "2", "--seed", seed)
        assert result.returncode == 0, result.stderr

    # The default fractions: a tenth each to val/ and test/, the rest to train/.
    for split, rows in (("train", 40), ("val", 5), ("test", 5)):
        first = sorted((tmp_path / "first" / split).glob("*.h5"))
        second = sorted((tmp_path / "second" / split).glob("*.h5"))
        assert len(first) == 2
        assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
        assert len(split_ids(tmp_path / "first", split)) == rows
    # Every row in exactly one split; another seed, another split.
    ids = [split_ids(tmp_path / "first", split) for split in ("train", "val", "test")]
    assert sorted(sum(ids, [])) == list(range(50))
    assert split_ids(tmp_path / "other_seed", "test") != ids[2]


@pytest.mark.parametrize(
    ("body", "rows", "expected"),
    [
        # A reader that loses a row of the targets.
        (
            CSV_EXAMPLE.replace("table[:, -1:]", "table[1:, -1:]"),
            20,
            "different row counts (inputs: 20, targets: 19)",
        ),
        # A tenth of 4 rows rounds to none.
        (CSV_EXAMPLE, 4, "leave val/ empty with --val-fraction 0.1"),
        (CSV_EXAMPLE, None, "no such file"),
    ],
    ids=["different row counts", "an empty split", "no file"],
)
def test_data_read_from_a_file_that_cannot_be_split_is_refused(
    blank, tmp_path, body, rows, expected
):
    """One line naming the file and saying `expected`, and nothing written."""
    table = tmp_path / "my_table.csv"
    if rows is not None:
        a_table(table, rows)
    with_read_examples(blank, body)
    result = read_from(blank, table, tmp_path / "data")
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("error: ") and str(table) in message and expected in message
    assert not (tmp_path / "data").exists()
