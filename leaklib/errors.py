"""User-facing errors: one line that says what is wrong and what would be right.

Every check on user input raises :class:`LeaklibError` (a ``ValueError``) before any long
computation starts. The command line prints its message without a traceback.
"""

from __future__ import annotations

import math
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


SEED_LIMIT = 2**32
"""Seeds lie in ``0 <= seed < 2**32``: what ``numpy.random.seed`` takes (torch takes more)."""


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) that a float holds finitely (no NaN, no infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range
        return False


def check_number(name: str, value: Any, *, integer: bool = False) -> Any:
    """Raise unless ``value`` is a finite number (an ``int`` if ``integer``; never a bool)."""
    kind = "an integer" if integer else "a finite number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise LeaklibError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if not integer and not is_finite_number(value):
        raise LeaklibError(f"{name} must be {kind}, got {value!r}")
    return value


def check_positive(name: str, value: Any, *, allow_zero: bool = False, integer: bool = True,
                   maximum: float | None = None) -> Any:
    """Raise unless ``value`` is a finite positive (or non-negative) number, at most ``maximum`` if given.

    Integers by default; NaN and infinity are refused (``nan < 0`` is False, so a plain comparison lets
    them through).
    """
    check_number(name, value, integer=integer)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise LeaklibError(f"{name} must be {bound}, got {value!r}")
    if maximum is not None and value > maximum:
        low = 0 if allow_zero else 1
        allowed = f"{low}..{maximum}" if integer else f"{'[' if allow_zero else '('}0, {maximum}]"
        raise LeaklibError(f"{name} must be at most {maximum} (allowed: {allowed}), got {value!r}")
    return value


def check_seed(name: str, value: Any, *, limit: int = SEED_LIMIT) -> int:
    """Raise unless ``value`` is an integer seed in ``0 <= value < limit`` (default 2**32, numpy's range)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LeaklibError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if not 0 <= value < limit:
        power = f"2**{limit.bit_length() - 1}" if limit & (limit - 1) == 0 else str(limit)
        raise LeaklibError(f"{name} must lie in 0..{limit - 1} (0 <= seed < {power}), got {value!r}")
    return value
