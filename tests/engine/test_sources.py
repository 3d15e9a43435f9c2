"""Files from the monitored folder: only files inside it, matching the pattern, oldest first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagster_code.engine.errors import ConfigError
from dagster_code.engine.sources import SourceError, resolve_file_in_folder, resolve_local_files

NOW = 1_700_000_000.0


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """The monitored folder, with a secret CSV right next to it (outside)."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    (tmp_path / "secret.csv").write_text("password\nhunter2\n")
    return folder


def put(path: Path, mtime: float = NOW) -> Path:
    path.write_text("id\n1\n")
    os.utime(path, (mtime, mtime))
    return path


@pytest.mark.parametrize(
    "requested",
    ["../secret.csv", "{root}/secret.csv", "sub/../../secret.csv", "sub/inner.csv"],
    ids=["parent-relative", "absolute-elsewhere", "climbing", "subfolder"],
)
def test_request_outside_the_folder_is_refused(inbox: Path, requested: str) -> None:
    (inbox / "sub").mkdir()
    put(inbox / "sub" / "inner.csv")
    raw = requested.format(root=inbox.parent)

    with pytest.raises(SourceError) as caught:
        resolve_local_files(str(inbox), "*.csv", [raw])

    assert caught.value.message == f"{raw} is not inside the monitored folder {inbox}; it was not loaded."


def test_symlink_escaping_the_folder_is_refused(inbox: Path) -> None:
    (inbox / "innocent.csv").symlink_to(inbox.parent / "secret.csv")

    with pytest.raises(SourceError, match="is a link to a file outside the monitored folder"):
        resolve_local_files(str(inbox), "*.csv", ["innocent.csv"])


def test_request_that_does_not_match_the_pattern_is_refused(inbox: Path) -> None:
    put(inbox / "notes.txt")

    with pytest.raises(SourceError) as caught:
        resolve_local_files(str(inbox), "sales_*.csv", ["notes.txt"])

    assert caught.value.message == "notes.txt does not match this import's file pattern sales_*.csv."


def test_requested_file_that_disappeared_is_refused(inbox: Path) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_local_files(str(inbox), "*.csv", ["gone.csv"])

    assert caught.value.message == f"gone.csv is no longer in {inbox} (moved or deleted before the run)."


def test_requested_files_inside_the_folder_are_returned_in_request_order(inbox: Path) -> None:
    first = put(inbox / "b.csv", NOW - 10)
    second = put(inbox / "a.csv", NOW - 20)

    assert resolve_local_files(str(inbox), "*.csv", ["b.csv", str(second)]) == [first, second]


def test_no_request_returns_every_matching_file_oldest_first(inbox: Path) -> None:
    newest = put(inbox / "a.csv", NOW)
    oldest = put(inbox / "c.csv", NOW - 100)
    middle = put(inbox / "b.csv", NOW - 50)
    put(inbox / "readme.txt", NOW - 200)
    (inbox / "folder.csv").mkdir()

    assert resolve_local_files(str(inbox), "*.csv") == [oldest, middle, newest]


def test_no_request_skips_symlinks_escaping_the_folder(inbox: Path) -> None:
    own = put(inbox / "own.csv")
    (inbox / "innocent.csv").symlink_to(inbox.parent / "secret.csv")

    assert resolve_local_files(str(inbox), "*.csv") == [own]


def test_no_matching_file_is_refused(inbox: Path) -> None:
    put(inbox / "readme.txt")

    with pytest.raises(SourceError) as caught:
        resolve_local_files(str(inbox), "*.csv")

    assert caught.value.message == f"No file matching *.csv is waiting in {inbox}."


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "unmounted"

    with pytest.raises(SourceError) as caught:
        resolve_local_files(str(missing), "*.csv")

    assert caught.value.message == f"The monitored folder {missing} does not exist."


def test_import_without_a_folder_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_local_files("", "*.csv", ["a.csv"])

    assert caught.value.message == "This import has no monitored directory to read files from."


def test_a_requested_temporary_file_is_refused_and_listing_skips_them(inbox: Path) -> None:
    put(inbox / "sales_1.csv.part")
    put(inbox / "~$sales_2.csv")
    put(inbox / "sales_3.csv")

    with pytest.raises(SourceError) as caught:
        resolve_local_files(str(inbox), "sales_*", ["sales_1.csv.part"])

    assert caught.value.message == "sales_1.csv.part is a temporary or hidden file; it was not loaded."
    assert [p.name for p in resolve_local_files(str(inbox), "*sales_*", [])] == ["sales_3.csv"]


@pytest.mark.parametrize("pattern", ["../../etc/passwd", "/etc/passwd", "sub/*.csv", "..\\x.csv", ".."])
def test_a_pattern_with_a_folder_part_is_refused_at_run_time(inbox: Path, pattern: str) -> None:
    with pytest.raises(ConfigError, match="must be a file name pattern such as sales_\\*.csv, without folders"):
        resolve_local_files(str(inbox), pattern)


def test_a_single_file_can_be_taken_from_any_folder_but_not_through_a_link_out(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "real.csv").write_text("a\n1\n")
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n2\n")
    (folder / "link.csv").symlink_to(outside)

    assert resolve_file_in_folder(folder, folder / "real.csv") == (folder / "real.csv").resolve()
    with pytest.raises(SourceError) as caught:
        resolve_file_in_folder(folder, folder / "link.csv")
    assert caught.value.message == f"link.csv is a link to a file outside the folder {folder}; it was not loaded."
