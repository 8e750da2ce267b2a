"""What a GPU gives, in one command (``leaklib gpu-check``, ``./run_all.sh --gpu-check``): one JSON.

Three parts, each recorded with its wall time:

1. the CUDA tests (``pytest -m cuda``: the attack, FedAvg's unroll and the benchmark on the GPU against the CPU);
2. one attack with Inverting Gradients' published recipe (``ig``: 24,000 iterations, 8 restarts, Sec. 4) on an
   untrained ResNet20-4 and CIFAR-10 test image 0 (the first image of the offline sample, so no download is
   needed): its seconds, seconds per iteration, peak GPU memory, PSNR and SSIM;
3. ``leaklib bench`` on the device (timers synchronised with it, its own matmul peak).

A part that fails is recorded with its error and the others still run. On one H100/H200 the whole check is
meant to take under 10 minutes; the attack checkpoints its restarts, so an interrupted check resumes it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import check_positive

PAPER_ATTACK = {"model": "resnet20-4", "dataset": "cifar10-sample", "image": 0, "recipe": "ig",
                "iterations": 24_000, "restarts": 8}
"""IG Sec. 4's recipe on one image: what ``leaklib gpu-check`` times."""

BENCH_CASES = {"single": (500, 2000), "restarts8": (500,)}


def cuda_tests(tests_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the tests marked ``cuda`` in a child pytest; their counts from its JUnit report."""
    tests_dir = Path(tests_dir) if tests_dir else Path(__file__).resolve().parent.parent / "tests"
    if not tests_dir.is_dir():
        return {"status": "skipped", "why": f"no test folder at {tests_dir} (leaklib installed without its tests)"}
    with tempfile.TemporaryDirectory(prefix="leaklib-cuda-tests-") as tmp:
        report = Path(tmp) / "junit.xml"
        done = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
                               f"--junitxml={report}", str(tests_dir)], capture_output=True, text=True,
                              cwd=tests_dir.parent)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if report.is_file():
            suite = ET.parse(report).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            counts = {k: int(suite.get(k, 0)) for k in counts}
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    ok = done.returncode == 0 and passed > 0
    return {"status": "passed" if ok else "failed", "returncode": done.returncode, "passed": passed, **counts,
            "output_tail": done.stdout[-3000:]}


def paper_attack(device: torch.device | str, out: Path, *, iterations: int = PAPER_ATTACK["iterations"],
                 restarts: int = PAPER_ATTACK["restarts"], progress: bool = True) -> dict[str, Any]:
    """IG's published recipe on ResNet20-4 and CIFAR-10 image 0 (:data:`PAPER_ATTACK`); checkpointed in ``out``."""
    from .attack import AttackConfig
    from .experiments import Experiment, run_experiment

    device = torch.device(device)
    exp = Experiment(dataset=PAPER_ATTACK["dataset"], model=PAPER_ATTACK["model"], indices=(PAPER_ATTACK["image"],))
    config = AttackConfig.preset(PAPER_ATTACK["recipe"], iterations=iterations, restarts=restarts,
                                 checkpoint_every=max(iterations // 20, 1))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    res = run_experiment(exp, config, device=device, progress=progress,
                         checkpoint_path=out / f"paper_attack-{iterations}x{restarts}.ckpt")
    rec = res.record
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"status": "passed", **{k: v for k, v in PAPER_ATTACK.items() if k not in ("iterations", "restarts")},
            "iterations": rec["iterations"], "restarts": restarts, "seconds": rec["seconds"],
            "seconds_per_iteration": rec["seconds"] / max(rec["iterations"], 1), "peak_memory_gib": memory,
            "psnr": rec["psnr"], "ssim": rec["ssim"], "above_bar": rec["per_image_bar"][0],
            "resumed_from": rec["attack"].get("extra", {}).get("resumed_from", 0)}


def _timed(name: str, part: Callable[[], dict[str, Any]], log: Callable[[str], None]) -> dict[str, Any]:
    """Run one part; a failure is recorded (with its error) instead of stopping the check."""
    log(f"[gpu-check] {name} ...")
    start = time.perf_counter()
    try:
        result = part()
    except Exception as e:  # one broken part must not hide the others' numbers
        result = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    result["wall_seconds"] = time.perf_counter() - start
    log(f"[gpu-check] {name}: {result['status']} in {result['wall_seconds']:.0f} s")
    return result


def gpu_check(out: str | Path, device: str = "cuda", *, iterations: int = PAPER_ATTACK["iterations"],
              restarts: int = PAPER_ATTACK["restarts"], bench_cases: dict[str, Sequence[int]] | None = None,
              bench_repeats: int = 1, bench_model: str = "resnet20-4", run_tests: bool = True,
              tests_dir: str | Path | None = None, progress: bool = True,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """The CUDA tests, the paper attack and the bench on ``device``; writes and returns ``out/gpu_check.json``.

    ``device="cuda"`` without a GPU stops here with one error, before anything runs. The smaller budgets
    (``iterations``, ``restarts``, ``bench_cases``) are for trying the check itself on a CPU.
    """
    from .benchmarks.report import table
    from .benchmarks.runner import run_benchmark
    from .io import ensure_writable_dir, write_json
    from .runtime import provenance, resolve_device

    device = resolve_device(device)
    check_positive("iterations", iterations)
    check_positive("restarts", restarts)
    out = Path(ensure_writable_dir(out))
    cases = dict(bench_cases or BENCH_CASES)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    log(f"[gpu-check] device {device} ({name}); writing {out / 'gpu_check.json'}")
    start = time.perf_counter()
    record: dict[str, Any] = {"device": str(device), "device_name": name}
    record["cuda_tests"] = (_timed("CUDA tests (pytest -m cuda)", lambda: cuda_tests(tests_dir), log) if run_tests
                            else {"status": "skipped", "why": "run_tests=False"})
    record["paper_attack"] = _timed(
        f"paper attack ({iterations} iterations x {restarts} restarts, {PAPER_ATTACK['model']}, image 0)",
        lambda: paper_attack(device, out, iterations=iterations, restarts=restarts, progress=progress), log)

    def bench() -> dict[str, Any]:
        rec = run_benchmark(list(cases), cases, repeats=bench_repeats, model_name=bench_model, device=device,
                            log=log)
        return {"status": "passed", "table": table(rec), "record": rec}

    record["bench"] = _timed(f"bench (cases {', '.join(cases)})", bench, log)
    record["total_seconds"] = time.perf_counter() - start
    record["passed"] = all(record[k]["status"] in ("passed", "skipped") for k in ("cuda_tests", "paper_attack", "bench"))
    record["provenance"] = provenance(device, 0)
    write_json(out / "gpu_check.json", record)
    attack = record["paper_attack"]
    if attack["status"] == "passed":
        log(f"[gpu-check] paper attack: {attack['seconds']:.0f} s ({attack['seconds_per_iteration'] * 1e3:.1f} ms "
            f"per iteration), PSNR {attack['psnr']:.2f} dB, SSIM {attack['ssim']:.3f}")
    if record["bench"]["status"] == "passed":
        log(record["bench"]["table"])
    log(f"[gpu-check] {'all parts passed' if record['passed'] else 'FAILED parts above'}; "
        f"{record['total_seconds'] / 60:.1f} min; -> {out / 'gpu_check.json'}")
    return record
