"""leaklib against breaching (Geiping et al.'s reference library) on the same problem, in one run.

Both libraries get the same model weights (leaklib's ``build(model)`` copied into breaching's model of
the same name, checked on a batch), the same shared update, the same images and known labels. For each
case (:data:`CASES`) and repeat the two libraries alternate, so that both see the same machine load:

- one run per iteration budget for each library (equal iterations);
- one leaklib run with a wall-time budget equal to breaching's time for its smallest iteration budget
  (``AttackConfig.time_budget``: the step schedule follows the fraction of the time used).

While a run goes, its current reconstruction is copied every ``every`` iterations with a timestamp (a
clone of the images, microseconds); PSNR is computed after the run, so the clock only sees the attack.
leaklib's current reconstruction is the restart with the lowest current objective (what it would
return if stopped); breaching's is its current candidate (with several restarts, which run one after
another, only its final answer is recorded). "Time to reach" is the first recorded time at which a
library's run of the largest iteration budget reaches breaching's final PSNR at that budget.

GFLOP per iteration are counted with ``torch.utils.flop_counter.FlopCounterMode`` for each library (the
difference between runs of 2 and 1 iterations); the peak is a timed 2048x2048 float32 matmul.
Ratios are leaklib / breaching; PSNR differences are leaklib - breaching in dB.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .errors import LeaklibError, check_choice, check_positive

PEAK_SIZE = 2048
DEFAULT_METHOD = "ig-fast"  # leaklib's measured preset for short budgets (AttackConfig.preset)


@dataclass(frozen=True)
class BenchCase:
    """One benchmark setting: client batch size, restarts, and FedAvg local steps (0 = FedSGD)."""

    name: str
    num_images: int = 1
    restarts: int = 1
    local_steps: int = 0
    local_lr: float = 1e-3  # breaching's fedavg_small_scale case uses 1e-3

    @property
    def setting(self) -> str:
        return "fedavg" if self.local_steps else "fedsgd"


CASES: dict[str, BenchCase] = {c.name: c for c in (
    BenchCase("single"),
    BenchCase("batch4", num_images=4),
    BenchCase("restarts8", restarts=8),
    BenchCase("fedavg5", local_steps=5),
)}


# ---------------------------------------------------------------- small arithmetic (tested on its own)

def summarize(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min, max and count of the values that are not None (all None when there are none)."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def difference(a: float | None, b: float | None) -> float | None:
    """``a - b``, or None when either is missing."""
    return None if a is None or b is None else a - b


def time_to_reach(curve: Sequence[Sequence[float]], target: float) -> float | None:
    """The first time in ``curve`` (rows ``(seconds, iteration, psnr)``) with PSNR >= ``target``."""
    for seconds, _, value in curve:
        if value is not None and value >= target:
            return float(seconds)
    return None


# ---------------------------------------------------------------- the shared problem

def matmul_peak(size: int | None = None, repeats: int = 7) -> dict[str, float]:
    """Timed ``size x size`` (default :data:`PEAK_SIZE`) float32 matmuls: median and best GFLOP/s."""
    size = size or PEAK_SIZE
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm up
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - t) / 1e9)
    return {"median_gflops": statistics.median(rates), "best_gflops": max(rates), "size": size}


@dataclass
class Problem:
    """What both libraries attack: model, the client's update, its images (normalised) and labels."""

    case: BenchCase
    model: nn.Module
    observation: Any
    images: Tensor
    labels: Tensor
    normalization: Any
    image_shape: tuple[int, int, int]
    model_name: str
    dataset: str
    indices: list[int]


def make_problem(case: BenchCase, *, model_name: str = "resnet20-4", dataset: str = "cifar10-sample",
                 first_index: int = 0, seed: int = 0) -> Problem:
    """The case's client: the first ``num_images`` images from ``first_index``, an untrained model."""
    from .data import load_dataset, make_batch
    from .fl import fedavg_update, fedsgd_update
    from .models import build

    ds = load_dataset(dataset)
    indices = list(range(first_index, first_index + case.num_images))
    batch = make_batch(ds, case.num_images, indices=indices)
    model = build(model_name, num_classes=ds.num_classes, seed=seed).eval()
    if case.local_steps:
        obs = fedavg_update(model, batch.images, batch.labels, epochs=case.local_steps,
                            batch_size=case.num_images, lr=case.local_lr)
    else:
        obs = fedsgd_update(model, batch.images, batch.labels)
    return Problem(case, model, obs, batch.images, batch.labels, batch.normalization, tuple(ds.image_shape),
                   model_name, dataset, indices)


