"""``leaklib bench``: leaklib against breaching on the same model, update and images, in one run.

Example (the full table of docs/BENCHMARK.md; breaching is used when importable,
``pip install breaching==0.1.2``)::

    leaklib bench --out runs/bench
    leaklib bench --cases single --iterations 20,50 --repeats 1 --out runs/bench-smoke
    leaklib bench --device cuda --out runs/bench-cuda     (timers synchronised with the GPU, its own matmul peak)

Prints the table and writes DIR/bench.json (every run, its PSNR curve, medians, spreads and ratios).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..benchmarks.problem import CASES
from ..benchmarks.runner import DEFAULT_METHOD
from ..errors import LeaklibError

DEFAULT_ITERATIONS = {"single": "500,2000", "batch4": "500", "restarts8": "500", "fedavg5": "500"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="benchmark leaklib's attack against breaching's",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated cases: {', '.join(CASES)}")
    p.add_argument("--iterations", default=None,
                   help="comma-separated iteration budgets for every case (default: single 500,2000; others 500)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per case (libraries interleaved)")
    p.add_argument("--every", type=int, default=10, help="iterations between PSNR records along a run")
    p.add_argument("--model", default="resnet20-4", help="model name (breaching needs the same architecture)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help="leaklib's preset (AttackConfig.preset): ig-fast (measured for short budgets) or ig (paper)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-breaching", action="store_true", help="run leaklib alone even if breaching is importable")
    p.add_argument("--out", required=True, help="output directory (DIR/bench.json)")
    p.set_defaults(func=run)


def int_list(text: str, option: str = "--iterations") -> list[int]:
    """A comma-separated list of positive integers (an option's value), or one error naming ``option``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise LeaklibError(f"{option} must be comma-separated positive integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise LeaklibError(f"{option} must be comma-separated positive integers, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from ..benchmarks.report import table
    from ..benchmarks.runner import run_benchmark
    from ..io import ensure_writable_dir, write_json

    out = ensure_writable_dir(args.out)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    budgets = {c: int_list(args.iterations or DEFAULT_ITERATIONS.get(c, "500")) for c in cases}
    record = run_benchmark(cases, budgets, repeats=args.repeats, every=args.every, seed=args.seed,
                           use_breaching=not args.no_breaching, threads=args.threads,
                           model_name=args.model, method=args.method, device=args.device)
    text = table(record)
    record["table"] = text
    write_json(Path(out) / "bench.json", record)
    print(text)
    print(f"-> {Path(out) / 'bench.json'}")
    return 0
