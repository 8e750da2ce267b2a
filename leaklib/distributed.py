"""A sweep's trials on many workers or GPUs, with Ray (the ``distributed`` extra: ``pip install -e ".[distributed]"``).

A paper-profile notebook is hundreds of independent attacks. :func:`run_trials` sends each pending trial to a
Ray task (one trial per worker; a worker with a GPU when the cluster has them) and hands every finished result
back as it arrives, so :func:`leaklib.runs.run_sweep` writes its record at once: a killed worker loses only the
trial it was running, and the next run of the sweep resumes with that one. ``workers`` is a number (a local
Ray instance with that many worker processes, on this machine's CPUs) or the address of a running cluster
(``"auto"``, ``"ray://head:10001"``). Every task runs with the driver's torch thread count, so the same seed
gives the same numbers as the in-process sweep on the same machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from .errors import LeaklibError

WORKERS_ENV = "LEAKLIB_WORKERS"  # what `leaklib notebooks --workers` sets for the notebooks' sweeps


def workers_from_env() -> int | str | None:
    """``$LEAKLIB_WORKERS`` as a worker count or a cluster address; None (in-process) when unset or 0."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value or value == "0":
        return None
    return int(value) if value.isdigit() else value


def check_workers(workers: str) -> int | str:
    """``--workers``: a positive count or a cluster address, and Ray importable; a clear error otherwise."""
    _ray()
    text = str(workers).strip()
    if text.isdigit():
        if int(text) < 1:
            raise LeaklibError(f"--workers must be a positive number or a Ray cluster address, got {workers!r}")
        return int(text)
    if not text or text.lstrip("-").isdigit():
        raise LeaklibError(f"--workers must be a positive number or a Ray cluster address, got {workers!r}")
    return text


def _ray():
    try:
        import ray
    except ImportError:
        raise LeaklibError('distributed sweeps need Ray: pip install -e ".[distributed]" (or pip install ray); '
                           "without workers a sweep runs in-process") from None
    return ray


def connect(workers: int | str) -> Any:
    """Start a local Ray instance with ``workers`` CPUs, or join the cluster at that address; return ``ray``."""
    ray = _ray()
    if isinstance(workers, bool) or (isinstance(workers, int) and workers < 1):
        raise LeaklibError(f"workers must be a positive number or a Ray cluster address, got {workers!r}")
    if not ray.is_initialized():
        if isinstance(workers, int):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=workers, log_to_driver=False, configure_logging=False)
    return ray


def _run_one(fn: Callable[[dict[str, Any]], Any], params: dict[str, Any], threads: int,
             provenance: dict[str, Any] | None) -> tuple[Any, float, dict[str, Any]]:
    """On the worker: ``fn(params)`` with the driver's thread count; (result, seconds, provenance)."""
    import time

    import torch

    from .runtime import provenance as this_machine

    torch.set_num_threads(threads)
    start = time.perf_counter()
    result = fn(params)
    return result, time.perf_counter() - start, provenance or this_machine()


def run_trials(pending: Sequence[tuple[str, dict[str, Any]]], fn: Callable[[dict[str, Any]], Any],
               workers: int | str, on_result: Callable[[str, Any, float, dict[str, Any]], None],
               provenance: dict[str, Any] | None = None) -> None:
    """Run ``fn`` on every ``(key, params)`` of ``pending`` on Ray workers; call ``on_result(key, result,
    seconds, provenance)`` for each as it finishes (in finishing order). A trial whose worker dies or that
    raises is not retried; after the others have finished, one error names every lost trial."""
    import torch

    ray = connect(workers)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0  # one trial per GPU where there are GPUs
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_run_one)
    threads = torch.get_num_threads()
    futures = {task.remote(fn, params, threads, provenance): key for key, params in pending}
    lost: list[str] = []
    while futures:
        done, _ = ray.wait(list(futures), num_returns=1)
        key = futures.pop(done[0])
        try:
            result, seconds, prov = ray.get(done[0])
        except Exception as e:  # noqa: BLE001 - a worker crash or the trial's own error: name it, finish the rest
            lost.append(f"{key} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            continue
        on_result(key, result, seconds, prov)
    if lost:
        raise LeaklibError(f"{len(lost)} trial(s) did not finish on the workers: {'; '.join(lost)}. The other "
                           "trials are recorded; run the sweep again to run only these")
