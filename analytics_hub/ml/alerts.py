"""Anomaly alerts posted as JSON to a webhook: bounded time, a few retries, never an exception to the caller."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_ATTEMPTS = 3


@dataclass(frozen=True)
class AlertOutcome:
    delivered: bool
    attempts: int
    status: int | None
    error: str  # plain and free of the address (a webhook URL is a credential)


def post_alert(
    url: str,
    payload: dict,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = 0.5,
) -> AlertOutcome:
    """POST ``payload`` as JSON; retries connection errors, timeouts and 5xx/429 answers, then gives up quietly."""
    body = json.dumps(payload, default=str).encode()
    status, error = None, ""
    for attempt in range(1, max(attempts, 1) + 1):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "launchpad"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return AlertOutcome(True, attempt, response.status, "")
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"the webhook answered HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                return AlertOutcome(False, attempt, status, error)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            status, error = None, f"the webhook could not be reached ({type(reason).__name__})"
        except ValueError:
            return AlertOutcome(False, attempt, None, "the webhook address is not a valid URL")
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return AlertOutcome(False, max(attempts, 1), status, error)
