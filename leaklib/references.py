"""Stored reference values and the papers' claims, checked against what a notebook measured.

A reference file ``notebooks/references/<notebook>.<profile>.json`` holds::

    {"notebook", "profile", "command" (what produced the values), "created", "versions" (leaklib, torch, ...),
     "values": {name: {"value": x, "tolerance": t} or {"value": x, "rel_tolerance": r}},
     "claims": [{"id", "text", "check", "paper", optional "published", "published_setting",
                 "reproduces", "why"}]}

``values`` pin this project's own measured numbers (regression: a value outside its tolerance FAILs);
``claims`` state a paper's finding in words plus a ``check`` expression over measured names, e.g.
``"psnr_untrained > psnr_trained"`` (Geiping et al. 2020, Sec. 4). Checks are evaluated by a small
interpreter over a whitelisted subset of Python expressions, never by ``eval``. Where the paper reports
numbers, ``published`` maps measured names of the check to them (e.g. ``{"acc_geng_dup4_fedsgd": 0.996}``,
Geng et al. 2021) and ``published_setting`` says in which setting, if not the profile's; the claim table
shows them beside the measured values. A reference may pin no values (``"values": {}``: the ``paper``
profile before its first run): its claims are checked alone.
"""

from __future__ import annotations

import ast
import math
import operator
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import LeaklibError
from .io import atomic_write, read_json, write_json

PASS, FAIL = "PASS", "FAIL"
NOT_REPRODUCED = "NOT REPRODUCED"
"""Status of a claim marked ``"reproduces": false`` (with a ``"why"``) whose check does not hold: the
notebook says openly that this profile does not reproduce the paper's finding, and why; it is not a
failure of the run. A pinned value never gets this status."""
DEFAULT_REF_DIR = Path("notebooks") / "references"


# ---------------------------------------------------------------- safe expression evaluation
def _mean(*args: Any) -> float:
    values = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
    if not values:
        raise LeaklibError("mean() of nothing")
    return sum(values) / len(values)