def psnr_of(problem: Problem, images: Tensor) -> float:
    """Aligned mean PSNR (dB) of normalised reconstructions against the client's images."""
    from .metrics import batch_metrics

    recon01 = problem.normalization.denormalize(images.detach().cpu().float()).clamp(0, 1)
    true01 = problem.normalization.denormalize(problem.images).clamp(0, 1)
    return float(batch_metrics(recon01, true01, problem.labels, problem.labels)["psnr"])


@dataclass
class RunRecord:
    """One attack run: its budget, wall time, final PSNR and the PSNR along the way."""

    library: str
    budget: str  # "iterations" or "time"
    iterations: int
    seconds: float
    psnr: float
    seed: int
    curve: list[list[float]] = field(default_factory=list)  # (seconds, iteration, psnr)
    time_budget: float | None = None

    @property
    def seconds_per_iteration(self) -> float:
        return self.seconds / max(self.iterations, 1)


def _curve(problem: Problem, snaps: list[tuple[float, int, Tensor]]) -> list[list[float]]:
    return [[t, it, psnr_of(problem, x)] for t, it, x in snaps]


# ---------------------------------------------------------------- leaklib

def _supports_monitoring() -> bool:
    """Whether this leaklib's ``invert`` takes ``monitor`` and its config a ``time_budget``."""
    import dataclasses
    import inspect

    from .attack import AttackConfig, invert

    fields = {f.name for f in dataclasses.fields(AttackConfig)}
    return "monitor" in inspect.signature(invert).parameters and "time_budget" in fields


def leaklib_config(problem: Problem, iterations: int, time_budget: float = 0.0, method: str = DEFAULT_METHOD) -> Any:
    """leaklib's preset ``method`` for the case (``AttackConfig.preset``, nothing else changed)."""
    from .attack import AttackConfig

    extra = {"time_budget": time_budget} if time_budget else {}
    return AttackConfig.preset(method, iterations=iterations, restarts=problem.case.restarts, **extra)


def run_leaklib(problem: Problem, iterations: int, *, seed: int = 0, time_budget: float = 0.0,
                every: int = 10, method: str = DEFAULT_METHOD) -> RunRecord:
    """leaklib's attack on ``problem``; with ``time_budget`` it stops (and schedules) by wall time.

    On a leaklib without ``monitor``/``time_budget`` only the final reconstruction is recorded, and a
    time budget is turned into the iteration count that fits it at ``seconds_per_iteration`` (the caller
    passes ``iterations`` so).
    """
    from .attack import invert

    monitored = _supports_monitoring()
    config = leaklib_config(problem, iterations, time_budget if monitored else 0.0, method)
    snaps: list[tuple[float, int, Tensor]] = []
    t0 = time.perf_counter()

    def monitor(iteration: int, losses: Tensor, images: Tensor) -> None:
        best = int(torch.nan_to_num(losses, nan=float("inf")).argmin())
        snaps.append((time.perf_counter() - t0, iteration, images[best].clone()))

    extra = {"monitor": monitor, "monitor_every": every} if monitored else {}
    result = invert(problem.model, problem.observation, problem.labels, config, image_shape=problem.image_shape,
                    normalization=problem.normalization, device="cpu", seed=seed, progress=False, **extra)
    seconds = time.perf_counter() - t0
    snaps.append((seconds, result.iterations, result.images))
    curve = _curve(problem, snaps)
    return RunRecord("leaklib", "time" if time_budget else "iterations", result.iterations, seconds, curve[-1][2],
                     seed, curve, time_budget or None)


