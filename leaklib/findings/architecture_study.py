"""Helpers for notebooks 03, 04 and 09 (Inverting Gradients, Geiping et al. 2020, Sec. 4-6).

A trial of these notebooks is one attack on one FedSGD gradient, described by plain JSON values so that
:func:`leaklib.runs.run_sweep` can key, store and resume it: :func:`attack_trial` runs it through
:func:`leaklib.experiments.run_experiment`. :func:`summarize` gives the spread of a metric per setting.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ..attack import AttackConfig
from ..errors import LeaklibError
from ..experiments import Experiment, run_experiment


def attack_trial(params: Mapping[str, Any], *, device: str = "auto", seed: int = 0,
                 keep_images: bool = True) -> dict[str, Any]:
    """Run one trial: ``params["experiment"]`` (``Experiment`` fields), ``params["method"]`` (an
    ``AttackConfig.preset`` name: ``ig`` or ``dlg``) and ``params["config"]`` (overrides of the preset).

    Returns the experiment's JSON record (aligned PSNR, per-image metrics, images if ``keep_images``).
    """
    for key in ("experiment", "method"):
        if key not in params:
            raise LeaklibError(f"a trial needs {key!r}; got keys {sorted(params)}")
    exp = Experiment(**dict(params["experiment"]))
    config = AttackConfig.preset(params["method"], **dict(params.get("config") or {}))
    return run_experiment(exp, config, device=device, seed=seed, keep_images=keep_images).record


def summarize(rows: Sequence[Mapping[str, Any]], by: str | Sequence[str], value: str = "psnr"
              ) -> list[dict[str, Any]]:
    """Mean, standard deviation (0 for one value), min, max and count of ``value`` per setting ``by``.

    ``rows`` are flat dicts (e.g. :func:`leaklib.runs.load_flat`); settings keep their first-seen order.
    """
    keys = [by] if isinstance(by, str) else list(by)
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        missing = [k for k in [*keys, value] if k not in row]
        if missing:
            raise LeaklibError(f"row has no field(s) {missing}; fields: {', '.join(map(str, row))}")
        groups.setdefault(tuple(row[k] for k in keys), []).append(float(row[value]))
    out = []
    for group, values in groups.items():
        out.append({**dict(zip(keys, group)), "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "min": min(values), "max": max(values), "n": len(values)})
    return out

