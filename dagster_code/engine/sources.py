"""Where an import's files come from. This issue's source: the local monitored folder."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path

from dagster_code.engine.errors import ConfigError, EngineError
from dagster_code.engine.file_watch import is_candidate


class SourceError(EngineError):
    default_hint = "Check that the file is in the monitored folder and its name matches the pattern."


def check_file_pattern(pattern: str) -> None:
    """A file pattern is a file-name pattern: no folder part, no absolute path, no ``..``."""
    if not pattern or "/" in pattern or "\\" in pattern or pattern.startswith("..") or ":" in pattern[:2]:
        raise ConfigError(
            f"The file pattern '{pattern}' must be a file name pattern such as sales_*.csv, without folders.",
            hint="Put the folder in 'monitored directory' and only the file name pattern in 'file pattern'.",
        )


def resolve_file_in_folder(folder: str | Path, raw: str | Path, *, what: str = "folder") -> Path:
    """``raw`` as a real file directly inside ``folder``; a symlink leading out of it is refused."""
    root = Path(folder).resolve()
    path = Path(raw)
    given = Path(os.path.normpath(root / path if not path.is_absolute() else path))
    resolved = given.resolve()
    if given.parent.resolve() != root:
        raise SourceError(f"{raw} is not inside the {what} {folder}; it was not loaded.")
    if resolved.parent != root:
        raise SourceError(
            f"{given.name} is a link to a file outside the {what} {folder}; it was not loaded.",
            detail=f"{given} -> {resolved}",
            hint=f"Copy the file itself into {folder} instead of linking to it.",
        )
    if not is_candidate(resolved.name, "*"):
        raise SourceError(f"{resolved.name} is a temporary or hidden file; it was not loaded.")
    if not resolved.is_file():
        raise SourceError(f"{resolved.name} is no longer in {folder} (moved or deleted before the run).")
    return resolved


def resolve_local_files(directory: str, pattern: str, requested: Sequence[str] = ()) -> list[Path]:
    """The files to load: the requested ones (checked to be inside ``directory`` and to match),
    else every matching file in the folder, oldest first."""
    if not directory:
        raise ConfigError("This import has no monitored directory to read files from.")
    check_file_pattern(pattern)
    root = Path(directory).resolve()
    if requested:
        files = []
        for raw in requested:
            resolved = resolve_file_in_folder(directory, raw, what="monitored folder")
            if not fnmatch.fnmatchcase(resolved.name, pattern):
                raise SourceError(f"{resolved.name} does not match this import's file pattern {pattern}.")
            files.append(resolved)
        return files
    if not root.is_dir():
        raise SourceError(f"The monitored folder {directory} does not exist.")
    with os.scandir(root) as entries:
        found = [Path(e.path) for e in entries if e.is_file() and is_candidate(e.name, pattern)]
    found = [p for p in found if p.resolve().parent == root]  # a symlink out of the folder is never read
    if not found:
        raise SourceError(f"No file matching {pattern} is waiting in {directory}.")
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))
