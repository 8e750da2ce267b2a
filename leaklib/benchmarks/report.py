"""The benchmark's numbers: medians and spreads over repeats, leaklib / breaching ratios, the plain-text table.

Ratios are leaklib / breaching; PSNR differences are leaklib - breaching in dB. "Time to reach" is the first
recorded time at which a library's run of the largest iteration budget reaches breaching's final PSNR at that
budget (same seed pairs).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from .phases import PHASES
from .problem import RunRecord


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
