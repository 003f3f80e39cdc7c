"""The code that runs is the code recorded.

A logged run records its commit, and a clean `git status` says the checkout holds
that commit. It does not say that this process imported the checkout's files:
  - a virtual environment shared by two checkouts (a clone, a `git worktree`) with
    `pip install -e .` done in one imports the package from that one, edits and all;
  - `git update-index --skip-worktree` or `--assume-unchanged` hide an edited file
    from `git status`, and so does `ignore = all` for a submodule;
  - a process that run.py starts after the check imports the files as they are
    then: an edit made in between would run under the clean commit.
So every training process, after its imports, compares the file of each module it
loaded from the project with the commit: git's blob hash of the file against the
commit's tree, read once with `git ls-tree`. It costs milliseconds.
"""

import functools
import hashlib
import os
import subprocess
import sys
import sysconfig
from collections import Counter
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.repo import git_environment

PACKAGE = __name__.partition(".")[0]
# Where the interpreter keeps its own and installed modules, also when its virtual
# environment lies inside the checkout (.venv/): none of them is the project's code.
INSTALLED_PATHS = ("stdlib", "platstdlib", "purelib", "platlib")
LISTED_FILES = 10


def check_loaded_code(project_root: Path, commit: str) -> None:
    """Refuse to train unless every module this process loaded from the project is
    this checkout's file, with the content it has in `commit`."""
    root = project_root.resolve()
    inside, outside = loaded_files(root)
    blobs = commit_blobs(root, commit)
    missing = [path for path in inside if relative(path, root) not in blobs]
    differing = [
        path
        for path in inside
        if relative(path, root) in blobs
        and not same_content(path, blobs[relative(path, root)])
        and not same_content_to_git(path, blobs[relative(path, root)])
    ]
    if outside or missing or differing:
        raise UserError(refusal(root, commit, outside, missing, differing))


def loaded_files(root: Path) -> tuple[list[Path], list[Path]]:
    """The files of the loaded modules that are the project's: those in the checkout,
    and those of the package that were loaded from elsewhere."""
    # Strings, and one realpath per directory: over a thousand modules are loaded.
    in_root = os.path.join(root, "")
    installed = tuple(
        os.path.join(os.path.realpath(path), "")
        for name in INSTALLED_PATHS
        if (path := sysconfig.get_path(name))
    )
    real_directory = functools.cache(os.path.realpath)
    inside, outside = set(), set()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not os.path.isabs(file):
            continue  # built in, a namespace package, or a name only (torch._ops)
        path = os.path.join(real_directory(os.path.dirname(file)), os.path.basename(file))
        in_package = name == PACKAGE or name.startswith(f"{PACKAGE}.")
        installed_copy = path.startswith(installed)
        if in_package and (installed_copy or not path.startswith(in_root)):
            outside.add(Path(path))
        elif path.startswith(in_root) and not installed_copy:
            inside.add(Path(path))
    return sorted(inside), sorted(outside)


def commit_blobs(directory: Path, commit: str) -> dict[str, str]:
    """Path (relative to `directory`) -> blob hash of every file of `commit` under
    `directory`, the files of checked-out submodules included, at their recorded commits."""
    blobs = {}
    for entry in git(directory, "ls-tree", "-r", "-z", commit).split("\0"):
        if not entry:
            continue
        info, path = entry.split("\t", 1)
        _, kind, object_hash = info.split()
        if kind == "blob":
            blobs[path] = object_hash
        elif kind == "commit" and (directory / path / ".git").exists():
            try:
                submodule = commit_blobs(directory / path, object_hash)
            except UserError:
                continue  # its recorded commit is not there: git status reports it
            blobs.update({f"{path}/{name}": blob for name, blob in submodule.items()})
    return blobs


def same_content(path: Path, blob: str) -> bool:
    """Whether the file holds the blob: git's hash of b"blob <size>\\0" + content."""
    try:
        content = path.read_bytes()
    except OSError:
        return False
    digest = hashlib.sha1() if len(blob) == 40 else hashlib.sha256()
    digest.update(b"blob %d\0" % len(content))
    digest.update(content)
    return digest.hexdigest() == blob


def same_content_to_git(path: Path, blob: str) -> bool:
    """The second opinion on a file that differs: `git hash-object` applies the line
    endings of .gitattributes as `git add` would (a Windows checkout has CRLF)."""
    return git(path.parent, "hash-object", path.name).strip() == blob


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def refusal(
    root: Path, commit: str, outside: list[Path], missing: list[Path], differing: list[Path]
) -> str:
    """One screen: which files, and how to make the code the commit's."""
    lines = [
        f"the code this process loaded is not commit {commit[:12]}, so the run's "
        "record would not say what ran:"
    ]
    if outside:
        lines += [
            f"  {PACKAGE} was imported from another copy than this checkout's ({root}):",
            *listed(
                [
                    f"{directory}{os.sep} ({count} of its files)"
                    for directory, count in Counter(path.parent for path in outside).items()
                ]
            ),
            "  A virtual environment shared with another checkout (`pip install -e .` "
            "done there), or a non-editable install? Run `pip install -e .` in this "
            "checkout, or put its src first: `PYTHONPATH=src python run.py ...`.",
        ]
    if missing:
        lines += [
            "  not in the commit (ignored by git?):",
            *listed([relative(path, root) for path in missing]),
            "  Commit these files, or stop importing them.",
        ]
    if differing:
        names = [relative(path, root) for path in differing]
        lines += [
            "  different from the commit, though `git status` may not show it:",
            *listed(names),
            "  A file marked --skip-worktree or --assume-unchanged, a submodule with "
            "`ignore = all`, or an edit made after the run started? Show them to git "
            f"again (`git update-index --no-skip-worktree --no-assume-unchanged "
            f"{names[0]}`), then commit the change or undo it (`git checkout -- FILE`).",
        ]
    return "\n".join(lines)


def listed(items: list) -> list[str]:
    lines = [f"    {item}" for item in items[:LISTED_FILES]]
    if len(items) > LISTED_FILES:
        lines.append(f"    ... and {len(items) - LISTED_FILES} more")
    return lines


def git(directory: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=directory, env=git_environment(), capture_output=True, text=True
        )
    except FileNotFoundError:
        raise UserError(
            "git is not installed, and a logged run checks its code against "
            "its commit. Install git, or pass --no-logging."
        ) from None
    if result.returncode != 0:
        raise UserError(f"git {args[0]} failed in {directory}: {result.stderr.strip()}")
    return result.stdout
