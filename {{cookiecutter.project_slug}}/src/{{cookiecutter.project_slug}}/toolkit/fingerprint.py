"""A fingerprint of the data a run reads: a content hash of every shard of each split.

A logged run records it in metadata.yaml under `data`:

    data:
      train: {hash: <sha256 over its shards>, files: 3, bytes: 1234567,
              shards: {shard_000.h5: {bytes: 411522, hash: <sha256 of the file>}, ...}}

--resume and --rerun (check_data) compare the data as it is now with that record, and
refuse when a shard was added, removed or changed, unless told to go on.

Hashing a multi-GB dataset takes seconds to minutes, so each file's hash is cached
(see file_key for when a cached hash is trusted) in a per-user cache file.
"""

import hashlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.run_directory import METADATA_FILE
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import atomic_write

ALGORITHM = "sha256"  # with the CPU's SHA instructions, faster than blake2b here (~1.2 GB/s)
CACHE_VERSION = 1
SHARD_PATTERN = "*.h5"  # what base_dataset.py reads as a split's shards


def cache_file() -> Path:
    """The hash cache: one per user, shared by all this user's checkouts and datasets.

    Not in the data folder, which may be read-only or shared with others (whose cache
    this user should not have to trust, nor they this user's); not in logs/, which each
    checkout (and each --rerun worktree) has its own of, so that a second checkout of a
    project would hash the same multi-GB dataset again.
    """
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "{{ cookiecutter.project_slug }}" / "data-fingerprints.json"


def fingerprint(data_directory: Path, splits: Iterable[str]) -> dict:
    """The fingerprint of each split folder in `data_directory` (train/, test/, ...)."""
    cache_path = cache_file()
    cache = read_cache(cache_path)
    fingerprints = {
        split: split_fingerprint(data_directory / split, cache) for split in sorted(set(splits))
    }
    write_cache(cache_path, cache)
    return fingerprints


def split_fingerprint(folder: Path, cache: dict) -> dict:
    """One split: each shard's size and hash, and one hash over all of them."""
    shards = {}
    for path in sorted(folder.glob(SHARD_PATTERN)):
        try:
            shards[path.name] = {"bytes": path.stat().st_size, "hash": file_hash(path, cache)}
        except OSError as error:
            raise UserError(
                f"cannot read {path} to fingerprint the data: {error.strerror}"
            ) from None
    combined = hashlib.new(ALGORITHM)
    for name, shard in shards.items():
        combined.update(f"{name}\0{shard['bytes']}\0{shard['hash']}\n".encode())
    return {
        "hash": combined.hexdigest(),
        "files": len(shards),
        "bytes": sum(shard["bytes"] for shard in shards.values()),
        "shards": shards,
    }


def file_hash(path: Path, cache: dict) -> str:
    """The file's content hash, from the cache when the file is unchanged since."""
    resolved = str(path.resolve())
    # Taken before the read: a write while it reads changes the key that the next
    # start compares, so a hash of half-written content is not trusted for long.
    key = file_key(resolved)
    cached = cache.get(resolved)
    if (
        isinstance(cached, dict)
        and cached.get("key") == key
        and isinstance(cached.get("hash"), str)
    ):
        return cached["hash"]
    with open(resolved, "rb") as file:
        digest = hashlib.file_digest(file, ALGORITHM).hexdigest()  # read in large blocks
    cache[resolved] = {"key": key, "hash": digest}
    return digest


def file_key(path: str) -> list[int]:
    """What identifies the file's content on disk: device, inode, size, mtime, ctime.

    Any write to a file through the file system moves its mtime and ctime, and a file
    put in its place (a copy, a rename over it) has another inode. The ctime cannot be
    set back by a user (os.utime, `touch -d`, `cp -p` and rsync restore only the mtime,
    and stamp the ctime with the time of the change), so even a same-size rewrite that
    restores the old mtime misses the cache and is hashed again.
    The key does not suffice where the file system cannot see the change: a write within
    its timestamp resolution on one with coarse times (FAT's 2 s, some network file
    systems), a client that caches another machine's attributes (NFS), a disk edited
    below the file system. Wherever the key misses (another machine, a copied dataset),
    the file is only hashed again.
    """
    status = os.stat(path)
    return [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns]


def read_cache(path: Path) -> dict:
    """The cached hashes by file path; empty when the cache is missing or damaged (it
    is only a shortcut: a file it lacks is hashed again)."""
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(cache, dict) or cache.get("version") != CACHE_VERSION:
        return {}
    files = cache.get("files")
    return files if isinstance(files, dict) else {}


def write_cache(path: Path, files: dict) -> None:
    """Save the cache atomically, without the entries of files that are gone. A cache
    that cannot be written (a read-only home) costs the next start a rehash, no more."""
    kept = {name: entry for name, entry in files.items() if os.path.exists(name)}
    text = json.dumps({"version": CACHE_VERSION, "files": kept}, indent=0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda file: file.write(text.encode()))
    except OSError:
        pass


def differences(recorded: dict, current: dict) -> list[str]:
    """Each recorded split whose data changed, with the shards added, removed and changed."""
    lines = []
    for split, then in recorded.items():
        now = current.get(split, {"hash": None, "shards": {}})
        if now["hash"] == then.get("hash"):
            continue
        before, after = then.get("shards") or {}, now["shards"]
        changes = (
            [f"added {name}" for name in after if name not in before]
            + [f"removed {name}" for name in before if name not in after]
            + [
                f"changed {name}"
                for name in before
                if name in after and before[name] != after[name]
            ]
        )
        lines.append(f"{split}/: " + (", ".join(changes) or "its shards differ"))
    return lines


def check_data(
    recorded: dict | None,
    data_directory: Path,
    splits: Iterable[str],
    allow_changed: bool,
    what: str = "resume",
) -> tuple[dict, list[str]]:
    """Compare the data in `data_directory` with the fingerprint a run `recorded`.

    Returns the data's fingerprint now, over the recorded splits and `splits`, and the
    recorded splits' differences (none when the data are the same). Different data are
    refused with a UserError that names each split and shard, unless `allow_changed`
    (--allow-changed-data), which warns instead. A run recorded before 0.4 has no
    fingerprint (`recorded` is None): a note says that its data go unchecked.
    """
    current = fingerprint(data_directory, {*splits, *(recorded or {})})
    if recorded is None:
        print(
            f"note: the run was recorded before version 0.4, without a fingerprint of "
            f"its data, so they cannot be checked; the {what} goes on",
            file=sys.stderr,
        )
        return current, []
    changed = differences(recorded, current)
    if changed and not allow_changed:
        raise UserError(
            f"the data in {data_directory} differ from what the run read ({METADATA_FILE}, "
            "under `data`):\n  "
            + "\n  ".join(changed)
            + f"\nPut the run's data back, or pass --allow-changed-data to {what} with the "
            "data as they are now (the record will say so)."
        )
    if changed:
        print(
            "warning: the data differ from what the run read; going on, as "
            "--allow-changed-data says:\n  " + "\n  ".join(changed),
            file=sys.stderr,
        )
    return current, changed
