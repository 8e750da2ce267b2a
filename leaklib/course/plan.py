"""What each course notebook runs: the quick profile, with smaller knobs where quick takes too long for a
student's 2-core laptop (the course's budget: 10 minutes per notebook, exercises included).

The ``course`` profile is the quick one plus :data:`COURSE_OVERRIDES`; ``smoke`` (seconds) is for the tests.
A course notebook does not stop on a claim that fails (``strict=False``): with smaller knobs its values may
leave the quick profile's tolerances, and the claim table says so instead of ending the student's run.
"""

from __future__ import annotations

from typing import Any

from ..errors import check_choice
from ..profiles import PROFILES, settings

COURSE_PROFILES = ("course", "smoke")  # what `leaklib course build --profile` accepts

# notebook -> knobs that differ from quick, each with the measured reason (quick times: a clean
# `./run_all.sh --fresh` of session 13 on this 2-core machine)
COURSE_OVERRIDES: dict[str, dict[str, Any]] = {
    # quick 9.1 min, ResNet-32 the largest part: the course keeps the width study and its claim, drops depth 32
    "04_width_depth": {"depths": [20]},
}


def base_profile(profile: str) -> str:
    """The leaklib profile a course profile runs: ``course`` -> quick, ``smoke`` -> smoke."""
    check_choice("course profile", profile, COURSE_PROFILES)
    return "quick" if profile == "course" else profile


def course_overrides(notebook: str, profile: str) -> dict[str, Any]:
    """The knobs a course notebook sets in its parameters cell (none under smoke)."""
    return dict(COURSE_OVERRIDES.get(notebook, {})) if profile == "course" else {}


def course_settings(notebook: str, profile: str) -> dict[str, Any]:
    """The knobs the course notebook ``notebook`` runs with under ``profile``."""
    return settings(notebook, base_profile(profile), **course_overrides(notebook, profile))


def course_notebooks() -> list[str]:
    """Every notebook, in order."""
    return list(PROFILES)
