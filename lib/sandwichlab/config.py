"""Run-time settings read from the environment.

``SANDWICHLAB_FAST=1`` shrinks data sets and epoch counts so every notebook
runs under nbval in CI in minutes; the same notebooks run full size otherwise.
"""

from __future__ import annotations

import os

FAST_ENV = "SANDWICHLAB_FAST"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast_mode() -> bool:
    """True when ``SANDWICHLAB_FAST`` asks for the small, quick configuration."""
    raw = os.environ.get(FAST_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"environment variable {FAST_ENV}={raw!r}: expected 1/0, true/false, yes/no or on/off")


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise (for sizes and epoch counts)."""
    return fast if fast_mode() else full
