"""Content fingerprints and the decision which files of a batch an import has already taken."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from dagster_code.engine import ledger
from dagster_code.engine.ledger import FileFingerprint, fingerprint, split_already_loaded


@dataclass(frozen=True)
class Prior:
    loaded_at: datetime
    dagster_run_id: str
    rows: int | None


def _file(name: str, sha: str) -> FileFingerprint:
    return FileFingerprint(f"/in/{name}", name, 10, sha, datetime(2024, 1, 2, tzinfo=UTC))


def test_fingerprint_reports_size_mtime_and_the_sha256_of_the_content(tmp_path: Path):
    path = tmp_path / "sales_2024-01-02.csv"
    content = b"sale_id,amount\n1,9.50\n2,3.00\n"
    path.write_bytes(content)
    os.utime(path, (1_704_200_000, 1_704_200_000))

    print_ = fingerprint(path)

    assert print_ == FileFingerprint(
        path=str(path),
        name="sales_2024-01-02.csv",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        modified_at=datetime.fromtimestamp(1_704_200_000, tz=UTC),
    )


def test_fingerprint_of_a_file_larger_than_one_chunk_matches_hashing_it_whole(tmp_path: Path):
    content = os.urandom(ledger.CHUNK_BYTES * 2 + 123)
    path = tmp_path / "big.csv"
    path.write_bytes(content)

    print_ = fingerprint(str(path))

    assert (print_.size, print_.sha256) == (len(content), hashlib.sha256(content).hexdigest())


def test_fingerprint_of_an_empty_file(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert (fingerprint(path).size, fingerprint(path).sha256) == (0, hashlib.sha256(b"").hexdigest())


def test_a_missing_file_raises_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        fingerprint(tmp_path / "gone.csv")


def test_new_files_are_all_loaded_in_batch_order():
    files = [_file("b.csv", "bb"), _file("a.csv", "aa")]
    assert split_already_loaded(files, {}) == (tuple(files), ())


def test_a_file_already_loaded_by_the_import_is_skipped_with_when_and_by_which_run():
    new, old = _file("sales_2024-01-03.csv", "n1"), _file("sales_2024-01-02.csv", "o1")
    known = {"o1": Prior(datetime(2024, 1, 3, 10, 15, 42, tzinfo=UTC), "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809", 24)}

    to_load, skipped = split_already_loaded([new, old], known)

    assert to_load == (new,)
    assert [(s.file, s.message) for s in skipped] == [
        (
            old,
            "sales_2024-01-02.csv was already loaded on 2024-01-03 10:15 UTC by run 1a2b3c4d (24 rows); skipped."
            " Use force to load it again.",
        )
    ]


def test_the_skip_message_shows_utc_and_leaves_out_unknown_rows():
    old = _file("a.csv", "o1")
    paris = timezone(timedelta(hours=1))
    known = {"o1": Prior(datetime(2024, 1, 3, 11, 15, tzinfo=paris), "run-7", None)}

    (skip,) = split_already_loaded([old], known)[1]

    assert (
        skip.message
        == "a.csv was already loaded on 2024-01-03 10:15 UTC by run run-7; skipped. Use force to load it again."
    )


def test_one_row_is_singular():
    known = {"o1": Prior(datetime(2024, 1, 3, tzinfo=UTC), "r1", 1)}
    assert "(1 row);" in split_already_loaded([_file("a.csv", "o1")], known)[1][0].message


def test_force_loads_an_already_loaded_file_again():
    old = _file("a.csv", "o1")
    known = {"o1": Prior(datetime(2024, 1, 3, tzinfo=UTC), "r1", 5)}
    assert split_already_loaded([old], known, force=True) == ((old,), ())


def test_a_second_copy_in_the_same_batch_is_skipped_as_a_duplicate_of_the_first():
    first, copy, other = _file("a.csv", "same"), _file("a_copy.csv", "same"), _file("b.csv", "diff")

    to_load, skipped = split_already_loaded([first, copy, other], {})

    assert to_load == (first, other)
    assert [(s.file, s.message) for s in skipped] == [
        (copy, "a_copy.csv has the same content as a.csv in this batch; skipped.")
    ]


def test_force_still_skips_a_second_copy_in_the_same_batch():
    first, copy = _file("a.csv", "same"), _file("a_copy.csv", "same")
    known = {"same": Prior(datetime(2024, 1, 3, tzinfo=UTC), "r1", 5)}

    to_load, skipped = split_already_loaded([first, copy], known, force=True)

    assert to_load == (first,)
    assert [s.file for s in skipped] == [copy]


def test_two_copies_of_already_loaded_content_both_say_already_loaded():
    known = {"same": Prior(datetime(2024, 1, 3, tzinfo=UTC), "r1", 5)}
    to_load, skipped = split_already_loaded([_file("a.csv", "same"), _file("b.csv", "same")], known)
    assert to_load == ()
    assert [s.message.split(" was already loaded")[0] for s in skipped] == ["a.csv", "b.csv"]
