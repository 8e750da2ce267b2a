"""``leaklib gpu-check``: the CUDA tests, one attack with IG's published recipe and the bench, on one GPU.

Example (what ``./run_all.sh --gpu-check`` runs; under 10 minutes on one H100/H200 is the aim)::

    leaklib gpu-check --out runs/gpu-check
    leaklib gpu-check --device cpu --iterations 5 --restarts 2 --bench-iterations 2 --out runs/gpu-check-cpu

Writes DIR/gpu_check.json; exit code 1 if a part failed. Without a GPU, ``--device cuda`` (the default)
stops with one error before anything runs.
"""

from __future__ import annotations

import argparse

from ..gpu_check import BENCH_CASES, PAPER_ATTACK


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gpu-check", help="CUDA tests, a paper-recipe attack and the bench on a GPU",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default), auto or cpu (cpu: to try the check itself)")
    p.add_argument("--iterations", type=int, default=PAPER_ATTACK["iterations"],
                   help=f"the paper attack's iterations (default {PAPER_ATTACK['iterations']}, as published)")
    p.add_argument("--restarts", type=int, default=PAPER_ATTACK["restarts"],
                   help=f"the paper attack's restarts (default {PAPER_ATTACK['restarts']})")
    p.add_argument("--bench-iterations", default=None,
                   help="comma-separated budgets for every bench case (default: "
                        + "; ".join(f"{c} {','.join(map(str, b))}" for c, b in BENCH_CASES.items()) + ")")
    p.add_argument("--bench-model", default="resnet20-4", help="the bench's model (default resnet20-4)")
    p.add_argument("--no-tests", action="store_true", help="leave out the CUDA tests")
    p.add_argument("--out", required=True, help="output directory (DIR/gpu_check.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..gpu_check import gpu_check
    from .bench import int_list

    cases = ({c: int_list(args.bench_iterations, "--bench-iterations") for c in BENCH_CASES} if args.bench_iterations else None)
    record = gpu_check(args.out, args.device, iterations=args.iterations, restarts=args.restarts, bench_cases=cases,
                       bench_model=args.bench_model, run_tests=not args.no_tests)
    return 0 if record["passed"] else 1
