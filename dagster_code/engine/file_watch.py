"""Decide which files in a watched folder are ready to load, with a JSON cursor.

The cursor remembers every file already handed to a run by path, modification time and
size: a file is processed once, and again only when it changes. A file counts as ready
once it has stopped changing (its signature is the same as on the previous tick, or it
was last modified ``settle_seconds`` ago; with a minimum age, unchanged *and* at least that old),
so a half-copied file is never loaded. With a
batch window, ready files are held until no new file arrived for the window, then go
together in one run.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path

CURSOR_VERSION = 1
DEFAULT_SETTLE_SECONDS = 2.0
DEFAULT_MAX_FILES_PER_TICK = 200


@dataclass(frozen=True)
class FileBatch:
    """Files for one run, with a key that is stable for exactly these file versions."""

    paths: tuple[str, ...]
    run_key: str


@dataclass(frozen=True)
class WatchResult:
    batches: tuple[FileBatch, ...]
    cursor: str
    waiting: int
    skip_reason: str = ""
    refused: tuple[str, ...] = ()  # links leading out of the folder: never loaded


def _load_cursor(text: str | None) -> tuple[dict[str, list], dict[str, list]]:
    if not text:
        return {}, {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}, {}
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        return {}, {}
    return dict(data.get("done", {})), dict(data.get("pending", {}))


def _dump_cursor(done: dict[str, list], pending: dict[str, list]) -> str:
    return json.dumps({"v": CURSOR_VERSION, "done": done, "pending": pending}, sort_keys=True, separators=(",", ":"))


TEMPORARY_SUFFIXES = (".part", ".tmp", ".crdownload")


def is_candidate(name: str, pattern: str) -> bool:
    """A file name the import should pick up: it matches, and is not a temporary or hidden file."""
    if name.startswith((".", "~$")) or name.endswith(TEMPORARY_SUFFIXES):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _matching_files(directory: Path, pattern: str, limit: int, refused: list[str]) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    root = directory.resolve()
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_candidate(entry.name, pattern):
                continue
            try:
                if not entry.is_file():
                    continue
                if entry.is_symlink() and Path(entry.path).resolve().parent != root:
                    refused.append(entry.path)
                    continue
                stat = entry.stat()
            except FileNotFoundError:
                continue
            found.append((entry.path, stat.st_mtime_ns, stat.st_size))
            if len(found) >= limit * 5:
                break
    return found


def _key(path: str, mtime_ns: int, size: int) -> str:
    return f"{path}:{mtime_ns}:{size}"


def scan_directory(
    directory: str | Path,
    pattern: str,
    cursor: str | None,
    now: float,
    *,
    batch_window_seconds: float = 0,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    min_age_seconds: float = 0,
    max_files: int = DEFAULT_MAX_FILES_PER_TICK,
) -> WatchResult:
    """One sensor tick: the file batches to run now and the new cursor."""
    directory = Path(directory)
    done, pending = _load_cursor(cursor)
    if not directory.is_dir():
        return WatchResult((), _dump_cursor(done, pending), 0, f"The folder {directory} does not exist (yet).")

    refused: list[str] = []
    files = _matching_files(directory, pattern, max_files, refused)
    present = {path for path, _, _ in files}
    done = {p: sig for p, sig in done.items() if p in present}
    ready: list[tuple[str, int, int]] = []
    new_pending: dict[str, list] = {}
    for path, mtime_ns, size in sorted(files, key=lambda f: (f[1], f[0])):
        if done.get(path) == [mtime_ns, size]:
            continue
        seen = pending.get(path)
        unchanged = seen is not None and seen[:2] == [mtime_ns, size]
        age = now - mtime_ns / 1e9
        if min_age_seconds > 0:
            ready_now = unchanged and age >= min_age_seconds
        else:
            ready_now = unchanged or age >= settle_seconds
        if ready_now:
            ready.append((path, mtime_ns, size))
        first_seen = seen[2] if unchanged else now
        new_pending[path] = [mtime_ns, size, first_seen]

    batches: list[FileBatch] = []
    if batch_window_seconds > 0:
        unsettled = len(new_pending) > len(ready)
        quiet = bool(ready) and min(now - m / 1e9 for _, m, _ in ready) >= batch_window_seconds
        if ready and quiet and not unsettled:
            chosen = ready[:max_files]
            batches.append(FileBatch(tuple(p for p, _, _ in chosen), "|".join(_key(*f) for f in chosen)))
    else:
        batches.extend(FileBatch((p,), _key(p, m, s)) for p, m, s in ready[:max_files])

    for batch in batches:
        for path in batch.paths:
            mtime_ns, size, _ = new_pending.pop(path)
            done[path] = [mtime_ns, size]
    return WatchResult(tuple(batches), _dump_cursor(done, new_pending), len(new_pending), refused=tuple(refused))
