"""Speed benchmarks beside the library: no library module imports this package, only ``leaklib bench``.

- runner.py: ``leaklib bench``, leaklib against breaching on the same problem, case by case (docs/BENCHMARK.md);
- problem.py: the cases, the shared problem and one run's record; breaching_adapter.py: breaching on it;
- phases.py: one iteration's time, phase by phase; report.py: medians, ratios and the plain-text table;
- restarts.py: R restarts batched against R single-restart runs (``python -m leaklib.benchmarks.restarts``).
"""

from .breaching_adapter import breaching_available
from .phases import PHASES, profile_iteration
from .problem import CASES, BenchCase, Problem, RunRecord, make_problem
from .report import summarize_case, table
from .runner import DEFAULT_METHOD, run_benchmark

__all__ = [
    "CASES", "DEFAULT_METHOD", "PHASES", "BenchCase", "Problem", "RunRecord", "breaching_available", "make_problem",
    "profile_iteration", "run_benchmark", "summarize_case", "table",
]
