"""The admin's cron check must agree with Dagster's own, so a saved schedule never breaks the code location."""

from __future__ import annotations

import pytest
from dagster._utils.schedules import is_valid_cron_string
from django.core.exceptions import ValidationError

from backend.pipelines.validation import validate_cron

CASES = [
    "0 6 * * 1-5",
    "*/15 * * * *",
    "@daily",
    "@hourly",
    "@weekly",
    "@reboot",
    "0 6 * * * *",
    "0 0 30 2 *",
    "0 0 31 2 *",
    "0 0 31 4 *",
    "0 0 L * *",
    "0 0 * * 1#2",
    "0 0 * * MON-FRI",
    "H 0 * * *",
    "*/0 * * * *",
    "61 * * * *",
    "0 24 * * *",
    "0 0 0 * *",
    "0 0 * 13 *",
    "0 0 * * 8",
    "every day",
    "* * * *",
    "0 0 1,15 * *",
    "5-10/2 * * * *",
    "0 0 29 2 *",
    "0 12 * JAN,FEB *",
]


@pytest.mark.parametrize("value", CASES)
def test_validate_cron_agrees_with_dagster(value):
    try:
        validate_cron(value)
        ours = True
    except ValidationError:
        ours = False
    assert ours == is_valid_cron_string(value)