def leaklib_iteration_flops(problem: Problem) -> float:
    """FLOPs of one restart's iteration: counted runs of 2 and 1 iterations, differenced.

    One restart, as for breaching: the caller multiplies by the restarts. (Counting the batched run
    itself would count the restarts twice, and vmap's batched convolutions are miscounted besides.)
    """
    from torch.utils.flop_counter import FlopCounterMode

    from .attack import invert

    counts = []
    for its in (1, 2):
        config = leaklib_config(problem, its).replace(restarts=1)
        with FlopCounterMode(display=False) as counter:
            invert(problem.model, problem.observation, problem.labels, config, image_shape=problem.image_shape,
                   normalization=problem.normalization, device="cpu", progress=False)
        counts.append(counter.get_total_flops())
    return float(counts[1] - counts[0])


# ---------------------------------------------------------------- breaching

def breaching_available() -> str | None:
    """breaching's version if it can be imported, else None (the benchmark then runs leaklib alone)."""
    if importlib.util.find_spec("breaching") is None:
        return None
    try:
        with _quiet():
            importlib.import_module("breaching")
    except Exception:  # an install that cannot be imported is as good as none
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("breaching")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet():
    """Silence breaching's prints, hydra's deprecation notes and its log lines."""
    logger = logging.getLogger("breaching")
    level = logger.level
    logger.setLevel(logging.WARNING)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)


class BreachingRunner:
    """breaching's ``invertinggradients`` attack on a :class:`Problem`, without any download.

    breaching's model of the same name gets leaklib's weights and buffers (same parameter order; the
    outputs are compared on the client's batch); the server payload and the user's shared data are built
    directly from the problem, so neither a dataset nor LPIPS weights are fetched.
    """

    def __init__(self, problem: Problem):
        with _quiet():
            import breaching
            from breaching.cases.models.model_preparation import construct_model
            from omegaconf import OmegaConf
        self.problem, self.breaching = problem, breaching
        norm = problem.normalization
        c, h, w = problem.image_shape
        self.cfg_data = OmegaConf.create({
            "name": problem.dataset, "modality": "vision", "task": "classification",
            "classes": int(problem.model.num_classes), "shape": [c, h, w], "normalize": True,
            "mean": list(norm.mean), "std": list(norm.std)})
        with _quiet():
            model, self.loss_fn = construct_model(problem.model_name, self.cfg_data, pretrained=False)
        self.model = copy_weights(problem.model, model)
        names = [n for n, _ in problem.model.named_parameters()]
        self.update = [problem.observation.tensors[n].detach().clone() for n in names]

    def config(self, iterations: int, restarts: int) -> Any:
        with _quiet():
            return self.breaching.get_attack_config("invertinggradients", overrides=[
                f"optim.max_iterations={iterations}", f"restarts.num_trials={restarts}",
                f"optim.callback={max(iterations, 1)}"])

    def _payload(self) -> tuple[list[dict], list[dict]]:
        p, case = self.problem, self.problem.case
        hyper = None
        if case.local_steps:
            hyper = {"lr": case.local_lr, "steps": case.local_steps, "data_per_step": case.num_images,
                     "labels": [p.labels.clone() for _ in range(case.local_steps)]}
        payload = [{"parameters": [q.detach() for q in self.model.parameters()],
                    "buffers": [b.detach() for b in self.model.buffers()], "metadata": self.cfg_data}]
        shared = [{"gradients": [g.clone() for g in self.update], "buffers": None,
                   "metadata": {"num_data_points": case.num_images, "labels": p.labels.clone(),
                                "local_hyperparams": hyper}}]
        return payload, shared

    def _attacker(self, iterations: int, restarts: int, snaps: list | None, every: int, t0: list[float]) -> Any:
        from breaching.attacks.optimization_based_attack import OptimizationBasedAttacker

        class Recording(OptimizationBasedAttacker):
            """breaching's attacker, copying the candidate every ``every`` iterations (first trial only)."""

            def _compute_objective(self, candidate, labels, rec_model, optimizer, shared_data, iteration):
                if snaps is not None and restarts == 1 and iteration % every == 0:
                    snaps.append((time.perf_counter() - t0[0], iteration, candidate.detach().clone()))
                return super()._compute_objective(candidate, labels, rec_model, optimizer, shared_data, iteration)

        setup = {"device": torch.device("cpu"), "dtype": torch.float}
        with _quiet():
            return Recording(self.model, self.loss_fn, self.config(iterations, restarts), setup)

    def run(self, iterations: int, *, seed: int = 0, every: int = 10) -> RunRecord:
        """breaching's attack for ``iterations`` per restart; the torch RNG (its init) seeded with ``seed``."""
        restarts = self.problem.case.restarts
        snaps: list[tuple[float, int, Tensor]] = []
        t0 = [0.0]
        attacker = self._attacker(iterations, restarts, snaps, every, t0)
        payload, shared = self._payload()
        torch.manual_seed(seed)
        with _quiet():
            t0[0] = time.perf_counter()
            out, _ = attacker.reconstruct(payload, shared, {}, dryrun=False)
            seconds = time.perf_counter() - t0[0]
        snaps.append((seconds, iterations, out["data"]))
        curve = _curve(self.problem, snaps)
        return RunRecord("breaching", "iterations", iterations * restarts, seconds, curve[-1][2], seed, curve)

    def iteration_flops(self) -> float:
        """FLOPs of one breaching iteration (counted runs of 2 and 1 iterations, differenced)."""
        from torch.utils.flop_counter import FlopCounterMode

        counts = []
        for its in (1, 2):
            attacker = self._attacker(its, 1, None, 1, [0.0])
            payload, shared = self._payload()
            with FlopCounterMode(display=False) as counter, _quiet():
                attacker.reconstruct(payload, shared, {}, dryrun=False)
            counts.append(counter.get_total_flops())
        return float(counts[1] - counts[0])


