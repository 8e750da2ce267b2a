"""Resumable sweeps: a SIGKILLed sweep resumes without redoing finished trials."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from leaklib.errors import LeaklibError
from leaklib.runs import flatten, load_flat, load_records, run_sweep, trial_key

TRIALS = [{"x": x, "seed": s} for x in (1, 2, 3) for s in (0, 1)] + [{"x": 0.5, "seed": 7, "tag": "a"}]

# The sweep function, shared by the killed subprocess and the in-process runs: deterministic in its
# parameters; it logs each call so that the test sees which trials were (re)computed.
SWEEP_MODULE = textwrap.dedent(
    r"""
    import json, random, sys, time

    def make_fn(log, delay):
        def fn(p):
            with open(log, "a") as f:
                f.write(json.dumps(p, sort_keys=True) + "\n")
            time.sleep(delay)
            rng = random.Random(p["seed"] * 1000 + int(p["x"] * 10))
            return {"y": p["x"] ** 2 + rng.random(), "noise": [rng.random() for _ in range(3)]}
        return fn

    if __name__ == "__main__":
        from leaklib.runs import run_sweep
        out_dir, log, delay, trials = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
        run_sweep(trials, make_fn(log, delay), out_dir, desc="test", provenance={"test": True})
    """
)


def sweep_module(tmp_path):
    path = tmp_path / "sweepfn.py"
    path.write_text(SWEEP_MODULE)
    spec = importlib.util.spec_from_file_location("sweepfn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def run_script(script, out_dir, log, delay):
    args = [sys.executable, str(script), str(out_dir), str(log), str(delay), json.dumps(TRIALS)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def results(records):
    return [(r["params"], r["result"]) for r in records]


def logged(log):
    return [json.loads(line) for line in Path(log).read_text().splitlines()] if Path(log).exists() else []


def test_trial_key_is_stable_and_order_free():
    assert trial_key({"a": 1, "b": [1, 2]}) == trial_key({"b": [1, 2], "a": 1})
    assert trial_key({"a": 1}) != trial_key({"a": 2})
    assert trial_key({"a": 1}) != trial_key({"a": "1"})
    assert len(trial_key({})) == 16
    with pytest.raises(LeaklibError, match="JSON values"):
        trial_key({"a": object()})
    with pytest.raises(LeaklibError, match="finite"):
        trial_key({"a": float("nan")})


def test_sigkill_then_resume_skips_finished_trials(tmp_path):
    out, log = tmp_path / "sweep", tmp_path / "calls.log"
    script, module = sweep_module(tmp_path)
    proc = run_script(script, out, log, delay=0.4)
    deadline = time.time() + 90
    while len(logged(log)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed; raise the delay"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= len(logged(log)) < len(TRIALS)

    # no half-written record: every record present parses and is complete
    written = sorted((out / "trials").glob("*.json"))
    assert 2 <= len(written) < len(TRIALS)
    for p in written:
        rec = json.loads(p.read_text())
        assert set(rec) >= {"key", "params", "result", "seconds", "provenance"} and rec["key"] == p.stem
    finished_keys = {p.stem for p in written}

    first_calls = len(logged(log))
    records = run_sweep(TRIALS, module.make_fn(log, 0), out, desc="resume", provenance={"test": True})
    second_calls = logged(log)[first_calls:]
    # finished trials were not run again; every other trial ran exactly once more
    assert {trial_key(p) for p in second_calls} == {trial_key(t) for t in TRIALS} - finished_keys
    assert len(second_calls) == len(TRIALS) - len(finished_keys)

    reference = run_sweep(TRIALS, module.make_fn(tmp_path / "other.log", 0), tmp_path / "clean", provenance={})
    assert results(records) == results(reference)
    assert [r["params"] for r in records] == TRIALS

    # fresh=True recomputes everything
    before = len(logged(log))
    again = run_sweep(TRIALS, module.make_fn(log, 0), out, fresh=True, provenance={})
    assert len(logged(log)) - before == len(TRIALS)
    assert results(again) == results(reference)


def test_duplicates_run_once_and_load_helpers(tmp_path):
    calls = []

    def fn(p):
        calls.append(p)
        return {"score": p["x"] * 10, "nested": {"a": p["x"]}, "x": -1}

    trials = [{"x": 1}, {"x": 2}, {"x": 1}]
    records = run_sweep(trials, fn, tmp_path, provenance={})
    assert len(calls) == 2 and len(records) == 3
    assert records[0] == records[2]
    assert [r["result"]["score"] for r in load_records(tmp_path, trials)] == [10, 20, 10]
    flat = load_flat(tmp_path)
    assert [f["x"] for f in flat] == [1, 2]  # order of the last sweep, duplicates once
    assert flat[0]["score"] == 10 and flat[0]["nested.a"] == 1 and flat[0]["result.x"] == -1
    assert flat[0]["seconds"] >= 0 and flat[0]["key"] == trial_key({"x": 1})
    assert flatten({"params": {"a": 1}, "result": 3.5})["result"] == 3.5
    with pytest.raises(LeaklibError, match="no finished record"):
        load_records(tmp_path, [{"x": 3}])
    with pytest.raises(LeaklibError, match="no sweep"):
        load_records(tmp_path / "nothing")


def test_unreadable_record_is_recomputed(tmp_path):
    calls = []
    fn = lambda p: calls.append(p) or {"v": p["x"]}  # noqa: E731
    run_sweep([{"x": 1}], fn, tmp_path, provenance={})
    (tmp_path / "trials" / f"{trial_key({'x': 1})}.json").write_text('{"key": "trunc')
    assert run_sweep([{"x": 1}], fn, tmp_path, provenance={})[0]["result"] == {"v": 1}
    assert len(calls) == 2
