"""Which files an import has already taken, by content: fingerprints and the skip decision.

A file is identified by the SHA-256 of its bytes, not its name or time stamp, so a file
dropped again (renamed, copied back, touched) is recognised and never loaded twice into an
append import unless someone forces it. The prior loads come from the business ledger as
plain values; anything with ``loaded_at``, ``dagster_run_id`` and ``rows`` will do.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 1024 * 1024
RUN_ID_SHOWN = 8


@dataclass(frozen=True)
class FileFingerprint:
    path: str
    name: str
    size: int
    sha256: str
    modified_at: datetime


class PriorLoad(Protocol):
    """An earlier successful load of the same content by the same import."""

    @property
    def loaded_at(self) -> datetime: ...

    @property
    def dagster_run_id(self) -> str: ...

    @property
    def rows(self) -> int | None: ...


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of the load, with the sentence to show the user."""

    file: FileFingerprint
    message: str


def fingerprint(path: str | os.PathLike[str]) -> FileFingerprint:
    """Size, modification time and SHA-256 of a file, read in 1 MiB chunks (bounded memory)."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        size = 0
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            size += count
    return FileFingerprint(
        path=os.fspath(path),
        name=Path(path).name,
        size=size,
        sha256=digest.hexdigest(),
        modified_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )


def split_already_loaded(
    fingerprints: Iterable[FileFingerprint], known: Mapping[str, PriorLoad], force: bool = False
) -> tuple[tuple[FileFingerprint, ...], tuple[SkippedFile, ...]]:
    """Split a batch into files to load and files to skip, keeping the batch's order.

    ``known`` maps a content hash to this import's latest load of it. ``force`` loads such
    files again; a second copy of the same content within the batch is always skipped, as
    loading it would double the rows in this very run.
    """
    to_load: list[FileFingerprint] = []
    skipped: list[SkippedFile] = []
    loading: dict[str, FileFingerprint] = {}
    for file in fingerprints:
        prior = known.get(file.sha256)
        if prior is not None and not force:
            skipped.append(SkippedFile(file, already_loaded_message(file, prior)))
        elif file.sha256 in loading:
            skipped.append(SkippedFile(file, duplicate_message(file, loading[file.sha256])))
        else:
            loading[file.sha256] = file
            to_load.append(file)
    return tuple(to_load), tuple(skipped)


def already_loaded_message(file: FileFingerprint, prior: PriorLoad) -> str:
    when = prior.loaded_at if prior.loaded_at.tzinfo else prior.loaded_at.replace(tzinfo=UTC)
    rows = "" if prior.rows is None else f" ({prior.rows} row{'' if prior.rows == 1 else 's'})"
    return (
        f"{file.name} was already loaded on {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        f" by run {prior.dagster_run_id[:RUN_ID_SHOWN]}{rows}; skipped. Use force to load it again."
    )


def duplicate_message(file: FileFingerprint, original: FileFingerprint) -> str:
    return f"{file.name} has the same content as {original.name} in this batch; skipped."
