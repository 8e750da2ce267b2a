"""Reliability of output folders, sweep records, claim checks and the gallery (issue #14, items 7, 8 and weak ones).

Read as a specification: one test per behaviour.
- Output folders are locked: a second run on a folder fails at once naming the holder; a killed holder
  leaves no stale lock; the holding thread may re-enter; different folders are independent.
- A sweep record is trusted only if it is the finished record of that very trial.
- A claim check cannot allocate without bound.
- One unreadable metrics.json does not break the gallery: it is skipped and named.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from leaklib.cli import main
from leaklib.errors import LeaklibError
from leaklib.locks import LOCK_NAME, hold_lock, lock_holder
from leaklib.references import (
    MAX_SEQUENCE,
    Row,
    check,
    evaluate,
    gallery_problems,
    write_gallery,
    write_metrics,
)
from leaklib.runs import run_sweep, trial_key

REPO = Path(__file__).resolve().parents[1]
HOLDER = (
    "import sys, time\n"
    "from leaklib.locks import hold_lock\n"
    "with hold_lock(sys.argv[1], 'test holder'):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(120)\n"
)


@contextmanager
def held_by_another_process(folder: Path) -> Iterator[subprocess.Popen]:
    """A separate Python process holding the lock on ``folder`` until the block ends (then it is killed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env=env)
    try:
        assert proc.stdout.readline().strip() == "held", "the holder process did not take the lock"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()


# ---------------------------------------------------------------- item 8: locks on output folders
def test_lock_file_names_the_holder_while_held_and_is_emptied_after(tmp_path):
    with hold_lock(tmp_path / "out", "leaklib attack") as folder:
        assert folder == tmp_path / "out" and (folder / LOCK_NAME).is_file()
        info = lock_holder(folder)
        assert info["pid"] == os.getpid() and info["what"] == "leaklib attack"
        assert info["host"] and info["command"] and info["started"].endswith("Z")
    assert lock_holder(tmp_path / "out") is None


def test_second_holder_in_another_process_is_refused_naming_the_first(tmp_path):
    with held_by_another_process(tmp_path) as holder:
        with pytest.raises(LeaklibError) as err:
            with hold_lock(tmp_path, "leaklib sweep"):
                pytest.fail("the lock was taken twice")
    message = str(err.value)
    assert "is in use by test holder" in message and f"pid {holder.pid}" in message
    assert "command" in message and "since" in message and "choose another folder" in message


def test_lock_is_released_when_the_holder_process_is_killed(tmp_path):
    with held_by_another_process(tmp_path) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with hold_lock(tmp_path, "after the crash"):  # no stale lock is left behind
            assert lock_holder(tmp_path)["pid"] == os.getpid()


def test_holding_thread_may_reenter_and_other_folders_are_independent(tmp_path):
    with hold_lock(tmp_path / "a", "runner"):
        with hold_lock(tmp_path / "a", "sweep inside"):  # same thread, same folder: no deadlock, no error
            pass
        with hold_lock(tmp_path / "b", "sweep elsewhere"):
            assert lock_holder(tmp_path / "b")["what"] == "sweep elsewhere"
        assert lock_holder(tmp_path / "a")["what"] == "runner"  # still held after the inner block
    with hold_lock(tmp_path / "a", "again"):  # fully released
        pass


def test_another_thread_of_the_same_process_is_refused(tmp_path):
    errors = []

    def other() -> None:
        try:
            with hold_lock(tmp_path, "thread"):
                pass
        except LeaklibError as e:
            errors.append(str(e))

    with hold_lock(tmp_path, "main thread"):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1 and "another thread of this process" in errors[0]


def test_empty_folder_name_is_refused(tmp_path):
    with pytest.raises(LeaklibError, match="output directory is empty"):
        with hold_lock("", "leaklib attack"):
            pass


def test_sweep_is_refused_while_its_folder_is_held(tmp_path):
    calls = []
    with held_by_another_process(tmp_path) as holder:
        with pytest.raises(LeaklibError, match=f"in use by test holder \\(pid {holder.pid} "):
            run_sweep([{"x": 1}], calls.append, tmp_path, provenance={})
    assert calls == [] and not (tmp_path / "trials").exists()
    assert run_sweep([{"x": 1}], lambda p: {"v": p["x"]}, tmp_path, provenance={})[0]["result"] == {"v": 1}


