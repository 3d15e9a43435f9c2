"""The one error of the rule grammar."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule expression that does not fit its check type; ``message`` is plain and safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
