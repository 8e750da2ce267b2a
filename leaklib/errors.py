"""User-facing errors: one line that says what is wrong and what would be right.

Every check on user input raises :class:`LeaklibError` (a ``ValueError``) before any long
computation starts. The command line prints its message without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class LeaklibError(ValueError):
    """A mistake in what the user asked for (a name, a shape, a file, a setting)."""


def unknown(kind: str, name: Any, valid: Iterable[Any]) -> LeaklibError:
    """Error for a name that is not one of ``valid``; the message lists the valid ones."""
    names = ", ".join(str(v) for v in valid)
    return LeaklibError(f"unknown {kind} {name!r}; valid {kind}s: {names}")


def check_choice(kind: str, value: Any, valid: Iterable[Any]) -> Any:
    """Return ``value`` if it is in ``valid``, else raise :func:`unknown`."""
    valid = list(valid)
    if value not in valid:
        raise unknown(kind, value, valid)
    return value


def check_positive(name: str, value: Any, *, allow_zero: bool = False, integer: bool = True) -> Any:
    """Raise unless ``value`` is a positive (or non-negative) number (integer by default)."""
    kind = "integer" if integer else "number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise LeaklibError(f"{name} must be a {kind}, got {value!r} ({type(value).__name__})")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise LeaklibError(f"{name} must be {bound}, got {value!r}")
    return value