def copy_weights(source: nn.Module, target: nn.Module, *, atol: float = 1e-5) -> nn.Module:
    """Copy ``source``'s parameters and buffers into ``target`` by position; check equal outputs."""
    sp, tp = list(source.parameters()), list(target.parameters())
    sb, tb = list(source.buffers()), list(target.buffers())
    shapes = [(a.shape, b.shape) for a, b in zip(sp + sb, tp + tb)]
    if len(sp) != len(tp) or len(sb) != len(tb) or any(a != b for a, b in shapes):
        raise LeaklibError(f"breaching's model does not match leaklib's parameter for parameter "
                           f"({len(sp)}/{len(sb)} vs {len(tp)}/{len(tb)} parameters/buffers); benchmark another model")
    with torch.no_grad():
        for a, b in zip(sp + sb, tp + tb):
            b.copy_(a)
    target.eval()
    source_mode = source.training
    source.eval()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gap = float((source(x) - target(x)).abs().max())
    source.train(source_mode)
    if not gap <= atol:
        raise LeaklibError(f"breaching's model differs from leaklib's after copying the weights (max output "
                           f"difference {gap:.2e}); the architectures are not the same")
    return target


# ---------------------------------------------------------------- where an iteration's time goes

PHASES = ("forward", "backward", "objective", "double backward", "optimiser")


