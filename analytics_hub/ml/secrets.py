"""Secrets (API keys, passwords) come from the environment first, then from the operating system's keyring."""

from __future__ import annotations

import logging
import os

KEYRING_SERVICE = "launchpad"

logger = logging.getLogger(__name__)


def resolve_secret(name: str) -> str | None:
    """The secret ``name`` from the environment variable of that name, else from the keyring (service
    ``launchpad``); ``None`` when neither has a non-empty value or the keyring cannot be used here."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        import keyring

        value = keyring.get_password(KEYRING_SERVICE, name)
    except Exception as exc:  # noqa: BLE001 - any keyring backend failure (no backend, locked, D-Bus) means "not found"
        logger.debug("Keyring lookup of %s failed: %s", name, type(exc).__name__)
        return None
    return value or None
