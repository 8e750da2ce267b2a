"""Resumable sweeps: each finished trial is one atomically written JSON record.

A trial is a dict of JSON values (its parameters). Its key is a hash of the parameters' canonical JSON,
so the same parameters always find the same record, whatever the order of the keys or of the trials.
``run_sweep`` writes ``<out_dir>/trials/<key>.json`` when a trial finishes (never half-written, see
:mod:`leaklib.io`) and skips trials whose record exists, so a killed sweep resumes where it stopped.
Paper-scale experiments (Geiping et al. 2020, Sec. 5: 100 images per setting) are sweeps of this kind.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import LeaklibError
from .io import ensure_writable_dir, read_json, write_json

KEY_LENGTH = 16  # hex digits of sha256: collisions are negligible for sweeps of any realistic size


def canonical_json(params: Mapping[str, Any]) -> str:
    """The parameters as compact JSON with sorted keys; raises for values that are not plain JSON."""
    if not isinstance(params, Mapping):
        raise LeaklibError(f"a trial must be a dict of parameters, got {type(params).__name__}")
    _check_plain(params, "trial")
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _check_plain(value: Any, where: str) -> None:
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LeaklibError(f"{where} is {value}; trial parameters must be finite numbers")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise LeaklibError(f"{where} has a non-string key {k!r}; trial parameter names must be strings")
            _check_plain(v, f"{where}.{k}")
        return
    raise LeaklibError(
        f"{where} is a {type(value).__name__}; trial parameters must be JSON values "
        "(str, int, float, bool, None, lists and dicts of them)"
    )


def trial_key(params: Mapping[str, Any]) -> str:
    """Stable key of a trial: the first hex digits of sha256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()[:KEY_LENGTH]


def record_path(out_dir: str | os.PathLike, params: Mapping[str, Any]) -> Path:
    """Where the record of this trial lives: ``<out_dir>/trials/<key>.json``."""
    return Path(out_dir) / "trials" / f"{trial_key(params)}.json"


def _read_record(path: Path) -> dict[str, Any] | None:
    """A finished record, or None if absent or unreadable (then the trial is simply run again)."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "result" in record else None


def run_sweep(
    trials: Iterable[Mapping[str, Any]],
    fn: Callable[[dict[str, Any]], Any],
    out_dir: str | os.PathLike,
    *,
    fresh: bool = False,
    desc: str = "trials",
    provenance: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run ``fn(params)`` for every trial without a record (all of them if ``fresh``); return all records.

    Each record is ``{"key", "params", "result", "seconds", "provenance", "finished"}``; ``result`` is
    what ``fn`` returned (must be JSON-writable). Records come back in the order of ``trials``; a trial
    listed twice is run once. ``provenance`` defaults to :func:`leaklib.runtime.provenance`.
    """
    from tqdm.auto import tqdm

    from .runtime import provenance as default_provenance

    trials = [dict(t) if isinstance(t, Mapping) else t for t in trials]
    keys = [trial_key(t) for t in trials]  # validates every trial before anything runs
    root = ensure_writable_dir(out_dir)
    ensure_writable_dir(root / "trials")
    write_json(root / "sweep.json", {"keys": list(dict.fromkeys(keys))})
    prov = dict(provenance) if provenance is not None else default_provenance()

    records: dict[str, dict[str, Any]] = {}
    skipped = 0
    with tqdm(total=len(trials), desc=desc, unit="trial") as bar:
        for params, key in zip(trials, keys):
            if key not in records:
                path = root / "trials" / f"{key}.json"
                record = None if fresh else _read_record(path)
                if record is None:
                    start = time.perf_counter()
                    result = fn(copy.deepcopy(params))  # fn cannot alter the stored params
                    record = {
                        "key": key,
                        "params": params,
                        "result": result,
                        "seconds": time.perf_counter() - start,
                        "provenance": prov,
                        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                    write_json(path, record)
                    record = read_json(path)  # what is returned equals what a resumed run would load
                else:
                    skipped += 1
                    bar.set_postfix(resumed=skipped)
                records[key] = record
            bar.update(1)
    return [records[k] for k in keys]


def load_records(out_dir: str | os.PathLike, trials: Iterable[Mapping[str, Any]] | None = None) -> list[dict]:
    """Finished records of a sweep directory: for ``trials`` in their order (error if one is missing),
    or all records, in the order of the last sweep's trial list, then any others by key."""
    trial_dir = Path(out_dir) / "trials"
    if trials is not None:
        out = []
        for t in trials:
            record = _read_record(trial_dir / f"{trial_key(t)}.json")
            if record is None:
                raise LeaklibError(f"no finished record for trial {canonical_json(t)} in {str(trial_dir)!r}")
            out.append(record)
        return out
    if not trial_dir.is_dir():
        raise LeaklibError(f"{str(out_dir)!r} holds no sweep (no trials/ folder); run the sweep first")
    found = {p.stem: r for p in sorted(trial_dir.glob("*.json")) if (r := _read_record(p)) is not None}
    order: list[str] = []
    manifest = Path(out_dir) / "sweep.json"
    if manifest.is_file():
        order = [k for k in read_json(manifest).get("keys", []) if k in found]
    order += sorted(set(found) - set(order))
    return [found[k] for k in order]


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """One flat dict per record, for tables and plots: parameters, then result fields, then ``seconds``.

    Nested dicts are joined with dots (``{"a": {"b": 1}}`` -> ``"a.b"``); a result field whose name is
    also a parameter is kept as ``result.<name>``; a non-dict result is stored under ``result``.
    """
    flat: dict[str, Any] = {}
    _flatten_into(flat, record.get("params", {}), "")
    result = record.get("result")
    if isinstance(result, Mapping):
        res: dict[str, Any] = {}
        _flatten_into(res, result, "")
        for k, v in res.items():
            flat[f"result.{k}" if k in flat else k] = v
    else:
        flat["result"] = result
    flat["seconds"] = record.get("seconds")
    flat["key"] = record.get("key")
    return flat


def _flatten_into(out: dict[str, Any], obj: Mapping[str, Any], prefix: str) -> None:
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            _flatten_into(out, v, f"{name}.")
        else:
            out[name] = v


def load_flat(out_dir: str | os.PathLike, trials: Iterable[Mapping[str, Any]] | None = None) -> list[dict]:
    """:func:`load_records` then :func:`flatten` each record (ready for :func:`leaklib.plots.sweep_plot`)."""
    return [flatten(r) for r in load_records(out_dir, trials)]
