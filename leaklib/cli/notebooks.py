"""``leaklib notebooks``: run the numbered notebooks (resumably) and rebuild figures/README.md."""

from __future__ import annotations

import argparse

from ..errors import LeaklibError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "notebooks",
        help="execute notebooks/NN_*.ipynb with papermill and check their claims",
        description="Execute the notebooks in order (skipping up-to-date ones), write executed copies to "
        "notebooks/executed/, then the gallery figures/README.md. Exit code 1 if any notebook failed.",
    )
    p.add_argument("--only", action="append", metavar="N", help="a notebook number or name (repeatable)")
    p.add_argument("--profile", default="quick", help="smoke, quick or paper (default: quick)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--fresh", action="store_true",
                   help="re-run notebooks and recompute their trials even if their results are up to date")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads in each notebook's kernel (default 2, as the stored references were made: "
                   "the same seed gives other numbers with another thread count)")
    p.add_argument("--no-strict", dest="strict", action="store_false",
                   help="report failed claims but do not count them as failures")
    p.add_argument("--update-references", action="store_true",
                   help="regenerate notebooks/references/<notebook>.<profile>.json from this run's values")
    p.add_argument("--calibration-seeds", nargs="+", type=int, default=[], metavar="S",
                   help="with --update-references: run each notebook once more per seed and set the tolerances "
                   "from the spread over seeds (what another machine's float rounding can move)")
    p.add_argument("--calibration-cpus", nargs="+", default=[], metavar="CAP",
                   help="run each notebook once per CPU kernel set (ATEN_CPU_CAPABILITY: default, avx2, avx512) and "
                   "widen the reference's tolerances to cover those runs; nothing else is run")
    p.add_argument("--workers", default=None, metavar="N|ADDRESS",
                   help="run each sweep's trials on Ray workers: N for a local instance with N workers, or a "
                   "cluster address (auto, ray://head:10001); needs the distributed extra (default: in-process)")
    p.add_argument("--preflight", action="store_true",
                   help="with --profile paper: check what the run needs and estimate its GPU memory and hours from a "
                   "short warm-up, then stop (a paper run on a GPU prints the estimate anyway before it starts)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a notebook parameter (must be in each selected notebook's parameters cell)")
    p.add_argument("--notebooks-dir", default="notebooks", help=argparse.SUPPRESS)
    p.add_argument("--figures-dir", default="figures", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..notebooks import parse_cli_value, profile_dir, run_notebooks, summary, widen_for_cpus

    parameters = {}
    for name, value in args.parameter:
        if name in parameters:
            raise LeaklibError(f"parameter {name!r} given twice with -p; give each parameter once")
        parameters[name] = parse_cli_value(value)
    if args.workers is not None:  # the notebooks' kernels inherit it: every run_sweep in them dispatches
        import os

        from ..distributed import WORKERS_ENV, check_workers

        os.environ[WORKERS_ENV] = str(check_workers(args.workers))
    if args.calibration_cpus:
        widen_for_cpus(args.only, args.calibration_cpus, args.profile, "cpu", parameters,
                       notebooks_dir=args.notebooks_dir)
        return 0
    if args.preflight:
        from ..notebooks import paper_preflight_report

        print(paper_preflight_report(args.only, args.profile, args.device, parameters, notebooks_dir=args.notebooks_dir))
        return 0
    runs = run_notebooks(
        only=args.only, profile=args.profile, device=args.device, fresh=args.fresh, strict=args.strict,
        parameters=parameters, notebooks_dir=args.notebooks_dir, figures_dir=args.figures_dir,
        update_references=args.update_references, calibration_seeds=args.calibration_seeds, threads=args.threads,
    )
    print(summary(runs, profile_dir(args.figures_dir, args.profile)))
    return 1 if any(r.status == "failed" for r in runs) else 0
