"""The adoption paths stay green: each task's own-data recipe, followed as the generated
README words it, leaves the generated project's default `pytest` passing, with no edit
to a toolkit test (tests/toolkit/), and a logged run that trains on the new data.

Each test is a researcher: it bakes a project, edits the researcher's files as the
README's recipe says (make_dataset.py, the datasets' fields, the model, the sample
config, and the researcher's own tests under tests/), commits, and runs the project's
default test command."""

import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import git, python

pytestmark = pytest.mark.slow(minutes=3)
# The generated project's default test command, as its README and CI run it.
DEFAULT_PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider")


def baked(bake, **answers) -> Path:
    result = bake(**answers)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def readme_section(project: Path, title: str) -> str:
    """The generated README's section (or bold-headed paragraph) that starts with `title`."""
    readme = (project / "README.md").read_text()
    start = readme.index(title)
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else None]


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace `old` by `new` in `path`, where the recipe says; `old` must be there
    `count` times (so that a change to the template's files shows here)."""
    text = path.read_text()
    assert text.count(old) == count, f"{path.name}: {old!r} found {text.count(old)} times"
    path.write_text(text.replace(old, new))


def package(project: Path) -> Path:
    [source] = (project / "src").glob("*/data_loader.py")
    return source.parent


def commit(project: Path, message: str) -> None:
    git(project, "add", "--all")
    git(project, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", message)


def the_default_pytest_passes(project: Path) -> str:
    """The project's default `pytest`, which must pass with no failure, error or skip, and
    with no change to tests/toolkit/ since the bake's first commit."""
    [first] = git(project, "rev-list", "--max-parents=0", "HEAD").split()
    assert git(project, "diff", "--name-only", first, "HEAD", "--", "tests/toolkit") == ""
    assert git(project, "status", "--porcelain") == ""
    started = time.monotonic()
    result = python(project, *DEFAULT_PYTEST, OMP_NUM_THREADS="1")
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"{project.name}: default pytest in {time.monotonic() - started:.0f} s: {summary}")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", summary), summary
    for word in ("failed", "error", "skipped"):
        assert word not in summary, result.stdout[-5000:]
    return result.stdout


def a_logged_run_finishes(project: Path, tmp_path: Path, *flags: str) -> dict:
    """`python run.py sample_runconfig.yaml --cpu FLAGS` on the project's data/: it is
    logged and finishes; its metadata."""
    started = time.monotonic()
    result = python(
        project,
        "run.py",
        "sample_runconfig.yaml",
        "--cpu",
        *flags,
        OMP_NUM_THREADS="1",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr[-5000:]
    [metadata_file] = (project / "logs").glob("*/*/metadata.yaml")
    metadata = yaml.safe_load(metadata_file.read_text())
    print(
        f"{project.name}: logged run {' '.join(flags)} in {time.monotonic() - started:.0f} s: "
        f"{metadata['final_test']['results']}"
    )
    assert metadata["status"] == "finished"
    return metadata


# Classification: 3 classes of 24 x 24 images, read from the researcher's own file.
SIDE, CLASSES = 24, ("blob", "frame", "cross")


def own_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, 24, 24) uint8 grey images and int64 labels: a central blob, a frame, or an X
    under noise; each looks the same turned or mirrored, so test-time augmentation suits
    them."""
    index = np.arange(SIDE)
    rows, columns = np.meshgrid(index, index, indexing="ij")
    centre = (SIDE - 1) / 2
    patterns = np.stack(
        [
            np.hypot(rows - centre, columns - centre) < SIDE / 4,
            np.maximum(abs(rows - centre), abs(columns - centre)) > SIDE / 2 - 4,
            (abs(rows - columns) < 2) | (abs(rows + columns - SIDE + 1) < 2),
        ]
    )
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), size=count).astype(np.int64)
    grey = 60 + 130 * patterns[labels] + rng.normal(0, 30, size=(count, SIDE, SIDE))
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8), labels


def write_own_images(path: Path, counts: dict[str, int]) -> Path:
    """The researcher's data: one .npz file, SPLIT_images and SPLIT_labels per split."""
    arrays = {}
    for seed, (split, count) in enumerate(counts.items()):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = own_images(count, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


CLASSIFICATION_READER = '''CLASS_NAMES = ("blob", "frame", "cross")


def read_images(source: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's images (N, 1, H, W) uint8 and labels (N,) int64 from our .npz file."""
    with np.load(source) as arrays:
        images = arrays[f"{split}_images"][:, None]
        return images.astype(np.uint8), arrays[f"{split}_labels"].astype(np.int64)
'''

CLASSIFICATION_TEST_DATA = '''"""Our images as make_dataset.py writes them: 24 x 24, 3 classes."""

import h5py
import numpy as np
import torch

from PACKAGE.data_loader import ShapeImageDataset
from PACKAGE.model import ShapeClassifier


def rows_of(dataset_directory, split, field):
    paths = sorted((dataset_directory / split).glob("*.h5"))
    return np.concatenate([h5py.File(path, "r")[field][:] for path in paths])


def test_the_shards_hold_24_by_24_bytes_and_three_classes(dataset):
    images = rows_of(dataset, "train", "images")
    labels = rows_of(dataset, "train", "labels")
    assert images.dtype == np.uint8 and images.shape[1:] == (1, 24, 24)
    assert labels.dtype == np.int64 and set(np.unique(labels)) == {0, 1, 2}


def test_the_model_scores_three_classes(dataset):
    model = ShapeClassifier(channels=4, num_classes=3)
    batch = model.transform(ShapeImageDataset(dataset, "test").__getitems__([0, 1, 2]))
    assert model(batch).shape == (3, 3)
    assert torch.isfinite(model.rollout(batch)).all()
'''


def test_classification_with_other_images_and_classes(bake, tmp_path):
    """24 x 24 images of 3 classes, from a file of the researcher's, in place of the
    32 x 32 shapes of 5 classes."""
    project = baked(bake, task="classification")
    recipe = readme_section(project, "## Your own data")
    source = package(project)
    script = project / "scripts" / "make_dataset.py"

    # 1. Write the shards from make_dataset.py: make_images replaced with the reading
    # of our data (a --source file), write_split kept; no --image-size any more.
    assert "replace `make_images` with the" in recipe
    edit(
        script,
        f"from {source.name}.shapes import CLASS_NAMES, make_images\n",
        CLASSIFICATION_READER,
    )
    edit(
        script,
        "    parser.add_argument(\n"
        '        "--image-size",\n'
        "        type=int,\n"
        "        default=32,\n"
        '        help="side of the square images in pixels (default: %(default)s)",\n'
        "    )\n",
        '    parser.add_argument("--source", type=Path, default=Path("data_raw/images.npz"),\n'
        '                        help="our images, an .npz file (default: %(default)s)")\n',
    )
    edit(
        script,
        '    if args.image_size < 16:\n        parser.error("--image-size must be at least 16")\n',
        "",
    )
    edit(
        script,
        "images, labels = make_images(count, rng, args.image_size)",
        "images, labels = read_images(args.source, split)",
    )
    # 2. Point the config at it: model_parameters.num_classes.
    assert "`model_parameters.num_classes`" in recipe
    edit(project / "sample_runconfig.yaml", "  num_classes: 5", "  num_classes: 3")
    # 4. Replace the sample task's tests: test_data.py checks our data; shapes.py goes
    # once nothing imports it; the tests' small dataset is a sample of our file.
    assert "tests/test_data.py" in recipe and "DATASET_ARGUMENTS" in recipe
    (project / "tests" / "test_data.py").write_text(
        CLASSIFICATION_TEST_DATA.replace("PACKAGE", source.name)
    )
    (source / "shapes.py").unlink()
    write_own_images(project / "tests" / "sample_images.npz", {"train": 300, "val": 90, "test": 90})
    edit(
        project / "tests" / "helpers.py",
        'DATASET_ARGUMENTS = (\n    "--train-images",\n    "400",\n    "--val-images",\n'
        '    "120",\n    "--test-images",\n    "100",\n    "--image-size",\n    "16",\n'
        '    "--shards",\n    "3",\n)',
        'DATASET_ARGUMENTS = ("--source", str(PROJECT_ROOT / "tests" / "sample_images.npz"),\n'
        '                     "--shards", "3")',
    )
    commit(project, "Our 24 x 24 images of 3 classes")

    write_own_images(project / "data_raw" / "images.npz", {"train": 1200, "val": 200, "test": 200})
    result = python(project, "scripts/make_dataset.py")
    assert result.returncode == 0, result.stderr
    metadata = a_logged_run_finishes(project, tmp_path)
    assert metadata["final_test"]["results"]["test"]["accuracy"] > 0.6
    the_default_pytest_passes(project)


# Trajectory: a planar arm with three joints, demonstrations of horizon 7.
THREE_JOINT_ARM = '''LINK_LENGTHS = (0.6, 0.5, 0.4)  # metres
# Joint ranges (radians).
JOINT_LOWER = (-2.5, 0.2, 0.2)
JOINT_UPPER = (2.5, math.pi - 0.2, math.pi - 0.2)
EXPERT_GAIN = 0.15  # fraction of the remaining joint-space distance covered per step


def forward_kinematics(configuration: torch.Tensor) -> torch.Tensor:
    """Hand position (..., 2) in metres for joint angles (..., 3)."""
    angles = configuration.cumsum(dim=-1)
    lengths = torch.tensor(LINK_LENGTHS, dtype=configuration.dtype)
    return torch.stack(((lengths * torch.cos(angles)).sum(dim=-1),
                        (lengths * torch.sin(angles)).sum(dim=-1)), dim=-1)


def sample_configurations(rng: np.random.Generator, count: int) -> np.ndarray:
    """Uniform joint angles (count, 3) within the joint ranges."""
    return rng.uniform(JOINT_LOWER, JOINT_UPPER, size=(count, len(JOINT_LOWER)))
'''


def test_trajectory_with_another_horizon_and_arm(bake, tmp_path):
    """A three-joint planar arm (3 joint angles, a 2-D hand goal) and horizon 7, in place
    of the two-joint arm and horizon 50."""
    project = baked(bake, task="trajectory")
    recipe = readme_section(project, "## Your own data")
    source = package(project)
    script = project / "scripts" / "make_dataset.py"

    # 1. Write the shards: our arm's expert and sampling (arm.py), its kinematics for
    # final_distance, the widths in make_dataset.py, fields and the model.
    assert "`arm.py`'s kinematics" in recipe and "`fields` in `data_loader.py`" in recipe
    arm = (source / "arm.py").read_text()
    start, end = arm.index("LINK_LENGTHS = "), arm.index("\n\n\ndef expert_trajectories")
    (source / "arm.py").write_text(arm[:start] + THREE_JOINT_ARM + arm[end:])
    edit(script, ".reshape(count * horizon, 2)", ".reshape(count * horizon, -1)", count=2)
    edit(script, '"--horizon", type=int, default=50', '"--horizon", type=int, default=7')
    data_loader = source / "data_loader.py"
    edit(
        data_loader,
        '"float32", (2,), meaning="joint angles',
        '"float32", (3,), meaning="joint angles',
        count=2,
    )
    edit(data_loader, '"steps/delta", "float32", (2,)', '"steps/delta", "float32", (3,)')
    edit(data_loader, "(None, 2),", "(None, 3),")
    edit(
        source / "model.py",
        "width = 8  # joint angles, their sines and cosines, goal position",
        "width = 11  # 3 joint angles, their sines and cosines, 2-D goal position",
    )
    edit(
        source / "model.py",
        "layers.append(nn.Linear(width, 2))",
        "layers.append(nn.Linear(width, 3))",
    )
    # 4. Replace the sample task's tests: test_data.py's checks for our arm and
    # horizon; the tests' small dataset has horizon 7.
    assert "tests/test_data.py" in recipe and "DATASET_ARGUMENTS" in recipe
    edit(project / "tests" / "helpers.py", '"--horizon",\n    "10",', '"--horizon",\n    "7",')
    test_data = project / "tests" / "test_data.py"
    edit(test_data, "assert len(steps) == 40 * 10", "assert len(steps) == 40 * 7")
    edit(test_data, "[[399, 0, 133]]", "[[279, 0, 133]]")
    edit(test_data, "__getitems__([399, 0, 133])", "__getitems__([279, 0, 133])")
    edit(
        project / "tests" / "test_rollout.py",
        '["supervision"].shape == (4, 11, 2)',
        '["supervision"].shape == (4, 8, 3)',
    )
    commit(project, "Our three-joint arm, horizon 7")

    result = python(project, "scripts/make_dataset.py", "--train-trajectories", "500")
    assert result.returncode == 0, result.stderr
    metadata = a_logged_run_finishes(project, tmp_path, "--mini")
    assert "final_distance" in str(metadata["final_test"]["results"])
    the_default_pytest_passes(project)


# Blank: a small tabular regression, from a CSV file the researcher already has.
CSV_READER = """    table = np.loadtxt(source, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    return {"inputs": table[:, :-1], "targets": table[:, -1:]}
"""
BLANK_FIELDS = """fields = {
        "inputs": Field("inputs", "float32", (3,), meaning="x1, x2, x3"),
        "supervision": Field("targets", "float32", (1,), meaning="y"),
    }"""
BLANK_MODEL = """    def __init__(self, hidden_size: int = 32, learning_rate: float = 1e-3,
                 learning_rate_decay: float = 1.0):
        super().__init__(learning_rate, learning_rate_decay)
        self.network = torch.nn.Sequential(torch.nn.Linear(3, hidden_size), torch.nn.ReLU(),
                                           torch.nn.Linear(hidden_size, 1))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.network(batch["inputs"])
"""


def a_table(path: Path, rows: int, seed: int) -> Path:
    """A CSV file with a header line: three features and a target, y = x1 - 2 x2 + x3^2."""
    features = np.random.default_rng(seed).uniform(-1, 1, size=(rows, 3))
    target = features[:, 0] - 2 * features[:, 1] + features[:, 2] ** 2
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(
        path,
        np.column_stack([features, target]),
        delimiter=",",
        fmt="%.6f",
        header="x1,x2,x3,y",
        comments="",
    )
    return path


def test_blank_filled_in_for_data_already_in_a_file(bake, tmp_path):
    """read_examples reads a CSV table, MyDataset.fields and MyModel fit it, and the
    sample config is set, as "Data you already have in files" says."""
    project = baked(bake, task="blank")
    recipe = readme_section(project, "**Data you already have in files**")
    source = package(project)
    script = project / "scripts" / "make_dataset.py"

    # read_examples, as its comment shows for a CSV file whose last column is the target.
    assert "fill in `read_examples`" in recipe
    text = script.read_text()
    start = text.index("    raise UserError", text.index("def read_examples"))
    end = text.index("\n\n\n", start)
    script.write_text(text[:start] + CSV_READER + text[end + 1 :])
    # 2. MyDataset.fields; 3. MyModel; 4. the sample config: the model's parameters,
    # the loss, epochs, batch size; no expensive evaluation (null: none).
    edit(source / "data_loader.py", "fields: dict[str, Field] = {}", BLANK_FIELDS)
    model = (source / "model.py").read_text()
    start = model.index("    def __init__")
    end = model.index("    def rollout")
    (source / "model.py").write_text(model[:start] + BLANK_MODEL + "\n" + model[end:])
    config = project / "sample_runconfig.yaml"
    edit(config, "  learning_rate: 0.001", "  hidden_size: 32\n  learning_rate: 0.01")
    edit(config, "epochs: 10 ", "epochs: 20 ")
    edit(config, "batch_size: 256 ", "batch_size: 64 ")
    edit(config, "rollout_data_loader_type: MyDataset ", "rollout_data_loader_type: null ")
    # The tests' small dataset: a small sample of the table, committed with the tests,
    # and DATASET_ARGUMENTS set as the README shows.
    [arguments] = re.findall(
        r'`DATASET_ARGUMENTS`.*?set\s+them to `(\("--from".*?\))`', recipe, re.S
    )
    [sample] = re.findall(r'"tests" / "([\w.]+)"', arguments)
    a_table(project / "tests" / sample, 200, seed=1)
    edit(
        project / "tests" / "helpers.py",
        'DATASET_ARGUMENTS = (\n    "--train-examples",\n    "300",\n    "--val-examples",\n'
        '    "60",\n    "--test-examples",\n    "60",\n    "--shards",\n    "3",\n)',
        f"DATASET_ARGUMENTS = {arguments}",
    )
    commit(project, "Our table: y from three features")

    a_table(project / "data_raw" / "my_table.csv", 2000, seed=0)
    result = python(project, "scripts/make_dataset.py", "--from", "data_raw/my_table.csv")
    assert result.returncode == 0, result.stderr
    metadata = a_logged_run_finishes(project, tmp_path)
    # Predicting the mean would score the targets' variance, about 1.5.
    assert metadata["final_test"]["results"]["test"]["loss"] < 0.3
    the_default_pytest_passes(project)
