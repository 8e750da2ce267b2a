"""``leaklib bench``: leaklib against breaching (Geiping et al.'s reference library) on the same problem.

For each case (:data:`~.problem.CASES`) and repeat the two libraries alternate, so that both see the same
machine load:

- one run per iteration budget for each library (equal iterations);
- one leaklib run with a wall-time budget equal to breaching's time for its smallest iteration budget
  (``AttackConfig.time_budget``: the step schedule follows the fraction of the time used).

GFLOP per iteration are counted with ``torch.utils.flop_counter.FlopCounterMode`` for each library (the
difference between runs of 2 and 1 iterations, on the CPU: the count does not depend on the device); the peak
is a timed 2048x2048 float32 matmul on the benchmark's device. On a GPU every timer is synchronised with the
device (:func:`leaklib.runtime.synchronize`), so a clock stops when the kernels are done, not when they are queued. The record
also holds one iteration's phase profile (phases.py); report.py turns it into medians, ratios and the table.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor

from ..errors import LeaklibError, check_choice, check_positive
from ..runtime import synchronize
from .breaching_adapter import BreachingRunner, breaching_available
from .phases import profile_iteration
from .problem import CASES, BenchCase, Problem, RunRecord, make_problem, psnr_curve
from .report import summarize_case

PEAK_SIZE = 2048
DEFAULT_METHOD = "ig-fast"  # leaklib's measured preset for short budgets (AttackConfig.preset)


def matmul_peak(size: int | None = None, repeats: int = 7, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Timed ``size x size`` (default :data:`PEAK_SIZE`) float32 matmuls on ``device``: median and best GFLOP/s.

    On CUDA the matmuls run at torch's float32 precision setting (``torch.get_float32_matmul_precision()``:
    ``highest`` is true float32, ``high`` allows TF32), which the record names.
    """
    size = size or PEAK_SIZE
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b  # warm up
    rates = []
    for _ in range(repeats):
        synchronize(device)
        t = time.perf_counter()
        a @ b
        synchronize(device)
        rates.append(2 * size**3 / (time.perf_counter() - t) / 1e9)
    return {"median_gflops": statistics.median(rates), "best_gflops": max(rates), "size": size,
            "device": str(device), "float32_matmul_precision": torch.get_float32_matmul_precision()}


def leaklib_config(problem: Problem, iterations: int, time_budget: float = 0.0, method: str = DEFAULT_METHOD) -> Any:
    """leaklib's preset ``method`` for the case (``AttackConfig.preset``, nothing else changed)."""
    from ..attack import AttackConfig

    extra = {"time_budget": time_budget} if time_budget else {}
    return AttackConfig.preset(method, iterations=iterations, restarts=problem.case.restarts, **extra)


def run_leaklib(problem: Problem, iterations: int, *, seed: int = 0, time_budget: float = 0.0,
                every: int = 10, method: str = DEFAULT_METHOD, device: torch.device | str = "cpu") -> RunRecord:
    """leaklib's attack on ``problem``; with ``time_budget`` it stops (and schedules) by wall time.

    The reconstruction recorded along the way is the restart with the lowest current objective (what
    leaklib would return if stopped there).
    """
    from ..attack import invert

    config = leaklib_config(problem, iterations, time_budget, method)
    snaps: list[tuple[float, int, Tensor]] = []
    t0 = time.perf_counter()

    def monitor(iteration: int, losses: Tensor, images: Tensor) -> None:
        best = int(torch.nan_to_num(losses, nan=float("inf")).argmin())  # reading a loss waits for the device
        snaps.append((time.perf_counter() - t0, iteration, images[best].clone()))

    synchronize(device)
    result = invert(problem.model, problem.observation, problem.labels, config, image_shape=problem.image_shape,
                    normalization=problem.normalization, device=device, seed=seed, progress=False,
                    monitor=monitor, monitor_every=every)
    synchronize(device)
    seconds = time.perf_counter() - t0
    snaps.append((seconds, result.iterations, result.images))
    curve = psnr_curve(problem, snaps)
    return RunRecord("leaklib", "time" if time_budget else "iterations", result.iterations, seconds, curve[-1][2],
                     seed, curve, time_budget or None)


def leaklib_iteration_flops(problem: Problem) -> float:
    """FLOPs of one restart's iteration: counted runs of 2 and 1 iterations, differenced.

    One restart, as for breaching: the caller multiplies by the restarts. (Counting the batched run
    itself would count the restarts twice, and vmap's batched convolutions are miscounted besides.)
    """
    from torch.utils.flop_counter import FlopCounterMode

    from ..attack import invert

    counts = []
    for its in (1, 2):
        config = leaklib_config(problem, its).replace(restarts=1)
        with FlopCounterMode(display=False) as counter:
            invert(problem.model, problem.observation, problem.labels, config, image_shape=problem.image_shape,
                   normalization=problem.normalization, device="cpu", progress=False)
        counts.append(counter.get_total_flops())
    return float(counts[1] - counts[0])