def profile_iteration(problem: Problem, *, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Median seconds of each phase of one FedSGD iteration, written out step by step.

    The same computation as leaklib's iteration for one restart (cross-entropy forward; parameter
    gradient with its graph kept; closed-form gradient of the cosine distance in that gradient; one
    backward of it into the images; a signed-Adam step), timed phase by phase with plain autograd.
    """
    import torch.nn.functional as F

    from .attack import pixel_box
    from .attack.objectives import MatchTarget, distance_and_grad, flatten
    from .attack.optimizers import make_optimizer

    names = [n for n, _ in problem.model.named_parameters()]
    params = [p for _, p in problem.model.named_parameters()]
    target = MatchTarget.of(flatten(problem.observation.tensors, names))
    lower, upper = pixel_box(problem.normalization, problem.image_shape[0])
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((1, problem.case.num_images, *problem.image_shape), generator=gen).clamp(lower, upper)
    optimizer = make_optimizer("signed-adam", [x])
    times: dict[str, list[float]] = {k: [] for k in PHASES}
    problem.model.eval()
    for _ in range(repeats + 1):  # the first round warms up
        marks = [time.perf_counter()]
        xr = x.detach().requires_grad_(True)
        loss = F.cross_entropy(problem.model(xr[0]), problem.labels)
        marks.append(time.perf_counter())
        grads = torch.autograd.grad(loss, params, create_graph=True)
        marks.append(time.perf_counter())
        flat = torch.cat([g.reshape(1, -1) for g in grads], dim=1)
        _, dflat, scale = distance_and_grad("cosine", flat.detach(), target)
        marks.append(time.perf_counter())
        (gx,) = torch.autograd.grad(flat, xr, grad_outputs=dflat)
        gx = gx * scale
        marks.append(time.perf_counter())
        x = optimizer.step([x], [gx], loss.detach()[None], 0.1)[0].clamp(lower, upper)
        marks.append(time.perf_counter())
        for k, a, b in zip(PHASES, marks, marks[1:]):
            times[k].append(b - a)
    med = {k: statistics.median(v[1:]) for k, v in times.items()}
    total = sum(med.values())
    return {"seconds": med, "total": total, "share": {k: v / total for k, v in med.items()}}


# ---------------------------------------------------------------- the benchmark

def run_case(case: BenchCase, iterations: Sequence[int], *, repeats: int = 3, every: int = 10, seed: int = 0,
             model_name: str = "resnet20-4", use_breaching: bool = True, peak_gflops: float | None = None,
             method: str = DEFAULT_METHOD, log: Callable[[str], None] = print) -> dict[str, Any]:
    """All runs of one case, repeats interleaved between the libraries; returns the case's record."""
    iterations = sorted({check_positive("iterations", int(i)) for i in iterations})
    problem = make_problem(case, model_name=model_name, seed=seed)
    runner = BreachingRunner(problem) if use_breaching else None
    flops = {"leaklib": leaklib_iteration_flops(problem) * case.restarts}
    if runner is not None:
        try:
            flops["breaching"] = runner.iteration_flops() * case.restarts
        except RuntimeError as e:  # torch's FlopCounterMode cannot follow breaching's multi-step autograd.grad
            log(f"  {case.name}: breaching's FLOPs not counted, its throughput is left out: {str(e).splitlines()[0]}")
    runs: list[RunRecord] = []
    for rep in range(repeats):
        s = seed + rep
        b_time: float | None = None
        for its in iterations:
            if runner is not None:
                rec = runner.run(its, seed=s, every=every)
                runs.append(rec)
                log(f"  {case.name} rep {rep}: breaching {its} it {rec.seconds:.1f} s, PSNR {rec.psnr:.2f}")
                if its == iterations[0]:
                    b_time = rec.seconds
            rec = run_leaklib(problem, its, seed=s, every=every, method=method)
            runs.append(rec)
            log(f"  {case.name} rep {rep}: leaklib {its} it {rec.seconds:.1f} s, PSNR {rec.psnr:.2f}")
        if b_time is not None:
            its = max(iterations) * 100
            if not _supports_monitoring():  # the iterations that fit at this repeat's measured speed
                its = max(1, int(b_time / next(r for r in reversed(runs) if r.library == "leaklib"
                                               and r.iterations == iterations[0]).seconds_per_iteration))
            rec = run_leaklib(problem, its, seed=s, time_budget=b_time, every=every, method=method)
            runs.append(rec)
            log(f"  {case.name} rep {rep}: leaklib {b_time:.1f} s budget, {rec.iterations} it, PSNR {rec.psnr:.2f}")
    return {"case": asdict(case), "iterations": iterations, "flops_per_iteration": flops,
            "summary": summarize_case(runs, iterations, flops, peak_gflops, case.restarts),
            "runs": [asdict(r) for r in runs]}


