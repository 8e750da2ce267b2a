"""What a notebook's attacks cost before they run: its attack trials by kind, and a short timed warm-up.

:func:`workloads` lists, for one notebook's settings, each kind of attack it runs (one representative
:func:`leaklib.experiments.attack_trial` trial) and how many of them (the notebook's own sweep: images x
arms, batches x arms...). :func:`estimate` runs each kind at two small iteration counts on the device; the
difference of the two times is the seconds per iteration (set-up excluded), the larger run's peak the GPU
memory per trial; trials x iterations x seconds per iteration is the time. Label tables and the analytic
parts are left out: they attack nothing and take seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

WARM_UP = (2, 5)
"""Iterations of the two timed warm-up runs of each kind of trial."""


@dataclass(frozen=True)
class Workload:
    """One kind of attack a notebook runs: a representative trial and how many such trials the sweep holds."""

    notebook: str
    what: str
    trial: Mapping[str, Any]  # an attack_trial trial, with its full iteration count
    count: int

    @property
    def iterations(self) -> int:
        return int(self.trial["iterations"])


def _ws(nb: str, kinds: list[tuple[str, dict[str, Any], int]]) -> list[Workload]:
    return [Workload(nb, what, trial, count) for what, trial, count in kinds if count]


def _w01(nb: str, c: dict[str, Any]) -> list[Workload]:
    trial = {"dataset": c["image_dataset"], "model": c["image_model"], "indices": None, "batch_size": c["image_batch"],
             "pattern": c["image_pattern"], "recipe": c["recipe"], "iterations": c["iterations"], "tv": c["tv"],
             "labels": "geng"}
    return _ws(nb, [(f"{c['image_model']}, batch {c['image_batch']}", trial, 2 * len(c["image_seeds"]))])


def _w02(nb: str, c: dict[str, Any]) -> list[Workload]:
    trial = {"indices": None, "pattern": "unique",
             **{k: c[k] for k in ("dataset", "model", "batch_size", "recipe", "iterations", "tv", "restarts")}}
    pairs = min(len(c["seeds"]), len(c["same_classes"]))  # the notebook zips seeds with classes
    return _ws(nb, [(f"{c['model']}, batch {c['batch_size']}", trial, 2 * pairs)])


def _w03(nb: str, c: dict[str, Any]) -> list[Workload]:
    kinds = []
    for case in c["cases"]:
        model, _, flag = case.partition("+")
        for method in c["methods"]:
            config = ({"recipe": c["ig_recipe"], "iterations": c["ig_iterations"], "tv": c["tv"], "labels": "known"}
                      if method == "ig" else {"recipe": "dlg", "iterations": c["dlg_iterations"], "labels": "joint"})
            trial = {"dataset": c["dataset"], "image": c["images"][0], "model": model, "trained": flag == "trained",
                     "restarts": c["restarts"], **config}
            kinds.append((f"{method} on {case}", trial, len(c["images"])))
    return _ws(nb, kinds)


def _w04(nb: str, c: dict[str, Any]) -> list[Workload]:
    arms = dict.fromkeys([(f"resnet20-{w}", c["iterations"], c["restarts"]) for w in c["widths"]]
                         + [(f"resnet{d}-{c['depth_width']}", c["depth_iterations"], c["depth_restarts"])
                            for d in c["depths"]])
    shape = {k: c[k] for k in ("dataset", "recipe", "tv")}
    return _ws(nb, [(f"{m}, {n} it x {r}", {"image": c["images"][0], "model": m, "iterations": n, "restarts": r,
                                             **shape}, len(c["images"])) for m, n, r in arms])


def _w05(nb: str, c: dict[str, Any]) -> list[Workload]:
    arms = dict.fromkeys([(e, c["base_lr"]) for e in c["epochs"]] + [(c["base_epochs"], lr) for lr in c["lrs"]])
    shape = {"setting": "fedavg", **{k: c[k] for k in ("dataset", "model", "local_batch", "fedavg", "recipe",
                                                        "iterations", "tv")}}
    return _ws(nb, [(f"E={e}, lr={lr:g}", {"image": c["images"][0], "epochs": e, "local_lr": lr, **shape},
                     len(c["images"])) for e, lr in arms])


def _w06(nb: str, c: dict[str, Any]) -> list[Workload]:
    trial = {"indices": None, **{k: c[k] for k in ("dataset", "model", "batch_size", "pattern", "recipe", "iterations",
                                                   "tv", "restarts")}}
    return _ws(nb, [(f"{c['model']}, batch {c['batch_size']}", trial, 2 * len(c["seeds"]))])


def _w07(nb: str, c: dict[str, Any]) -> list[Workload]:
    arms = [(u, c["iterations"]) for u in c["updates"]] + [(1, u * c["iterations"]) for u in c["updates"] if u > 1]
    shape = {"setting": "fedavg", "indices": None, "pattern": "unique",
             **{k: c[k] for k in ("dataset", "model", "batch_size", "local_batch", "local_lr", "recipe", "tv")}}
    return _ws(nb, [(f"{u} update(s), {n} iterations", {"updates": u, "iterations": n, **shape}, len(c["seeds"]))
                    for u, n in arms])


def _w08(nb: str, c: dict[str, Any]) -> list[Workload]:
    dishonest = {"dataset": c["dataset"], "image": c["dishonest_images"][0], "model": c["dishonest_model"],
                 "trained": True, "server": "flip", "recipe": c["recipe"], "iterations": c["dishonest_iterations"],
                 "tv": c["dishonest_tv"]}
    padding = {"dataset": c["dataset"], "image": c["padding_images"][0], "model": c["padding_model"], "padding": "zeros",
               "recipe": c["recipe"], "iterations": c["padding_iterations"], "tv": c["padding_tv"]}
    return _ws(nb, [(f"honest and dishonest server, trained {c['dishonest_model']}", dishonest,
                     2 * len(c["dishonest_images"])),
                    (f"zero and circular padding, {c['padding_model']}", padding, 2 * len(c["padding_images"]))])


def _w09(nb: str, c: dict[str, Any]) -> list[Workload]:
    trial = {"indices": None, "pattern": "random",
             **{k: c[k] for k in ("dataset", "model", "batch_size", "recipe", "iterations", "tv", "restarts")}}
    return _ws(nb, [(f"{c['model']}, batch {c['batch_size']}", trial, len(c["seeds"]))])


KINDS: dict[str, Callable[[str, dict[str, Any]], list[Workload]]] = {
    "01_duplicate_label_recovery": _w01, "02_same_class_fusion": _w02, "03_trained_vs_untrained": _w03,
    "04_width_depth": _w04, "05_fedavg_epochs": _w05, "06_label_errors": _w06, "07_multiple_updates": _w07,
    "08_analytic_and_dishonest": _w08, "09_large_batch": _w09,
}
"""Each notebook's sweep, as kinds of attack trial and their counts (mirrors the notebook's ``trials`` list;
tests/test_paper_profile.py checks the counts against the records a run writes)."""


def workloads(notebook: str, cfg: Mapping[str, Any]) -> list[Workload]:
    """The attack trials of ``notebook`` with settings ``cfg`` (:func:`leaklib.profiles.settings`), by kind."""
    from .errors import LeaklibError

    if notebook not in KINDS:
        raise LeaklibError(f"no workload is known for notebook {notebook!r}; known: {', '.join(KINDS)}")
    return KINDS[notebook](notebook, dict(cfg))


@dataclass(frozen=True)
class Estimate:
    """A kind of trial timed on the device: seconds per iteration, GPU memory per trial, total hours."""

    workload: Workload
    seconds_per_iteration: float
    setup_seconds: float
    peak_memory_gib: float | None  # None on a CPU

    @property
    def hours(self) -> float:
        w = self.workload
        return w.count * (self.setup_seconds + w.iterations * self.seconds_per_iteration) / 3600


def time_workload(workload: Workload, device: torch.device | str, data_root: str | None = None,
                  warm_up: tuple[int, int] = WARM_UP) -> Estimate:
    """Run ``workload``'s trial once untimed (first-call costs: kernels chosen and allocated for its shapes),
    then at both ``warm_up`` iteration counts; the time per iteration is their difference."""
    from .experiments import attack_trial
    from .runtime import resolve_device

    device = resolve_device(device)
    few, more = warm_up
    attack_trial({**workload.trial, "iterations": 1}, device=device, data_root=data_root)  # one-off costs, untimed
    seconds, walls = [], []
    for its in (few, more):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        seconds.append(attack_trial({**workload.trial, "iterations": its}, device=device, data_root=data_root)["seconds"])
        walls.append(time.perf_counter() - start)
    per_iteration = max(seconds[1] - seconds[0], 0.0) / (more - few)
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return Estimate(workload, per_iteration, max(walls[1] - more * per_iteration, 0.0), memory)


def estimate(notebook: str, cfg: Mapping[str, Any], device: torch.device | str, data_root: str | None = None,
             warm_up: tuple[int, int] = WARM_UP, log: Callable[[str], None] = print) -> list[Estimate]:
    """Every kind of attack of ``notebook`` timed on ``device`` (:func:`time_workload`)."""
    out = []
    for w in workloads(notebook, cfg):
        out.append(time_workload(w, device, data_root, warm_up))
        log(f"[leaklib] warm-up {notebook}: {w.what}: {out[-1].seconds_per_iteration * 1e3:.1f} ms per iteration")
    return out


def estimate_table(estimates: list[Estimate], device: str, warm_up: tuple[int, int] = WARM_UP) -> str:
    """Per notebook: trials, the largest GPU memory of a trial, hours; then the total."""
    lines = [f"estimate on {device} from warm-ups of {warm_up[0]} and {warm_up[1]} iterations per kind of trial "
             "(trials x iterations x seconds per iteration, set-up included):",
             f"  {'notebook':<28} {'trials':>7} {'GPU memory / trial':>19} {'hours':>9}"]
    by: dict[str, list[Estimate]] = {}
    for e in estimates:
        by.setdefault(e.workload.notebook, []).append(e)
    for nb, es in by.items():
        memory = [e.peak_memory_gib for e in es if e.peak_memory_gib is not None]
        mem = f"{max(memory):.1f} GiB" if memory else "- (CPU)"
        lines.append(f"  {nb:<28} {sum(e.workload.count for e in es):>7} {mem:>19} {sum(e.hours for e in es):>9.1f}")
    lines.append(f"  {'total':<28} {sum(e.workload.count for e in estimates):>7} {'':>19} "
                 f"{sum(e.hours for e in estimates):>9.1f}")
    return "\n".join(lines)

