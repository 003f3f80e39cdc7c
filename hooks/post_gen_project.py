"""Give the new project its own git repository, with one commit on `main`.

A logged run records the commit it ran from, so the project needs a repository of
its own from the start, even when it is generated inside another one.

This hook never fails the bake: cookiecutter deletes the whole project when a hook
exits non-zero, which would be a worse outcome than a project without a commit.
Every git problem becomes a warning that says what to run by hand.
"""

import json
import os
import shutil
import subprocess
import sys

AUTHOR_NAME = json.loads(r"""
{{ cookiecutter.author_name | tojson }}
""")
AUTHOR_EMAIL = json.loads(r"""
{{ cookiecutter.author_email | tojson }}
""")
PROJECT_SLUG = json.loads(r"""
{{ cookiecutter.project_slug | tojson }}
""")
# cruft puts `_commit` into the context and cookiecutter never does. cruft renders the
# template again on every `cruft update` and diffs the result, which a .git folder breaks.
UNDER_CRUFT = json.loads(r"""
{{ (cookiecutter._commit is defined) | tojson }}
""")

FIRST_COMMIT_MESSAGE = "Initial commit from the Fishbotics Learning Toolkit template"

# Variables that point git at some other repository (a hook run from inside a git
# command, a CI job). Left in place, the first commit would land in that repository.
REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
GIT_ENVIRONMENT = {k: v for k, v in os.environ.items() if k not in REPOSITORY_VARIABLES}

MANUAL_STEPS = (
    "git init && git symbolic-ref HEAD refs/heads/main && git add --all && "
    'git commit -m "Initial commit"'
)


def git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], env=GIT_ENVIRONMENT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def has_config(key: str) -> bool:
    try:
        return bool(git("config", "--get", key))
    except subprocess.CalledProcessError:
        return False


def make_first_commit() -> None:
    git("init", "--quiet")
    # Works on every git version, unlike `git init --initial-branch`.
    git("symbolic-ref", "HEAD", "refs/heads/main")
    # Without an identity `git commit` exits 128; the author's answers are the best
    # stand-in, and they stay local to this repository.
    if not has_config("user.name"):
        git("config", "user.name", AUTHOR_NAME)
    if not has_config("user.email"):
        git("config", "user.email", AUTHOR_EMAIL)
    git("add", "--all")
    # --no-verify: the user's global hooks are not part of the template's first commit.
    git(
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--no-verify",
        "--quiet",
        "--message",
        FIRST_COMMIT_MESSAGE,
    )


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def main() -> int:
    if UNDER_CRUFT:
        # Printed on every `cruft update` too, whose renders are throwaway: say both.
        print(
            "Rendered by cruft, so no git repository was made (cruft diffs its renders, "
            f"and a .git would break that). In a new project, run: {MANUAL_STEPS}"
        )
        return 0
    if shutil.which("git") is None:
        warn(
            f"git was not found, so the project has no repository yet. "
            f"Logged runs need one: install git, then run {MANUAL_STEPS}"
        )
        return 0
    try:
        make_first_commit()
    except subprocess.CalledProcessError as error:
        details = (error.stderr or error.stdout or "").strip()
        warn(
            f"`git {' '.join(error.cmd[1:3])}` failed: {details}\n"
            f"The project was kept. Finish the set-up by hand in it: {MANUAL_STEPS}"
        )
        return 0
    print(
        f"Created {PROJECT_SLUG}/ with its first commit on branch main. Next:\n"
        f"  cd {PROJECT_SLUG}\n"
        f"  pip install torch        # the build for your machine: https://pytorch.org\n"
        f'  pip install -e ".[dev]" && python scripts/make_dataset.py\n'
        f"  python run.py sample_runconfig.yaml --mini"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