def run_case(case: BenchCase, iterations: Sequence[int], *, repeats: int = 3, every: int = 10, seed: int = 0,
             model_name: str = "resnet20-4", use_breaching: bool = True, peak_gflops: float | None = None,
             method: str = DEFAULT_METHOD, device: torch.device | str = "cpu",
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """All runs of one case on ``device``, repeats interleaved between the libraries; the case's record."""
    iterations = sorted({check_positive("iterations", int(i)) for i in iterations})
    problem = make_problem(case, model_name=model_name, seed=seed)
    breaching_runner = BreachingRunner(problem, device) if use_breaching else None
    flops = {"leaklib": leaklib_iteration_flops(problem) * case.restarts}
    if breaching_runner is not None:
        try:
            flops["breaching"] = breaching_runner.iteration_flops() * case.restarts
        except RuntimeError as e:  # torch's FlopCounterMode cannot follow breaching's multi-step autograd.grad
            log(f"  {case.name}: breaching's FLOPs not counted, its throughput is left out: {str(e).splitlines()[0]}")
    runs: list[RunRecord] = []
    for rep in range(repeats):
        run_seed = seed + rep
        breaching_seconds: float | None = None  # breaching's time at the smallest budget
        for its in iterations:
            if breaching_runner is not None:
                rec = breaching_runner.run(its, seed=run_seed, every=every)
                runs.append(rec)
                log(f"  {case.name} rep {rep}: breaching {its} it {rec.seconds:.1f} s, PSNR {rec.psnr:.2f}")
                if its == iterations[0]:
                    breaching_seconds = rec.seconds
            rec = run_leaklib(problem, its, seed=run_seed, every=every, method=method, device=device)
            runs.append(rec)
            log(f"  {case.name} rep {rep}: leaklib {its} it {rec.seconds:.1f} s, PSNR {rec.psnr:.2f}")
        if breaching_seconds is not None:  # leaklib's run on breaching's time
            its = max(iterations) * 100  # the time budget, not the iterations, ends this run
            rec = run_leaklib(problem, its, seed=run_seed, time_budget=breaching_seconds, every=every,
                              method=method, device=device)
            runs.append(rec)
            log(f"  {case.name} rep {rep}: leaklib {breaching_seconds:.1f} s budget, {rec.iterations} it, PSNR {rec.psnr:.2f}")
    return {"case": asdict(case), "iterations": iterations, "flops_per_iteration": flops,
            "summary": summarize_case(runs, iterations, flops, peak_gflops, case.restarts),
            "runs": [asdict(r) for r in runs]}


def run_benchmark(cases: Sequence[str], iterations: dict[str, Sequence[int]], *, repeats: int = 3,
                  every: int = 10, seed: int = 0, model_name: str = "resnet20-4", use_breaching: bool = True,
                  threads: int | None = None, profile_repeats: int = 5, method: str = DEFAULT_METHOD,
                  device: torch.device | str = "cpu", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every case in ``cases`` (names of :data:`CASES`) on ``device`` (``auto``, ``cpu``, ``cuda``); the whole
    record for ``bench.json``."""
    from ..runtime import provenance, resolve_device

    device = resolve_device(device)  # "cuda" without a GPU fails here, before anything runs

    for name in cases:
        if name not in CASES:
            raise LeaklibError(f"unknown benchmark case {name!r}; valid cases: {', '.join(CASES)}")
    from ..attack import METHODS

    check_choice("method", method, METHODS)
    check_positive("repeats", repeats)
    check_positive("every", every)
    if threads is not None:
        torch.set_num_threads(check_positive("threads", threads))
    version = breaching_available() if use_breaching else None
    if use_breaching and version is None:
        log("breaching is not importable (pip install breaching==0.1.2): reporting leaklib alone")
    peak = matmul_peak(device=device)
    where = (torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads")
    log(f"matmul peak on {device} ({peak['size']}x{peak['size']} float32): {peak['best_gflops']:.1f} GFLOP/s "
        f"(median {peak['median_gflops']:.1f}), {where}")
    record: dict[str, Any] = {"breaching": version, "peak": peak, "repeats": repeats, "every": every,
                              "model": model_name, "method": method, "device": str(device), "cases": {}}
    record["profile"] = profile_iteration(make_problem(CASES["single"], model_name=model_name, seed=seed),
                                          repeats=profile_repeats, device=device)
    for name in cases:
        log(f"case {name}: iterations {list(iterations[name])}")
        record["cases"][name] = run_case(CASES[name], iterations[name], repeats=repeats, every=every, seed=seed,
                                         model_name=model_name, use_breaching=version is not None,
                                         peak_gflops=peak["best_gflops"], method=method, device=device, log=log)
    record["peak_end"] = matmul_peak(device=device)
    record["provenance"] = provenance(device, seed)
    return record