def summarize_case(runs: Sequence[RunRecord], iterations: Sequence[int], flops: dict[str, float],
                   peak_gflops: float | None, restarts: int = 1) -> dict[str, Any]:
    """Medians and spreads per library and the leaklib/breaching ratios of one case."""
    libs = ("leaklib", "breaching")
    out: dict[str, Any] = {}
    by = {(r.library, r.budget, r.iterations if r.budget == "iterations" else None): [] for r in runs}
    for r in runs:
        by[(r.library, r.budget, r.iterations if r.budget == "iterations" else None)].append(r)

    def equal_its(lib: str, its: int) -> list[RunRecord]:
        return by.get((lib, "iterations", its * (restarts if lib == "breaching" else 1)), [])

    spi = {lib: summarize([r.seconds / its for its in iterations for r in equal_its(lib, its)]) for lib in libs}
    out["seconds_per_iteration"] = {**spi, "ratio": ratio(spi["leaklib"]["median"], spi["breaching"]["median"])}
    gf = {lib: (flops[lib] / 1e9 / spi[lib]["median"]) if lib in flops and spi[lib]["median"] else None
          for lib in libs}
    out["gflops"] = {"per_iteration": {lib: flops.get(lib, 0) / 1e9 or None for lib in libs}, **gf,
                     "ratio": ratio(gf["leaklib"], gf["breaching"])}
    out["fraction_of_peak"] = {lib: ratio(gf[lib], peak_gflops) for lib in libs}
    out["psnr_equal_iterations"] = {}
    for its in iterations:
        p = {lib: summarize([r.psnr for r in equal_its(lib, its)]) for lib in libs}
        out["psnr_equal_iterations"][str(its)] = {
            **p, "ratio": ratio(p["leaklib"]["median"], p["breaching"]["median"]),
            "difference_db": difference(p["leaklib"]["median"], p["breaching"]["median"])}
    timed = by.get(("leaklib", "time", None), [])
    b_small = equal_its("breaching", iterations[0])
    p = {"leaklib": summarize([r.psnr for r in timed]), "breaching": summarize([r.psnr for r in b_small])}
    out["psnr_equal_time"] = {
        **p, "seconds": summarize([r.seconds for r in b_small]),
        "leaklib_iterations": summarize([r.iterations for r in timed]),
        "ratio": ratio(p["leaklib"]["median"], p["breaching"]["median"]),
        "difference_db": difference(p["leaklib"]["median"], p["breaching"]["median"])}
    # time to reach breaching's final PSNR at the largest budget, per repeat (same seed pairs)
    top = max(iterations)
    reach: dict[str, list[float | None]] = {lib: [] for lib in libs}
    for b in equal_its("breaching", top):
        for lib in libs:
            cands = [r for r in equal_its(lib, top) if r.seed == b.seed]
            reach[lib].append(time_to_reach(cands[0].curve, b.psnr) if cands else None)
    t = {lib: summarize(reach[lib]) for lib in libs}
    reached = sum(v is not None for v in reach["leaklib"])
    out["time_to_breaching_final_psnr"] = {
        **t, "target_psnr": summarize([b.psnr for b in equal_its("breaching", top)]), "iterations": top,
        "leaklib_reached": f"{reached}/{len(reach['leaklib'])}",
        "ratio": ratio(t["leaklib"]["median"], t["breaching"]["median"])}
    return out


