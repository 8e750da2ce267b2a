"""The accepted range of each experiment's answer, measured by running its solution over seeds.

``leaklib course calibrate`` runs every experiment's solution (:mod:`leaklib.course.exercises`) with the
course settings of its notebook at seeds 0-3 and stores, per profile, the measured values and the range
``[min - margin, max + margin]`` with ``margin = max(floor, spread / 2)`` (spread = max - min), with the command
and date, in ``ranges.json`` next to this module. The autograder accepts an answer inside that range.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from ..errors import LeaklibError
from ..io import read_json, write_json
from .exercises import Exercise, exercises
from .plan import course_settings

RANGES_PATH = Path(__file__).with_name("ranges.json")
CALIBRATION_SEEDS = (0, 1, 2, 3)
FLOOR = 0.05  # the smallest margin: answers are fractions, counts or dB, none is meaningful below this


def measure(exercise: Exercise, profile: str, seed: int, device: str = "cpu", data_root: str | None = None) -> float:
    """Run ``exercise``'s solution as its notebook's kernel would (``cfg``, ``seed``, ``device``, ``data_root``)."""
    if exercise.kind != "experiment":
        raise LeaklibError(f"exercise {exercise.id!r} is {exercise.kind!r}: only experiments have an answer to measure")
    namespace: dict[str, Any] = {"cfg": course_settings(exercise.notebook, profile), "seed": seed, "device": device,
                                 "data_root": data_root}
    exec(compile(exercise.solution, f"<exercise {exercise.id}>", "exec"), namespace)
    value = namespace.get(exercise.answer)
    if not isinstance(value, (int, float)):
        raise LeaklibError(f"exercise {exercise.id!r}: its solution left {exercise.answer} = {value!r}, not a number")
    return float(value)


def accepted_range(values: list[float]) -> tuple[float, float]:
    """``[min - margin, max + margin]``, ``margin = max(FLOOR, (max - min) / 2)``."""
    lo, hi = min(values), max(values)
    margin = max(FLOOR, (hi - lo) / 2)
    return lo - margin, hi + margin


def load_ranges(path: str | Path = RANGES_PATH) -> dict[str, Any]:
    path = Path(path)
    return read_json(path) if path.exists() else {}


def solution_digest(exercise: Exercise) -> str:
    """A short hash of the solution's code: a range holds only for the solution that measured it."""
    return hashlib.sha256(exercise.solution.encode()).hexdigest()[:16]


def answer_range(exercise: Exercise, profile: str, path: str | Path = RANGES_PATH) -> tuple[float, float]:
    """The stored range of ``exercise`` under ``profile``; a clear error if it was never calibrated, or was
    calibrated with another solution."""
    entry = load_ranges(path).get(profile, {}).get(exercise.id)
    again = f"leaklib course calibrate --profile {profile} --only {exercise.notebook[:2]}"
    if entry is None:
        raise LeaklibError(f"experiment {exercise.id!r} has no measured range for profile {profile!r}; run: {again}")
    if entry.get("solution_sha256") != solution_digest(exercise):
        raise LeaklibError(f"experiment {exercise.id!r}: its solution changed since its range was measured "
                           f"({entry.get('created', 'no date')}); run: {again}")
    return float(entry["low"]), float(entry["high"])


def calibrate(profile: str, notebooks: list[str] | None = None, seeds: tuple[int, ...] = CALIBRATION_SEEDS,
              device: str = "cpu", data_root: str | None = None, path: str | Path = RANGES_PATH,
              progress: bool = True) -> dict[str, Any]:
    """Measure every experiment of ``notebooks`` (all when None) at ``seeds``; store and return their ranges."""
    todo = [e for e in exercises() if e.kind == "experiment" and (notebooks is None or e.notebook in notebooks)]
    if not todo:
        raise LeaklibError(f"no experiment exercise in {notebooks}")
    ranges = load_ranges(path)
    table = ranges.setdefault(profile, {})
    for exercise in todo:
        t0 = time.perf_counter()
        values = [measure(exercise, profile, s, device, data_root) for s in seeds]
        low, high = accepted_range(values)
        table[exercise.id] = {"notebook": exercise.notebook, "values": values, "seeds": list(seeds), "low": low,
                              "high": high, "solution_sha256": solution_digest(exercise),
                              "command": f"leaklib course calibrate --profile {profile}",
                              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json(path, ranges)  # after each exercise: an interrupted calibration keeps what it measured
        if progress:
            print(f"{exercise.id}: {[round(v, 3) for v in values]} -> [{low:.3f}, {high:.3f}] "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return ranges
