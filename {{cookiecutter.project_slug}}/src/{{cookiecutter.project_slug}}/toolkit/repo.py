"""What git says about the code a run is made from.

A logged run must come from a clean tree, so that its commit alone says which code
ran. Untracked files count as dirty unless git ignores them: a new module that was
never added would otherwise be in no record at all. So does a submodule with changes,
even one that `.gitmodules` tells `git status` to ignore (`ignore = all`). What a
clean status cannot show (a shared virtual environment, files hidden with
--skip-worktree) the code check sees: code_check.py.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError

# Variables that would point git at another repository than the project's.
GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


def git_environment() -> dict[str, str]:
    """This process's environment for a git command about the project itself."""
    return {key: value for key, value in os.environ.items() if key not in GIT_LOCATION_VARIABLES}


@dataclass(frozen=True)
class RepoState:
    root: Path
    commit: str
    branch: str | None  # None when HEAD is detached
    remote: str | None  # the fetch URL of `origin` (or the only remote), credentials removed
    dirty_files: tuple[str, ...]  # `git status` lines: tracked changes and untracked files

    def as_record(self) -> dict:
        return {"commit": self.commit, "branch": self.branch, "remote": self.remote}


def repo_state(path: Path) -> RepoState:
    """The state of the git repository that contains `path`."""
    try:
        # GitPython refuses to import when no git executable can be found.
        import git
    except ImportError:
        raise UserError(
            "git is not installed, and logged runs record their commit. "
            "Install git, or pass --no-logging for a run that saves nothing."
        ) from None
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(
            f"{path} is not inside a git repository, and logged runs record "
            "their commit. Run `git init && git add --all && git commit`, or pass "
            "--no-logging for a run that saves nothing."
        ) from None
    if not repo.head.is_valid():
        raise UserError(
            f"the repository at {repo.working_tree_dir} has no commit yet. "
            "Commit your code first: `git add --all && git commit`."
        )
    status = repo.git.status("--porcelain", "--untracked-files=all", "--ignore-submodules=none")
    return RepoState(
        root=Path(repo.working_tree_dir),
        commit=repo.head.commit.hexsha,
        branch=None if repo.head.is_detached else repo.active_branch.name,
        remote=remote_url(repo),
        dirty_files=tuple(line for line in status.splitlines() if line),
    )


def remote_url(repo) -> str | None:
    remotes = {remote.name: remote for remote in repo.remotes}
    remote = remotes.get("origin") or (next(iter(remotes.values())) if len(remotes) == 1 else None)
    if remote is None:
        return None
    return strip_credentials(next(remote.urls, None))


def strip_credentials(url: str | None) -> str | None:
    """`https://user:token@host/x.git?token=abc#key` -> `https://host/x.git`: tokens
    never reach a log, wherever they sit. A remote needs none of the parts removed."""
    if url is None or "://" not in url:
        return url  # scp-like `git@host:x.git` names a user, never a secret
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host, query="", fragment=""))
