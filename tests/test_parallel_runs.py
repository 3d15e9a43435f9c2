"""Parallel test runs: how many processes ``./run.sh test`` starts, and each one's own Redis database."""

from __future__ import annotations

import pytest

from backend import launcher
from backend.settings import celery_redis_url
from tests.parallel import worker_redis_url


@pytest.mark.parametrize(
    ("cores", "environ", "expected"),
    [
        (2, {}, ["-n", "2", "--dist", "loadgroup"]),
        (16, {}, ["-n", "4", "--dist", "loadgroup"]),
        (1, {}, []),
        (2, {"LAUNCHPAD_TEST_WORKERS": "3"}, ["-n", "3", "--dist", "loadgroup"]),
        (8, {"LAUNCHPAD_TEST_WORKERS": "0"}, []),
        (8, {"LAUNCHPAD_TEST_WORKERS": "1"}, []),
    ],
)
def test_one_test_process_per_core_up_to_four_unless_told(monkeypatch, cores, environ, expected):
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: cores)
    assert launcher.parallel_args(["-q"], environ) == expected


@pytest.mark.parametrize("args", [["-n", "3"], ["-n3"], ["--numprocesses=2"], ["-p", "no:xdist"], ["--dist=load"]])
def test_arguments_that_choose_parallelism_are_left_alone(monkeypatch, args):
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 4)
    assert launcher.parallel_args(args, {}) == []


def test_a_worker_count_that_is_not_a_number_is_refused_plainly():
    with pytest.raises(SystemExit, match="LAUNCHPAD_TEST_WORKERS must be a whole number"):
        launcher.parallel_args([], {"LAUNCHPAD_TEST_WORKERS": "two"})


@pytest.mark.parametrize(
    ("url", "worker", "expected"),
    [
        ("unix:///tmp/r/redis.sock?db=0", "gw0", "unix:///tmp/r/redis.sock?db=0"),
        ("unix:///tmp/r/redis.sock?db=0", "gw1", "unix:///tmp/r/redis.sock?db=15"),
        ("unix:///tmp/r/redis.sock", "gw2", "unix:///tmp/r/redis.sock?db=14"),
        ("redis://127.0.0.1:6379/15", "gw1", "redis://127.0.0.1:6379/14"),
        ("redis://127.0.0.1:6379", "gw3", "redis://127.0.0.1:6379/13"),
        ("redis://:secret@cache:6380/4?db=4", "gw1", "redis://:secret@cache:6380/4?db=3"),
    ],
)
def test_each_worker_moves_to_a_database_of_its_own(url, worker, expected):
    assert worker_redis_url(url, worker) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("unix:///tmp/r/redis.sock?db=3", "redis+socket:///tmp/r/redis.sock?virtual_host=3"),
        ("unix:///tmp/r/redis.sock", "redis+socket:///tmp/r/redis.sock?virtual_host=0"),
        ("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"),
    ],
)
def test_celery_reads_the_same_redis_database_as_redis_py(url, expected):
    assert celery_redis_url(url) == expected
