"""Resumable sweeps: each finished trial is one atomically written JSON record.

A trial is a dict of JSON values (its parameters). Its key is a hash of the parameters' canonical JSON,
so the same parameters always find the same record, whatever the order of the keys or of the trials.
``run_sweep`` writes ``<out_dir>/trials/<key>.json`` when a trial finishes (never half-written, see
:mod:`leaklib.io`) and skips trials whose record exists, so a killed sweep resumes where it stopped.
Paper-scale experiments (Geiping et al. 2020, Sec. 5: 100 images per setting) are sweeps of this kind.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import LeaklibError
from .io import ensure_writable_dir, read_json, write_json
from .locks import hold_lock
from .progress import report_trial

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


RECORD_FIELDS = ("key", "params", "result", "seconds", "finished")  # what run_sweep writes into every record


def record_problem(record: Any, key: str) -> str | None:
    """Why ``record`` is not the finished record of the trial with this key, or None if it is.

    A record must hold every field :func:`run_sweep` writes, its ``key`` must be ``key`` (its file name),
    its ``params`` must hash to ``key`` (so a copied or edited record is not trusted for another trial),
    and its ``result`` must not be null (``{"result": null}`` is not a finished trial).
    """
    if not isinstance(record, dict):
        return f"is a JSON {type(record).__name__}, not a record"
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        return f"lacks {', '.join(missing)} (not written by a finished trial)"
    if record["key"] != key:
        return f"stores key {record['key']!r}, not its file name's {key!r}"
    try:
        params_key = trial_key(record["params"])
    except LeaklibError as e:
        return f"has invalid params ({e})"
    if params_key != key:
        return f"stores params {canonical_json(record['params'])} whose key is {params_key!r}, not {key!r}"
    if record["result"] is None:
        return "has a null result (the trial did not finish)"
    return None


def _read_record(path: Path) -> dict[str, Any] | None:
    """The finished record at ``path``, or None if absent, unreadable or not this trial's record (then the
    trial is run again, with a one-line warning saying why)."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError) as e:
        problem: str | None = f"is unreadable ({type(e).__name__}: {e})"
    else:
        problem = record_problem(record, path.stem)
    if problem is not None:
        warnings.warn(f"sweep record {str(path)!r} {problem}; not trusted, the trial runs again", stacklevel=2)
        return None
    return record


def _holding_out_dir(sweep: Callable[..., list[dict[str, Any]]]) -> Callable[..., list[dict[str, Any]]]:
    """Validate the trials, then run ``sweep`` holding the lock on its ``out_dir`` (see :mod:`leaklib.locks`)."""

    @functools.wraps(sweep)
    def locked(trials: Iterable[Mapping[str, Any]], fn: Callable[[dict[str, Any]], Any],
               out_dir: str | os.PathLike, **kwargs: Any) -> list[dict[str, Any]]:
        trials = list(trials)
        for t in trials:
            trial_key(t)  # a bad trial is refused before the folder is created or locked
        with hold_lock(out_dir, f"leaklib sweep {kwargs.get('desc', 'trials')!r}"):
            return sweep(trials, fn, out_dir, **kwargs)

    return locked


@_holding_out_dir
def run_sweep(
    trials: Iterable[Mapping[str, Any]],
    fn: Callable[[dict[str, Any]], Any],
    out_dir: str | os.PathLike,
    *,
    fresh: bool = False,
    desc: str = "trials",
    provenance: Mapping[str, Any] | None = None,
    workers: int | str | None = None,
) -> list[dict[str, Any]]:
    """Run ``fn(params)`` for every trial without a record (all of them if ``fresh``); return all records.

    Each record is ``{"key", "params", "result", "seconds", "provenance", "finished"}``; ``result`` is
    what ``fn`` returned (must be JSON-writable). Records come back in the order of ``trials``; a trial
    listed twice is run once. ``provenance`` defaults to :func:`leaklib.runtime.provenance`.
    The sweep holds the lock on ``out_dir`` (:func:`leaklib.locks.hold_lock`): a second sweep or run on
    the same folder fails at once, naming this one. A stored record is trusted only if it is this trial's
    finished record (:func:`record_problem`); any other is recomputed, with a warning.

    ``workers`` (default ``$LEAKLIB_WORKERS``, else in-process) sends the trials without a record to Ray
    workers (:mod:`leaklib.distributed`: a count for a local instance, or a cluster address); each record is
    written here as its trial finishes, so a killed worker loses only its own trial.
    """
    from tqdm.auto import tqdm

    from .distributed import run_trials, workers_from_env
    from .runtime import provenance as default_provenance

    trials = [dict(t) if isinstance(t, Mapping) else t for t in trials]
    keys = [trial_key(t) for t in trials]  # validates every trial before anything runs
    root = ensure_writable_dir(out_dir)
    ensure_writable_dir(root / "trials")
    write_json(root / "sweep.json", {"keys": list(dict.fromkeys(keys))})
    workers = workers_from_env() if workers is None else workers
    given = dict(provenance) if provenance is not None else None
    by_key = dict(zip(keys, trials))
    records: dict[str, dict[str, Any]] = {}
    begun = time.perf_counter()

    def record(key: str, result: Any, seconds: float, prov: Mapping[str, Any]) -> None:
        path = root / "trials" / f"{key}.json"
        write_json(path, {"key": key, "params": by_key[key], "result": result, "seconds": seconds,
                          "provenance": dict(prov), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        records[key] = read_json(path)  # what is returned equals what a resumed run would load
        bar.update(1)
        report_trial(desc, len(records), len(by_key), len(records) - resumed, time.perf_counter() - begun)

    with tqdm(total=len(by_key), desc=desc, unit="trial") as bar:
        for key in by_key:  # a trial listed twice is run once
            stored = None if fresh else _read_record(root / "trials" / f"{key}.json")
            if stored is not None:
                records[key] = stored
        resumed = len(records)
        bar.update(resumed)
        if resumed:
            bar.set_postfix(resumed=resumed)
        pending = [(k, copy.deepcopy(t)) for k, t in by_key.items() if k not in records]  # fn cannot alter them
        if workers:
            run_trials(pending, fn, workers, record, given)
        else:
            prov = given or default_provenance()
            for key, params in pending:
                start = time.perf_counter()
                result = fn(params)
                record(key, result, time.perf_counter() - start, prov)
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