def test_attack_command_is_refused_while_its_out_is_held(tmp_path, capsys):
    out = tmp_path / "run"
    with held_by_another_process(out) as holder:
        code = main(["attack", "--model", "lenet-zhu", "--iterations", "1", "--quiet", "--device", "cpu",
                     "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "leaklib attack: error:" in err and f"pid {holder.pid}" in err
    assert not (out / "result.json").exists()


def test_bad_trial_is_refused_before_the_sweep_folder_is_created(tmp_path):
    with pytest.raises(LeaklibError, match="must be finite"):
        run_sweep([{"lr": float("nan")}], lambda p: 0, tmp_path / "sweep", provenance={})
    assert not (tmp_path / "sweep").exists()


# ---------------------------------------------------------------- sweep records are checked before they are trusted
def _sweep(tmp_path: Path, trials: list[dict], calls: list) -> list[dict]:
    return run_sweep(trials, lambda p: calls.append(p) or {"v": p["x"]}, tmp_path, provenance={})


def _record_file(tmp_path: Path, params: dict) -> Path:
    return tmp_path / "trials" / f"{trial_key(params)}.json"


def test_a_finished_record_is_resumed_without_warning(tmp_path):
    calls = []
    _sweep(tmp_path, [{"x": 1}], calls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _sweep(tmp_path, [{"x": 1}], calls)[0]["result"] == {"v": 1}
    assert len(calls) == 1


def test_record_with_null_result_is_recomputed_with_a_warning(tmp_path):
    calls = []
    _record_file(tmp_path, {"x": 1}).parent.mkdir(parents=True)
    _record_file(tmp_path, {"x": 1}).write_text('{"result": null}')
    with pytest.warns(UserWarning, match="not written by a finished trial.*runs again"):
        assert _sweep(tmp_path, [{"x": 1}], calls)[0]["result"] == {"v": 1}
    assert len(calls) == 1
    stored = json.loads(_record_file(tmp_path, {"x": 1}).read_text())
    stored["result"] = None  # all fields present, but no result
    _record_file(tmp_path, {"x": 1}).write_text(json.dumps(stored))
    with pytest.warns(UserWarning, match="null result"):
        _sweep(tmp_path, [{"x": 1}], calls)
    assert len(calls) == 2


def test_record_whose_stored_key_differs_from_its_file_name_is_recomputed(tmp_path):
    calls = []
    _sweep(tmp_path, [{"x": 1}], calls)
    path = _record_file(tmp_path, {"x": 1})
    path.write_text(json.dumps({**json.loads(path.read_text()), "key": "0" * 16}))
    with pytest.warns(UserWarning, match="stores key '0000000000000000', not its file name's"):
        _sweep(tmp_path, [{"x": 1}], calls)
    assert len(calls) == 2


def test_record_whose_params_belong_to_another_trial_is_recomputed(tmp_path):
    calls = []
    _sweep(tmp_path, [{"x": 2}], calls)
    other = json.loads(_record_file(tmp_path, {"x": 2}).read_text())  # x=2's record, relabelled as x=1's
    _record_file(tmp_path, {"x": 1}).write_text(json.dumps({**other, "key": trial_key({"x": 1})}))
    with pytest.warns(UserWarning, match='stores params {"x":2} whose key is'):
        assert _sweep(tmp_path, [{"x": 1}], calls)[0]["result"] == {"v": 1}
    assert len(calls) == 2


def test_trial_key_covers_every_setting():
    base = {"model": "lenet", "attack": {"iterations": 10, "tv": 1e-4, "restarts": [1, 2]}, "seed": 0,
            "labels": None, "fedavg": True}
    changed = [
        {**base, "model": "resnet"},
        {**base, "attack": {**base["attack"], "tv": 2e-4}},
        {**base, "attack": {**base["attack"], "restarts": [1, 3]}},
        {**base, "attack": {**base["attack"], "new_knob": 1}},  # a knob added later
        {**base, "seed": 1},
        {**base, "labels": "geng"},
        {**base, "fedavg": False},
        {k: v for k, v in base.items() if k != "labels"},  # a knob removed
    ]
    keys = {trial_key(t) for t in changed}
    assert trial_key(base) not in keys and len(keys) == len(changed)
    assert trial_key(dict(reversed(list(base.items())))) == trial_key(base)  # key order does not matter


# ---------------------------------------------------------------- claim checks cannot allocate without bound
@pytest.mark.parametrize("expr", ["lst * 100000000 == lst", "100000000 * lst == lst",
                                  "mean((lst * 5000) + lst) > 0"])
def test_claim_check_refuses_to_build_a_huge_sequence(expr):
    with pytest.raises(LeaklibError, match=f"would build a sequence of .* at most {MAX_SEQUENCE:,}"):
        evaluate(expr, {"lst": [1.0, 2.0]})


def test_claim_check_still_builds_small_sequences_and_refuses_powers():
    assert evaluate("mean(lst * 3) == 1.5", {"lst": [1.0, 2.0]}) is True
    with pytest.raises(LeaklibError, match="not allowed"):
        evaluate("2 ** 100000000 > 0", {})


def test_a_huge_claim_fails_its_row_instead_of_the_run():
    ref = {"notebook": "x", "profile": "quick", "values": {},
           "claims": [{"id": "big", "text": "t", "check": "mean(lst * 100000000) > 0"}]}
    (row,) = check({"lst": [1.0]}, ref)
    assert row.status == "FAIL" and "at most 10,000" in row.note


# ---------------------------------------------------------------- item 7: one bad metrics.json does not break the gallery
def test_gallery_skips_an_unreadable_metrics_json_and_names_it(tmp_path):
    figs = tmp_path / "figures"
    write_metrics("01_good", "quick", {"a": 1.0}, [Row("a", "value", "a reproduces", "1", "1 ± 0", "PASS")], figs)
    (figs / "02_truncated").mkdir()
    (figs / "02_truncated" / "metrics.json").write_text('{"notebook": "02_trunc')
    (figs / "03_wrong_rows").mkdir()
    (figs / "03_wrong_rows" / "metrics.json").write_text('{"rows": [{"id": 1}]}')
    out = write_gallery(figs)
    text = out.read_text()
    assert "## 01_good" in text and "1/1 checks passed" in text and "| PASS |  | a |" in text  # a value row: no seeds-held entry
    assert ("02_truncated: metrics.json unreadable (not valid JSON: Unterminated string" in text
            and "rerun with `leaklib notebooks --only 02_truncated`" in text)
    assert "03_wrong_rows: metrics.json unreadable (row 0 is not a claim row" in text
    problems = gallery_problems(figs)
    assert [nb for nb, _ in problems] == ["02_truncated", "03_wrong_rows"]
    assert problems[0][1].startswith("not valid JSON")