def run_benchmark(cases: Sequence[str], iterations: dict[str, Sequence[int]], *, repeats: int = 3,
                  every: int = 10, seed: int = 0, model_name: str = "resnet20-4", use_breaching: bool = True,
                  threads: int | None = None, profile_repeats: int = 5, method: str = DEFAULT_METHOD,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every case in ``cases`` (names of :data:`CASES`); the whole record for ``bench.json``."""
    from .runtime import provenance

    for name in cases:
        if name not in CASES:
            raise LeaklibError(f"unknown benchmark case {name!r}; valid cases: {', '.join(CASES)}")
    from .attack import METHODS

    check_choice("method", method, METHODS)
    check_positive("repeats", repeats)
    check_positive("every", every)
    if threads is not None:
        torch.set_num_threads(check_positive("threads", threads))
    version = breaching_available() if use_breaching else None
    if use_breaching and version is None:
        log("breaching is not importable (pip install breaching==0.1.2): reporting leaklib alone")
    peak = matmul_peak()
    log(f"matmul peak ({peak['size']}x{peak['size']} float32): {peak['best_gflops']:.1f} GFLOP/s "
        f"(median {peak['median_gflops']:.1f}), {torch.get_num_threads()} threads")
    record: dict[str, Any] = {"breaching": version, "peak": peak, "repeats": repeats, "every": every,
                              "model": model_name, "method": method, "cases": {}}
    record["profile"] = profile_iteration(make_problem(CASES["single"], model_name=model_name, seed=seed),
                                          repeats=profile_repeats)
    for name in cases:
        log(f"case {name}: iterations {list(iterations[name])}")
        record["cases"][name] = run_case(CASES[name], iterations[name], repeats=repeats, every=every, seed=seed,
                                         model_name=model_name, use_breaching=version is not None,
                                         peak_gflops=peak["best_gflops"], method=method, log=log)
    peak_end = matmul_peak()
    record["peak_end"] = peak_end
    record["provenance"] = provenance("cpu", seed)
    return record


# ---------------------------------------------------------------- the table

def _fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def _cell(s: dict[str, Any], spec: str = ".3g") -> str:
    if s is None or s.get("median") is None:
        return "-"
    if s["n"] > 1:
        return f"{_fmt(s['median'], spec)} [{_fmt(s['min'], spec)}-{_fmt(s['max'], spec)}]"
    return _fmt(s["median"], spec)


def table(record: dict[str, Any]) -> str:
    """The benchmark as a plain-text table: medians [min-max] over repeats, and leaklib/breaching."""
    rows = [("case", "metric", "leaklib", "breaching", "leaklib/breaching")]
    for name, case in record["cases"].items():
        s = case["summary"]
        spi = s["seconds_per_iteration"]
        rows.append((name, "s / iteration", _cell(spi["leaklib"]), _cell(spi["breaching"]), _fmt(spi["ratio"])))
        g = s["gflops"]
        rows.append((name, "GFLOP / iteration", _fmt(g["per_iteration"]["leaklib"]),
                     _fmt(g["per_iteration"]["breaching"]), ""))
        rows.append((name, "GFLOP/s", _fmt(g["leaklib"]), _fmt(g["breaching"]), _fmt(g["ratio"])))
        f = s["fraction_of_peak"]
        rows.append((name, "fraction of matmul peak", _fmt(f["leaklib"], ".0%"), _fmt(f["breaching"], ".0%"),
                     _fmt(ratio(f["leaklib"], f["breaching"]))))
        for its, p in s["psnr_equal_iterations"].items():
            rows.append((name, f"PSNR dB @ {its} it", _cell(p["leaklib"], ".2f"), _cell(p["breaching"], ".2f"),
                         f"{_fmt(p['ratio'])} ({_fmt(p['difference_db'], '+.2f')} dB)"))
        p = s["psnr_equal_time"]
        secs = p["seconds"]["median"]
        rows.append((name, f"PSNR dB @ {_fmt(secs, '.0f')} s", _cell(p["leaklib"], ".2f"),
                     _cell(p["breaching"], ".2f"), f"{_fmt(p['ratio'])} ({_fmt(p['difference_db'], '+.2f')} dB)"))
        t = s["time_to_breaching_final_psnr"]
        rows.append((name, f"s to {_fmt(t['target_psnr']['median'], '.2f')} dB", _cell(t["leaklib"]),
                     _cell(t["breaching"]), f"{_fmt(t['ratio'])} (reached {t['leaklib_reached']})"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    peak = record["peak"]
    head = (f"matmul peak {peak['best_gflops']:.1f} GFLOP/s; breaching "
            f"{record['breaching'] or 'not importable: leaklib alone'}; medians [min-max] over "
            f"{record['repeats']} repeats")
    text = head + "\n" + "\n".join(lines)
    prof = record.get("profile")
    if prof:
        parts = ", ".join(f"{k} {prof['seconds'][k] * 1e3:.0f} ms ({prof['share'][k]:.0%})" for k in PHASES)
        text += f"\none single-image iteration, phase by phase: {parts}; total {prof['total'] * 1e3:.0f} ms"
    return text
