"""What a ``paper`` run needs, checked before the first attack: datasets, trained weights, a GPU.

A paper-profile notebook is hours of GPU time; one that stops after an hour on a missing checkpoint wastes
them. :func:`paper_preflight` reads each selected notebook's paper knobs (:mod:`leaklib.profiles`) and
returns everything that is missing, each with the command that produces it, so that ``leaklib notebooks
--profile paper`` (and ``./run_all.sh --profile paper``) can stop with one message listing all of it.
Nothing is downloaded and no model is trained here. When nothing is missing, :func:`paper_estimate` times a
short warm-up of each kind of attack (:mod:`leaklib.workload`): GPU memory per trial and hours per notebook.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LeaklibError

TRAINED_KNOBS = ("dishonest_model",)
"""Knobs that name a model attacked with trained weights (elsewhere a ``+trained`` suffix says so)."""

DATA_COMMANDS = {
    "cifar10": "leaklib data download cifar10   (on a machine with internet; or copy cifar-10-batches-py under the data root)",
    "cifar100": "leaklib data download cifar100   (on a machine with internet; or copy cifar-100-python under the data root)",
    "imagenet": "copy the ImageNet validation set to <data root>/imagenet/val/<wnid>/*.JPEG (no download exists)",
    "fashion-mnist": "apt-get install dataset-fashion-mnist   (or leaklib data download fashion-mnist)",
}


@dataclass(frozen=True)
class Missing:
    """One thing a paper run needs and this machine lacks: what, for which notebooks, and how to get it."""

    what: str
    notebooks: tuple[str, ...]
    fix: str


def _leaves(cfg: Any, knob: str = "") -> Iterator[tuple[str, Any]]:
    """(knob, value) of every scalar in a profile's knobs, lists and dicts flattened."""
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            yield from _leaves(v, k)
    elif isinstance(cfg, (list, tuple)):
        for v in cfg:
            yield from _leaves(v, knob)
    else:
        yield knob, cfg


def trained_models(cfg: dict[str, Any]) -> set[str]:
    """The models a notebook's knobs attack with trained weights: ``name+trained`` values, and the models
    that :data:`TRAINED_KNOBS` name."""
    found = set()
    for knob, value in _leaves(cfg):
        if isinstance(value, str) and value.endswith("+trained"):
            found.add(value.removesuffix("+trained"))
        elif knob in TRAINED_KNOBS and isinstance(value, str):
            found.add(value)
    return found


def _num_classes(dataset: str, root: str | os.PathLike | None) -> int:
    """The dataset's class count, from the dataset or, when it is missing here, from its offline sample."""
    from .data import dataset_info

    for name in (dataset, f"{dataset.removesuffix('-sample')}-sample"):
        try:
            info = dataset_info(name, root)
        except LeaklibError:  # no such sample (fashion-mnist has none)
            continue
        if info.available and info.num_classes:
            return info.num_classes
    return 10


def _missing_weights(model: str, dataset: str, root: str | os.PathLike | None) -> str | None:
    """None when ``model`` builds with trained weights for ``dataset``, else the reason (it names the command)."""
    from .models import build

    try:
        build(model, _num_classes(dataset, root), trained=True, dataset=dataset)
    except LeaklibError as e:
        return str(e)
    return None


def _weights_fix(model: str, dataset: str, reason: str) -> str:
    """The ``leaklib train`` command where training makes the weights, else the loader's own reason."""
    from .models.checkpoint import train_command

    return train_command(model, dataset.removesuffix("-sample")) if "leaklib train" in reason else reason


def paper_preflight(notebooks: Sequence[str | Path], device: str = "auto", root: str | os.PathLike | None = None,
                    overrides: Mapping[str, Any] | None = None) -> list[Missing]:
    """Everything the paper profile of ``notebooks`` needs that is missing here (empty: ready to run).

    Checks the datasets that its knobs (with ``overrides``, e.g. ``{"dataset": "cifar10-sample"}``) and its code
    name, the trained weights of :func:`trained_models` (cached by ``leaklib train``, shipped, or from a
    wheel), and CUDA unless ``device`` is ``"cpu"`` (a deliberate CPU run of the published budgets).
    """
    import torch

    from .data import dataset_info
    from .data.registry import DATASETS
    from .notebooks import code_datasets
    data: dict[str, list[str]] = {}
    weights: dict[tuple[str, str], list[str]] = {}
    reasons: dict[tuple[str, str], str] = {}
    for nb in notebooks:
        path = Path(nb)
        name = path.stem
        cfg = paper_settings(path, overrides)
        named = {v for _, v in _leaves(cfg) if isinstance(v, str) and v in DATASETS} | code_datasets(path)
        for dataset in sorted(named):
            if not dataset_info(dataset, root).available:
                data.setdefault(dataset, []).append(name)
        for model in sorted(trained_models(cfg)):
            key = (model, cfg["dataset"])
            if key not in reasons:
                reasons[key] = _missing_weights(model, cfg["dataset"], root) or ""
            if reasons[key]:
                weights.setdefault(key, []).append(name)
    missing = [Missing(f"dataset {d}", tuple(users), DATA_COMMANDS.get(d, f"leaklib data download {d}"))
               for d, users in data.items()]
    missing += [Missing(f"trained weights of {m} for {d}", tuple(users), _weights_fix(m, d, reasons[(m, d)]))
                for (m, d), users in weights.items()]
    if device != "cpu" and not torch.cuda.is_available():
        missing.append(Missing("a CUDA GPU", tuple(Path(nb).stem for nb in notebooks),
                               "run on a machine with an NVIDIA GPU and a CUDA build of torch "
                               "(--device cpu runs the published budgets on the CPU: days per notebook)"))
    return missing


def paper_settings(notebook: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A notebook's paper settings with the ``overrides`` that are its knobs (the others are another notebook's)."""
    from .profiles import settings

    name = Path(notebook).stem
    knobs = settings(name, "paper")
    return settings(name, "paper", **{k: v for k, v in (overrides or {}).items() if k in knobs})


def paper_estimate(notebooks: Sequence[str | Path], device: str = "auto", root: str | os.PathLike | None = None,
                   overrides: Mapping[str, Any] | None = None) -> str:
    """The warm-up estimate (:func:`leaklib.workload.estimate`) of the notebooks' paper sweeps, as a table."""
    from .runtime import resolve_device
    from .workload import estimate, estimate_table

    dev = resolve_device(device)
    root = None if root is None else str(root)
    found = [e for nb in notebooks for e in estimate(Path(nb).stem, paper_settings(nb, overrides), dev, root)]
    return estimate_table(found, str(dev))


def preflight_message(missing: Sequence[Missing]) -> str:
    """One message listing all that is missing, each with the notebooks that need it and its fix."""
    lines = [f"the paper profile cannot start: {len(missing)} thing(s) missing on this machine"]
    for m in missing:
        lines.append(f"  - {m.what} (needed by {', '.join(m.notebooks)})\n      get it: {m.fix}")
    lines.append("nothing was run; after fixing these, run the same command again")
    return "\n".join(lines)
