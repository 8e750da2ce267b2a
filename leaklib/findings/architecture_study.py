"""The trial of notebook 03 (Inverting Gradients, Geiping et al. 2020, Sec. 4-6).

A trial is one attack on one FedSGD gradient, described by plain JSON values so that
:func:`leaklib.runs.run_sweep` can key, store and resume it: :func:`attack_trial` runs it through
:func:`leaklib.experiments.run_experiment`.
"""

from __future__ import annotations

from collections.abc import Mapping
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
