"""Which files in a watched folder are ready: once per version, only when settled, batched on request."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from dagster_code.engine.file_watch import WatchResult, scan_directory

NOW = 1_700_000_000.0
SETTLE = 2.0


def put(path: Path, content: str, mtime: float) -> Path:
    """Write ``content`` and set the file's modification time to ``mtime`` (seconds)."""
    path.write_text(content)
    os.utime(path, (mtime, mtime))
    return path


def scan(directory: Path, cursor: str | None, now: float, pattern: str = "*.csv", **kwargs) -> WatchResult:
    return scan_directory(directory, pattern, cursor, now, settle_seconds=SETTLE, **kwargs)


def batch_paths(result: WatchResult) -> list[tuple[str, ...]]:
    return [batch.paths for batch in result.batches]


def test_new_settled_file_is_one_batch_with_its_path(tmp_path: Path) -> None:
    sales = put(tmp_path / "sales.csv", "id\n1\n", NOW - 60)

    result = scan(tmp_path, None, NOW)

    assert batch_paths(result) == [(str(sales),)]
    assert (result.waiting, result.skip_reason) == (0, "")


def test_same_file_with_the_returned_cursor_is_not_batched_again(tmp_path: Path) -> None:
    put(tmp_path / "sales.csv", "id\n1\n", NOW - 60)
    first = scan(tmp_path, None, NOW)

    again = scan(tmp_path, first.cursor, NOW + 30)

    assert again.batches == ()
    assert again.waiting == 0
    assert again.cursor == first.cursor


def test_modified_file_is_batched_again_with_a_new_run_key(tmp_path: Path) -> None:
    sales = put(tmp_path / "sales.csv", "id\n1\n", NOW - 60)
    first = scan(tmp_path, None, NOW)
    put(sales, "id\n1\n2\n", NOW + 10)

    second = scan(tmp_path, first.cursor, NOW + 60)

    assert batch_paths(second) == [(str(sales),)]
    assert second.batches[0].run_key != first.batches[0].run_key


def test_touched_file_with_the_same_size_is_batched_again(tmp_path: Path) -> None:
    sales = put(tmp_path / "sales.csv", "id\n1\n", NOW - 60)
    first = scan(tmp_path, None, NOW)
    os.utime(sales, (NOW + 10, NOW + 10))

    assert batch_paths(scan(tmp_path, first.cursor, NOW + 60)) == [(str(sales),)]


def test_just_written_file_waits_until_a_second_tick_sees_it_unchanged(tmp_path: Path) -> None:
    sales = put(tmp_path / "sales.csv", "id\n1\n", NOW)

    first = scan(tmp_path, None, NOW)
    second = scan(tmp_path, first.cursor, NOW + 0.5)

    assert (first.batches, first.waiting) == ((), 1)
    assert batch_paths(second) == [(str(sales),)]
    assert second.waiting == 0


def test_file_still_growing_stays_pending(tmp_path: Path) -> None:
    sales = put(tmp_path / "sales.csv", "id\n1\n", NOW)
    first = scan(tmp_path, None, NOW)
    put(sales, "id\n1\n2\n", NOW + 1)

    second = scan(tmp_path, first.cursor, NOW + 1)
    third = scan(tmp_path, second.cursor, NOW + 1.5)

    assert (second.batches, second.waiting) == ((), 1)
    assert batch_paths(third) == [(str(sales),)]


def test_each_ready_file_is_its_own_batch_oldest_first(tmp_path: Path) -> None:
    newer = put(tmp_path / "a_newer.csv", "id\n2\n", NOW - 30)
    older = put(tmp_path / "b_older.csv", "id\n1\n", NOW - 60)

    assert batch_paths(scan(tmp_path, None, NOW)) == [(str(older),), (str(newer),)]


def test_batch_window_holds_files_until_quiet_then_emits_one_batch(tmp_path: Path) -> None:
    first_file = put(tmp_path / "part1.csv", "id\n1\n", NOW - 10)
    second_file = put(tmp_path / "part2.csv", "id\n2\n", NOW - 3)

    held = scan(tmp_path, None, NOW, batch_window_seconds=5)
    released = scan(tmp_path, held.cursor, NOW + 3, batch_window_seconds=5)
    after = scan(tmp_path, released.cursor, NOW + 60, batch_window_seconds=5)

    assert (held.batches, held.waiting) == ((), 2)
    assert batch_paths(released) == [(str(first_file), str(second_file))]
    assert released.waiting == 0
    assert after.batches == ()