def _min(*args: Any) -> Any:
    return min(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else min(args)


def _max(*args: Any) -> Any:
    return max(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else max(args)


FUNCTIONS = {"abs": abs, "min": _min, "max": _max, "mean": _mean}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_CMPOPS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_ALLOWED = "names, numbers, comparisons, + - * /, and, or, not, and calls of " + ", ".join(FUNCTIONS)
MAX_SEQUENCE = 10_000
"""Most elements a check may build (``lst * n``, ``lst + lst``): a check compares measured values, it never
needs more, and an unbounded one (``lst * 100000000``) would exhaust memory. Powers (``**``) are refused."""


def _binop(expr: str, op: ast.operator, left: Any, right: Any) -> Any:
    """``left op right``, refusing sequence results longer than :data:`MAX_SEQUENCE` before building them."""
    seqs = (list, tuple, str)
    size = None
    if isinstance(op, ast.Mult) and isinstance(left, seqs) and isinstance(right, int):
        size = len(left) * right
    elif isinstance(op, ast.Mult) and isinstance(right, seqs) and isinstance(left, int):
        size = len(right) * left
    elif isinstance(op, ast.Add) and isinstance(left, seqs) and isinstance(right, seqs):
        size = len(left) + len(right)
    if size is not None and size > MAX_SEQUENCE:
        raise LeaklibError(f"check {expr!r} would build a sequence of {size:,} elements; "
                           f"a check may build at most {MAX_SEQUENCE:,}")
    return _BINOPS[type(op)](left, right)


def parse_check(expr: str) -> ast.Expression:
    """Parse a claim's check and reject anything outside the whitelist (attributes, subscripts, other calls)."""
    if not isinstance(expr, str) or not expr.strip():
        raise LeaklibError(f"a claim's check must be a non-empty expression string, got {expr!r}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise LeaklibError(f"check {expr!r} is not a valid expression ({e.msg}); allowed: {_ALLOWED}") from None
    for node in ast.walk(tree):
        ok = isinstance(
            node,
            (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp,
             ast.Compare, ast.Name, ast.Load, ast.Constant, ast.Call, *_BINOPS, *_CMPOPS),
        )
        if isinstance(node, ast.Constant):
            ok = isinstance(node.value, (int, float))  # numbers and True/False; no strings, bytes, None
        if isinstance(node, ast.Call):
            ok = isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and not node.keywords
        if not ok:
            what = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
            raise LeaklibError(f"check {expr!r} uses {what!r}, which is not allowed; allowed: {_ALLOWED}")
    return tree


def check_names(expr: str) -> list[str]:
    """The measured names a check refers to (function names excluded), in order of appearance."""
    tree = parse_check(expr)
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls]
    names = [n.id for n in sorted(found, key=lambda n: n.col_offset)]
    return list(dict.fromkeys(names))


def evaluate(expr: str, names: Mapping[str, Any]) -> Any:
    """Evaluate a whitelisted check expression with ``names`` (numbers or lists of numbers)."""
    tree = parse_check(expr)

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise LeaklibError(f"check {expr!r} needs {node.id!r}, which was not measured")
            return names[node.id]
        if isinstance(node, ast.BoolOp):
            values = (ev(v) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand)
            return (not value) if isinstance(node.op, ast.Not) else (-value if isinstance(node.op, ast.USub)
                                                                      else +value)
        if isinstance(node, ast.BinOp):
            return _binop(expr, node.op, ev(node.left), ev(node.right))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = ev(right_node)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](*(ev(a) for a in node.args))
        raise LeaklibError(f"check {expr!r}: cannot evaluate {type(node).__name__}")  # parse_check forbids it

    return ev(tree)


# ---------------------------------------------------------------- reference files
def reference_path(notebook: str, profile: str, ref_dir: str | os.PathLike = DEFAULT_REF_DIR) -> Path:
    """``<ref_dir>/<notebook>.<profile>.json``."""
    return Path(ref_dir) / f"{notebook}.{profile}.json"


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_reference(ref: Mapping[str, Any], source: str = "reference") -> dict[str, Any]:
    """Check a reference's structure (tolerances, claims, check expressions); return it as a dict."""
    if not isinstance(ref, Mapping):
        raise LeaklibError(f"{source} must be a JSON object")
    for field in ("notebook", "profile", "values", "claims"):
        if field not in ref:
            raise LeaklibError(f"{source} has no {field!r} field; a reference needs notebook, profile, values, claims")
    if not isinstance(ref["values"], Mapping):
        raise LeaklibError(f"{source}: 'values' must map names to {{'value', 'tolerance' or 'rel_tolerance'}}")
    for name, spec in ref["values"].items():
        if not isinstance(spec, Mapping) or not _number(spec.get("value")):
            raise LeaklibError(f"{source}: value {name!r} needs a finite number under 'value'")
        tols = [k for k in ("tolerance", "rel_tolerance") if k in spec]
        if len(tols) != 1 or not _number(spec[tols[0]]) or spec[tols[0]] < 0:
            raise LeaklibError(
                f"{source}: value {name!r} needs exactly one of 'tolerance' (absolute) or 'rel_tolerance', >= 0"
            )
    if not isinstance(ref["claims"], Sequence) or isinstance(ref["claims"], str):
        raise LeaklibError(f"{source}: 'claims' must be a list of {{'id', 'text', 'check', 'paper'}}")
    ids = set()
    for claim in ref["claims"]:
        if not isinstance(claim, Mapping) or not all(isinstance(claim.get(k), str) for k in ("id", "text", "check")):
            raise LeaklibError(f"{source}: each claim needs string fields 'id', 'text' and 'check', got {claim!r}")
        if claim["id"] in ids:
            raise LeaklibError(f"{source}: claim id {claim['id']!r} appears twice")
        ids.add(claim["id"])
        parse_check(claim["check"])
        if claim.get("reproduces", True) is False and not str(claim.get("why", "")).strip():
            raise LeaklibError(f"{source}: claim {claim['id']!r} is marked not to reproduce but gives no 'why'")
        _validate_published(claim, source)
    return dict(ref)


def _validate_published(claim: Mapping[str, Any], source: str) -> None:
    """Check a claim's optional ``published`` (measured name of its check -> the paper's number) and
    ``published_setting`` (a non-empty string, only beside ``published``)."""
    where = f"{source}: claim {claim['id']!r}"
    published = claim.get("published")
    if "published" in claim:
        if not isinstance(published, Mapping) or not published:
            raise LeaklibError(f"{where}: 'published' must map measured names to the paper's numbers, "
                               f"got {published!r}")
        used = check_names(claim["check"])
        for name, number in published.items():
            if name not in used:
                raise LeaklibError(f"{where}: 'published' names {name!r}, which its check does not use "
                                   f"(it uses {', '.join(used)})")
            if not _number(number):
                raise LeaklibError(f"{where}: 'published' {name!r} must be a finite number, got {number!r}")
    if "published_setting" in claim:
        setting = claim["published_setting"]
        if not isinstance(setting, str) or not setting.strip():
            raise LeaklibError(f"{where}: 'published_setting' must be a non-empty string, got {setting!r}")
        if "published" not in claim:
            raise LeaklibError(f"{where}: 'published_setting' describes published numbers, but the claim has "
                               "no 'published'")


def load_reference(notebook: str, profile: str, ref_dir: str | os.PathLike = DEFAULT_REF_DIR) -> dict[str, Any]:
    """Read and validate ``<ref_dir>/<notebook>.<profile>.json``."""
    path = reference_path(notebook, profile, ref_dir)
    if not path.is_file():
        have = sorted(p.name for p in Path(ref_dir).glob(f"{notebook}.*.json")) if Path(ref_dir).is_dir() else []
        raise LeaklibError(
            f"no reference {str(path)!r} for notebook {notebook!r}, profile {profile!r} "
            f"(found: {', '.join(have) or 'none'}); create it with leaklib.references.write_reference"
        )
    try:
        ref = read_json(path)
    except ValueError as e:
        raise LeaklibError(f"reference {str(path)!r} is not valid JSON: {e}") from None
    return validate_reference(ref, str(path))


def write_reference(
    notebook: str,
    profile: str,
    measured: Mapping[str, Any],
    *,
    tolerances: Mapping[str, float | Mapping[str, float]] | None = None,
    claims: Sequence[Mapping[str, Any]] | None = None,
    command: str | None = None,
    ref_dir: str | os.PathLike = DEFAULT_REF_DIR,
    names: Iterable[str] | None = None,
) -> Path:
    """(Re)generate a reference from measured values, recording the command and the date.

    ``names`` picks which measured values to pin (default: those in ``tolerances``, else those already in
    the existing reference). ``tolerances`` maps a name to an absolute tolerance (a number) or to
    ``{"tolerance": t}`` / ``{"rel_tolerance": r}``; a name without one keeps the existing reference's
    tolerance. ``claims=None`` keeps the existing claims as they are, with their ``published`` numbers
    (claims are written by people, values measured). A reference that would pin nothing and claim nothing
    is refused: it could only fail (:func:`assert_passed`), so its claims must be written first.
    """
    measured = plain_values(measured)
    path = reference_path(notebook, profile, ref_dir)
    old = load_reference(notebook, profile, ref_dir) if path.is_file() else {"values": {}, "claims": []}
    tolerances = dict(tolerances or {})
    chosen = list(names) if names is not None else list(dict.fromkeys([*tolerances, *old["values"]]))
    values: dict[str, dict[str, float]] = {}
    for name in chosen:
        if name not in measured or not _number(measured[name]):
            raise LeaklibError(f"cannot pin {name!r}: it was not measured as a finite number")
        tol = tolerances.get(name, old["values"].get(name))
        if tol is None:
            raise LeaklibError(f"value {name!r} needs a tolerance: pass tolerances={{{name!r}: ...}}")
        if _number(tol):
            tol = {"tolerance": float(tol)}
        tol = {k: float(v) for k, v in tol.items() if k in ("tolerance", "rel_tolerance", "floor")}
        values[name] = {"value": float(measured[name]), **tol}
    ref = {
        "notebook": notebook,
        "profile": profile,
        "command": command or f"leaklib notebooks --only {notebook} --profile {profile} --update-references",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": reference_versions(),
        "values": values,
        "claims": [dict(c) for c in (claims if claims is not None else old["claims"])],
    }
    if not ref["values"] and not ref["claims"]:
        raise LeaklibError(
            f"{str(path)!r} would pin no values and state no claims, so every check of it would fail: write its "
            f"claims first (as in the other references), or pass tolerances={{name: ...}} for values to pin"
        )
    validate_reference(ref, str(path))
    return write_json(path, ref)


def reference_versions() -> dict[str, str]:
    """The versions a measured value depends on (constraints.txt pins them): leaklib, torch, numpy, Python."""
    from .runtime import provenance

    run = provenance()
    return {k: str(run[k]) for k in ("leaklib", "torch", "numpy", "python")}


def version_mismatch(reference: Mapping[str, Any]) -> str | None:
    """A one-line warning when this run's versions differ from those the reference was made with; none for a
    reference that pins no values (its claims compare this run's own numbers with each other)."""
    if not reference.get("values"):
        return None
    stored = reference.get("versions")
    if not isinstance(stored, Mapping):
        return ("the reference does not record the versions it was made with (it predates constraints.txt); "
                "values may differ within their tolerances")
    now = reference_versions()
    diff = [f"{k} {stored[k]} -> {now.get(k)}" for k in sorted(stored) if str(stored[k]) != now.get(k)]
    if not diff:
        return None
    return f"this run's versions differ from the reference's ({', '.join(diff)}): install from constraints.txt"


def _claims_held(claims: Sequence[Mapping[str, Any]], samples: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Per claim id, in how many of the runs' measured values its check held, as ``"k/n"``."""
    samples = list(samples)
    held = {}
    for claim in claims:
        ok = 0
        for m in samples:
            try:
                ok += bool(evaluate(claim["check"], m))
            except (LeaklibError, ArithmeticError, TypeError, ValueError):
                pass
        held[claim["id"]] = f"{ok}/{len(samples)}"
    return held


def calibrate_reference(
    notebook: str,
    profile: str,
    runs: Mapping[int, Mapping[str, Any]],
    *,
    ref_dir: str | os.PathLike = DEFAULT_REF_DIR,
    spread: float = 4.0,
) -> dict[str, Any]:
    """Set each pinned value's tolerance from its run-to-run variation over seeds; return the new reference.

    ``runs`` maps a seed to the values measured with it. Signed Adam and L-BFGS are chaotic: on another CPU
    (other SIMD kernels, other float rounding) an attack lands like a run with another seed, so a tolerance
    narrower than the seed spread passes here and fails elsewhere. Each value becomes the mean over seeds,
    its tolerance ``max(floor, spread * std, 1.5 * largest deviation from the mean)``; ``floor`` is the
    hand-set tolerance (kept in the file, so calibrating again does not ratchet). The file also records,
    per claim, in how many seeds it held: a claim that does not hold in every seed is not robust at this
    budget and is listed in the returned ``calibration["fragile_claims"]``; ``calibration["measured_by_seed"]``
    keeps each seed's scalar measurements.
    """
    import statistics

    if len(runs) < 2:
        raise LeaklibError(f"calibration needs the values of at least 2 seeds, got {len(runs)}")
    ref = load_reference(notebook, profile, ref_dir)
    samples = {seed: plain_values(m) for seed, m in runs.items()}
    values: dict[str, dict[str, float]] = {}
    for name, spec in ref["values"].items():
        xs = [m.get(name) for m in samples.values()]
        bad = [seed for seed, x in zip(samples, xs) if not _number(x)]
        if bad:
            raise LeaklibError(f"cannot calibrate {name!r}: not measured as a finite number with seed(s) {bad}")
        floor = spec.get("floor", spec.get("tolerance", spec.get("rel_tolerance", 0.0) * abs(spec["value"])))
        mean, std = statistics.fmean(xs), statistics.stdev(xs)
        tol = max(floor, spread * std, 1.5 * max(abs(x - mean) for x in xs))
        values[name] = {"value": mean, "tolerance": tol, "floor": floor, "std": std}
    held = _claims_held(ref["claims"], samples.values())
    n = len(samples)
    fragile = [cid for cid, c in zip(held, ref["claims"]) if held[cid] not in (f"{n}/{n}", f"0/{n}")
               or (held[cid] == f"0/{n}" and c.get("reproduces", True) is not False)]
    ref["values"] = values
    ref["calibration"] = {
        "seeds": sorted(samples), "rule": f"value = mean over seeds; tolerance = max(floor, {spread:g} * std, "
        "1.5 * max |x - mean|)", "claims_held": held, "fragile_claims": fragile,
        "command": f"leaklib notebooks --only {notebook} --profile {profile} --update-references "
                   f"--calibration-seeds {' '.join(str(s) for s in sorted(samples))}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # every seed's scalar measurements, so a reader sees both sides of each claim in each seed
        "measured_by_seed": {str(seed): {k: round(float(v), 4) for k, v in m.items() if _number(v)}
                             for seed, m in sorted(samples.items())},
    }
    validate_reference(ref, notebook)
    write_json(reference_path(notebook, profile, ref_dir), ref)
    return ref


def widen_reference(
    notebook: str,
    profile: str,
    runs: Mapping[str, Mapping[str, Any]],
    *,
    ref_dir: str | os.PathLike = DEFAULT_REF_DIR,
    margin: float = 2.0,
    command: str = "",
) -> dict[str, Any]:
    """Widen the stored tolerances so that they cover ``runs`` (label -> measured values), keeping the values.

    For runs of the same seed on other CPU kernels (``ATEN_CPU_CAPABILITY``): rounding alone can move a
    value further than the seed spread does, so each tolerance becomes ``max(tolerance, margin * largest
    deviation of these runs from the stored value)``. Recorded under ``calibration["other_cpus"]``.
    """
    ref = load_reference(notebook, profile, ref_dir)
    samples = {str(label): plain_values(m) for label, m in runs.items()}
    deviation = {}
    for name, spec in ref["values"].items():
        xs = [m.get(name) for m in samples.values()]
        bad = [label for label, x in zip(samples, xs) if not _number(x)]
        if bad:
            raise LeaklibError(f"cannot widen {name!r}: not measured as a finite number in run(s) {bad}")
        deviation[name] = max(abs(x - spec["value"]) for x in xs)
        tol = spec["tolerance"] if "tolerance" in spec else spec["rel_tolerance"] * abs(spec["value"])
        ref["values"][name] = {**{k: v for k, v in spec.items() if k != "rel_tolerance"},
                               "tolerance": max(tol, margin * deviation[name])}
    held = _claims_held(ref["claims"], samples.values())
    ref.setdefault("calibration", {})["other_cpus"] = {
        "runs": list(samples), "rule": f"tolerance = max(tolerance, {margin:g} * max |x - value|)",
        "max_deviation": deviation, "claims_held": held, "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    validate_reference(ref, notebook)
    write_json(reference_path(notebook, profile, ref_dir), ref)
    return ref


# ---------------------------------------------------------------- checking
@dataclass
class Row:
    """One line of the claim table: a pinned value or a paper's claim, and whether it held."""

    id: str
    kind: str  # "value" or "claim"
    claim: str
    measured: str
    reference: str
    status: str  # PASS or FAIL
    paper: str = ""
    note: str = ""
    published: str = ""  # the paper's numbers for the claim's names (and their setting), "" if it gives none


def _fmt(x: Any) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in x[:6]) + (", ..." if len(x) > 6 else "") + "]"
    return str(x)


def plain_values(measured: Mapping[str, Any]) -> dict[str, Any]:
    """Measured values as plain Python numbers/lists (0-d tensors and numpy scalars via ``.item()``)."""
    out: dict[str, Any] = {}
    for name, v in measured.items():
        if hasattr(v, "tolist") and not isinstance(v, (int, float)):
            v = v.tolist()  # tensor / numpy array or scalar -> number or nested list
        out[str(name)] = v
    return out


def _value_row(name: str, spec: Mapping[str, float], measured: Mapping[str, Any]) -> Row:
    ref_value = spec["value"]
    if "tolerance" in spec:
        tol, tol_text = spec["tolerance"], f"{_fmt(ref_value)} ± {_fmt(spec['tolerance'])}"
    else:
        tol, tol_text = spec["rel_tolerance"] * abs(ref_value), f"{_fmt(ref_value)} ± {spec['rel_tolerance']:.0%}"
    got = measured.get(name)
    if not _number(got):
        why = "not measured" if name not in measured else f"not a finite number: {got!r}"
        return Row(name, "value", f"{name} reproduces", _fmt(got), tol_text, FAIL, note=why)
    ok = abs(got - ref_value) <= tol + 1e-12 * max(1.0, abs(ref_value))
    note = "" if ok else f"off by {_fmt(got - ref_value)}"
    return Row(name, "value", f"{name} reproduces", _fmt(got), tol_text, PASS if ok else FAIL, note=note)


def _claim_row(claim: Mapping[str, Any], measured: Mapping[str, Any]) -> Row:
    expr = claim["check"]
    used = check_names(expr)
    shown = ", ".join(f"{n}={_fmt(measured[n])}" for n in used if n in measured)
    paper = str(claim.get("paper", "") or "")
    try:
        ok = bool(evaluate(expr, measured))
        note = ""
    except (LeaklibError, ArithmeticError, TypeError, ValueError) as e:
        ok, note = False, f"check failed to evaluate: {e}"
    status = PASS if ok else FAIL
    if not ok and claim.get("reproduces", True) is False:
        status, note = NOT_REPRODUCED, f"{claim.get('why', '')} {note}".strip()
    return Row(claim["id"], "claim", claim["text"], shown, expr, status, paper, note, _published_text(claim))


def _published_text(claim: Mapping[str, Any]) -> str:
    """``name=number, ...`` of a claim's ``published`` numbers (as the paper wrote them), then their setting in
    parentheses when it differs from the profile's; ``""`` when the paper gives no number."""
    published = claim.get("published") or {}
    text = ", ".join(f"{name}={number:g}" for name, number in published.items())
    setting = claim.get("published_setting")
    return f"{text} ({setting})" if text and setting else text


def check(measured: Mapping[str, Any], reference: Mapping[str, Any]) -> list[Row]:
    """Compare measured values with the reference: one row per pinned value, then one per claim."""
    reference = validate_reference(reference)
    measured = plain_values(measured)
    rows = [_value_row(name, spec, measured) for name, spec in reference["values"].items()]
    rows += [_claim_row(claim, measured) for claim in reference["claims"]]
    return rows


def _as_rows(rows: Iterable[Row | Mapping[str, Any]]) -> list[Row]:
    return [r if isinstance(r, Row) else Row(**r) for r in rows]


def claim_table(rows: Iterable[Row | Mapping[str, Any]], markdown: bool = False,
                held: Mapping[str, str] | None = None) -> str:
    """The rows as a printable fixed-width table, or (``markdown=True``) a Markdown table.

    ``held`` (claim id -> ``"k/n"``, :func:`seeds_held`) adds a column: in how many calibration seeds each
    claim held. When any row carries the paper's numbers, a ``published`` column shows them beside ``measured``."""
    rows = _as_rows(rows)
    header = ["status", "id", "claim", "measured", "reference", "paper", "note"]
    cells = [[r.status, r.id, r.claim, r.measured, r.reference, r.paper, r.note] for r in rows]
    if any(r.published for r in rows):
        header.insert(4, "published")
        for row, r in zip(cells, rows, strict=True):
            row.insert(4, r.published)
    if held is not None:
        header.insert(1, "seeds held")
        for row, r in zip(cells, rows, strict=True):
            row.insert(1, held.get(r.id, "-") if r.kind == "claim" else "")
    if markdown:
        def esc(s: str) -> str:
            return s.replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(header)]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()

    passed = sum(r.status == PASS for r in rows)
    out = [line(header), line(["-" * w for w in widths]), *(line(row) for row in cells)]
    out.append(f"{passed}/{len(rows)} passed")
    return "\n".join(out) + "\n"


class ClaimsFailed(AssertionError):
    """Raised by :func:`assert_passed` when a pinned value or a claim did not hold."""


def assert_passed(rows: Iterable[Row | Mapping[str, Any]], strict: bool = True) -> list[Row]:
    """Raise :class:`ClaimsFailed` listing every FAIL row (or, with ``strict=False``, only print them).

    An empty list of rows also fails: a notebook that checks nothing proves nothing.
    """
    rows = _as_rows(rows)
    failed = [r for r in rows if r.status not in (PASS, NOT_REPRODUCED)]
    if not rows:
        message = "no values or claims were checked (the reference is empty)"
    elif failed:
        lines = [f"  {r.id}: {r.claim} | measured {r.measured} | reference {r.reference}"
                 + (f" | {r.note}" if r.note else "") for r in failed]
        message = f"{len(failed)} of {len(rows)} checks failed:\n" + "\n".join(lines)
    else:
        return rows
    if strict:
        raise ClaimsFailed(message)
    print(f"WARNING (strict=False): {message}")
    return rows


# ---------------------------------------------------------------- notebook results and gallery
def widest_tolerance(reference: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pinned value with the widest tolerance relative to its value: ``{"name", "value", "tolerance",
    "relative"}`` (``relative = tolerance / |value|``), or ``None`` when no value is non-zero."""
    widest = None
    for name, spec in reference.get("values", {}).items():
        value = float(spec["value"])
        tol = float(spec.get("tolerance", spec.get("rel_tolerance", 0.0) * abs(value)))
        if value != 0 and (widest is None or tol / abs(value) > widest["relative"]):
            widest = {"name": name, "value": value, "tolerance": tol, "relative": tol / abs(value)}
    return widest


def seeds_held(reference: Mapping[str, Any]) -> dict[str, str]:
    """Per claim id, in how many calibration seeds it held (``"3/4"``), from the reference's calibration."""
    return dict((reference.get("calibration") or {}).get("claims_held") or {})


def write_metrics(
    notebook: str,
    profile: str,
    measured: Mapping[str, Any],
    rows: Iterable[Row],
    figures_dir: str | os.PathLike = "figures",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<figures_dir>/<notebook>/metrics.json``: measured values, the claim rows, their summary."""
    rows = _as_rows(rows)
    payload = {
        "notebook": notebook,
        "profile": profile,
        "measured": plain_values(measured),
        "rows": [asdict(r) for r in rows],
        "passed": sum(r.status == PASS for r in rows),
        "failed": sum(r.status == FAIL for r in rows),
        "not_reproduced": sum(r.status == NOT_REPRODUCED for r in rows),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **dict(extra or {}),
    }
    return write_json(Path(figures_dir) / notebook / "metrics.json", payload)


def check_and_record(
    notebook: str,
    profile: str,
    measured: Mapping[str, Any],
    *,
    ref_dir: str | os.PathLike = DEFAULT_REF_DIR,
    figures_dir: str | os.PathLike = "figures",
    extra: Mapping[str, Any] | None = None,
    update: bool = False,
    tolerances: Mapping[str, float | Mapping[str, float]] | None = None,
    claims: Sequence[Mapping[str, Any]] | None = None,
    seed: int | None = None,
    device: str | None = None,
) -> list[Row]:
    """A notebook's last step: load its reference, check, write metrics.json, print the table.

    With ``update=True`` the reference is first regenerated from ``measured`` (:func:`write_reference`,
    keeping stored tolerances and claims, with their published numbers, unless new ones are given); its
    values then match by construction, while the claims are still checked. A reference that pins no values
    (a ``paper`` one before its first run) still pins none unless ``tolerances`` name some: only its claims
    are checked. metrics.json records ``reference_updated`` and the provenance (versions, and the ``seed``
    and ``device`` of the run when given).
    """
    if update:
        write_reference(notebook, profile, measured, tolerances=tolerances, claims=claims, ref_dir=ref_dir)
    reference = load_reference(notebook, profile, ref_dir)
    rows = check(measured, reference)
    from .runtime import provenance, resolve_device

    run = provenance(resolve_device(device) if device else None, seed)
    mismatch = version_mismatch(reference)
    write_metrics(notebook, profile, measured, rows, figures_dir,
                  {**dict(extra or {}), "reference_updated": update, "provenance": run, "version_warning": mismatch,
                   "seeds_held": seeds_held(reference), "widest_tolerance": widest_tolerance(reference)})
    if mismatch:
        print(f"WARNING: {mismatch}")
    print(claim_table(rows))
    return rows


def read_metrics(path: str | os.PathLike) -> tuple[dict[str, Any], list[Row]]:
    """A notebook's ``metrics.json`` and its claim rows; :class:`LeaklibError` saying why if it cannot be used
    (not readable, not JSON, not an object, rows that are not claim rows)."""
    try:
        metrics = read_json(path)
    except OSError as e:
        raise LeaklibError(f"cannot be read: {e.strerror}") from None
    except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError
        raise LeaklibError(f"not valid JSON: {e}") from None
    if not isinstance(metrics, dict):
        raise LeaklibError(f"a JSON {type(metrics).__name__}, not an object")
    raw = metrics.get("rows", [])
    if not isinstance(raw, list):
        raise LeaklibError(f"'rows' is a {type(raw).__name__}, not a list")
    rows = []
    for i, r in enumerate(raw):
        try:
            row = Row(**r) if isinstance(r, dict) else None
        except TypeError:
            row = None
        if row is None or not all(isinstance(v, str) for v in asdict(row).values()):
            raise LeaklibError(f"row {i} is not a claim row (string fields id, kind, claim, measured, "
                               "reference, status)")
        rows.append(row)
    return metrics, rows


def _notebook_folders(figures_dir: Path) -> list[Path]:
    """The notebooks' figure folders ``NN_name``: not the other profiles' ``smoke/`` and ``paper/``, nor hidden
    ones such as the runner's staging folder."""
    if not figures_dir.is_dir():
        return []
    return sorted(p for p in figures_dir.iterdir() if p.is_dir() and re.match(r"\d\d_", p.name))


def gallery_problems(figures_dir: str | os.PathLike = "figures") -> list[tuple[str, str]]:
    """``(notebook, reason)`` for every ``<figures_dir>/<notebook>/metrics.json`` that cannot be read: the
    ones :func:`write_gallery` skips (it names them in the gallery); for a runner's summary."""
    figures_dir = Path(figures_dir)
    problems = []
    for folder in _notebook_folders(figures_dir):
        if (folder / "metrics.json").is_file():
            try:
                read_metrics(folder / "metrics.json")
            except LeaklibError as e:
                problems.append((folder.name, str(e)))
    return problems


def unreadable_metrics_line(notebook: str, reason: str) -> str:
    """The one line that reports a skipped metrics.json (in the gallery and in a runner's summary)."""
    return f"{notebook}: metrics.json unreadable ({reason}), rerun with `leaklib notebooks --only {notebook}`"


def write_gallery(figures_dir: str | os.PathLike = "figures", out: str | os.PathLike | None = None) -> Path:
    """Write a Markdown gallery (default ``<figures_dir>/README.md``): per notebook folder, its claim
    table from ``metrics.json`` and every PNG in it, linked relative to the gallery file.

    A ``metrics.json`` that cannot be read is skipped with a line saying why and how to remake it (the
    others are still listed); :func:`gallery_problems` returns the same list for a summary."""
    figures_dir = Path(figures_dir)
    out = Path(out) if out is not None else figures_dir / "README.md"
    lines = ["# Figures and claims", "", "Generated by `leaklib notebooks`; do not edit by hand.", ""]
    folders = _notebook_folders(figures_dir)
    if not folders:
        lines.append("No notebook has written figures yet.")
    for folder in folders:
        lines += [f"## {folder.name}", ""]
        metrics_path = folder / "metrics.json"
        if metrics_path.is_file():
            try:
                metrics, rows = read_metrics(metrics_path)
            except LeaklibError as e:
                lines += [f"**Skipped:** {unreadable_metrics_line(folder.name, str(e))}.", ""]
                metrics, rows = None, []
            if metrics is not None:
                passed = sum(r.status == PASS for r in rows)
                lines += [f"Profile `{metrics.get('profile', '?')}`: {passed}/{len(rows)} checks passed.", ""]
                widest = metrics.get("widest_tolerance")
                if widest:
                    lines += [f"Widest relative tolerance: `{widest['name']}` {widest['value']:.4g} ± "
                              f"{widest['tolerance']:.3g} ({100 * widest['relative']:.0f} % of its value).", ""]
                if rows:
                    lines.append(claim_table(rows, markdown=True, held=metrics.get("seeds_held") or {}))
        else:
            lines += ["No metrics.json: this notebook's checks have not run.", ""]
        for png in sorted(folder.glob("*.png")):
            rel = os.path.relpath(png, out.parent).replace(os.sep, "/")
            lines += [f"![{folder.name}/{png.stem}]({rel})", ""]
    text = "\n".join(lines).rstrip() + "\n"
    return atomic_write(out, lambda f: f.write(text.encode()))