def test_batch_window_waits_while_any_file_is_unsettled(tmp_path: Path) -> None:
    put(tmp_path / "part1.csv", "id\n1\n", NOW - 60)
    late = put(tmp_path / "part2.csv", "id\n2\n", NOW)

    held = scan(tmp_path, None, NOW, batch_window_seconds=5)
    put(late, "id\n2\n3\n", NOW + 4)
    still_held = scan(tmp_path, held.cursor, NOW + 4, batch_window_seconds=5)
    released = scan(tmp_path, still_held.cursor, NOW + 10, batch_window_seconds=5)

    assert (held.batches, held.waiting) == ((), 2)
    assert (still_held.batches, still_held.waiting) == ((), 2)
    assert batch_paths(released) == [(str(tmp_path / "part1.csv"), str(late))]


def test_max_files_caps_a_tick_and_the_rest_follow_next_tick(tmp_path: Path) -> None:
    paths = [put(tmp_path / f"f{i}.csv", "id\n1\n", NOW - 60 + i) for i in range(3)]

    first = scan(tmp_path, None, NOW, max_files=2)
    second = scan(tmp_path, first.cursor, NOW, max_files=2)

    assert batch_paths(first) == [(str(paths[0]),), (str(paths[1]),)]
    assert first.waiting == 1
    assert batch_paths(second) == [(str(paths[2]),)]


def test_missing_directory_gives_no_batch_and_a_skip_reason(tmp_path: Path) -> None:
    put(tmp_path / "sales.csv", "id\n1\n", NOW - 60)
    cursor = scan(tmp_path, None, NOW).cursor
    missing = tmp_path / "not-mounted"

    result = scan(missing, cursor, NOW)

    assert result.batches == ()
    assert result.skip_reason == f"The folder {missing} does not exist (yet)."
    assert result.cursor == cursor


def test_deleted_files_are_pruned_from_the_cursor(tmp_path: Path) -> None:
    sales = put(tmp_path / "sales.csv", "id\n1\n", NOW - 60)
    first = scan(tmp_path, None, NOW)
    sales.unlink()

    pruned = scan(tmp_path, first.cursor, NOW + 10)
    put(sales, "id\n1\n", NOW - 60)
    back = scan(tmp_path, pruned.cursor, NOW + 20)

    assert str(sales) in first.cursor
    assert json.loads(pruned.cursor)["done"] == {}
    assert pruned.batches == ()
    assert batch_paths(back) == [(str(sales),)]


def test_pattern_is_matched_on_file_names_only(tmp_path: Path) -> None:
    wanted = put(tmp_path / "sales_2024.csv", "id\n1\n", NOW - 60)
    put(tmp_path / "notes.txt", "x", NOW - 60)
    put(tmp_path / "SALES_2023.CSV", "id\n1\n", NOW - 60)
    (tmp_path / "sales_dir.csv").mkdir()
    put(tmp_path / "sales_dir.csv" / "sales_inner.csv", "id\n1\n", NOW - 60)

    result = scan(tmp_path, None, NOW, pattern="sales_*.csv")

    assert batch_paths(result) == [(str(wanted),)]


def test_unreadable_cursor_starts_afresh(tmp_path: Path) -> None:
    sales = put(tmp_path / "sales.csv", "id\n1\n", NOW - 60)

    for cursor in ("not json", '{"v": 999, "done": {}}', "[]"):
        assert batch_paths(scan(tmp_path, cursor, NOW)) == [(str(sales),)]


@pytest.mark.parametrize("name", [".sales_1.csv", "~$sales_1.csv", "sales_1.csv.part", "sales_1.csv.tmp"])
def test_temporary_and_hidden_files_are_never_picked_up(tmp_path, name):
    path = tmp_path / name
    path.write_text("a\n1\n")
    old = time.time() - 60
    os.utime(path, (old, old))
    result = scan_directory(tmp_path, "*sales_*", None, time.time())
    assert result.batches == ()


def test_a_link_leading_out_of_the_folder_is_refused_and_reported(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    outside = put(tmp_path / "elsewhere.csv", "id\n1\n", NOW - 60)
    (folder / "sneaky.csv").symlink_to(outside)
    inside = put(folder / "real.csv", "id\n2\n", NOW - 60)
    (folder / "alias.csv").symlink_to(inside)

    result = scan(folder, None, NOW)

    assert sorted(batch_paths(result)) == [(str(folder / "alias.csv"),), (str(inside),)]
    assert result.refused == (str(folder / "sneaky.csv"),)


def test_a_minimum_age_holds_an_unchanged_file_until_it_is_old_enough(tmp_path: Path) -> None:
    path = put(tmp_path / "slow.csv", "id\n1\n", NOW - 30)

    first = scan(tmp_path, None, NOW, min_age_seconds=60)
    second = scan(tmp_path, first.cursor, NOW + 5, min_age_seconds=60)
    third = scan(tmp_path, second.cursor, NOW + 31, min_age_seconds=60)

    assert (batch_paths(first), batch_paths(second)) == ([], [])
    assert second.waiting == 1
    assert batch_paths(third) == [(str(path),)]
