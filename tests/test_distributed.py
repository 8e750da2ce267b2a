"""A sweep's trials on Ray workers (issue #17): the same records as in-process, and a killed worker loses only
its own trial. A local Ray instance with 2 workers on the CPU stands in for a cluster."""

from __future__ import annotations

import os
import time

import pytest
import torch

from leaklib.errors import LeaklibError
from leaklib.runs import load_records, run_sweep

ray = pytest.importorskip("ray")

TRIALS = [{"seed": s, "size": 48} for s in range(6)]


@pytest.fixture(scope="module")
def two_workers():
    import sys

    from leaklib.distributed import connect

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    connect(2)
    yield 2
    ray.shutdown()


def trial(p):
    g = torch.Generator().manual_seed(p["seed"])
    x = torch.randn(p["size"], p["size"], generator=g)
    time.sleep(0.3)  # long enough that both workers take trials
    return {"value": float((x @ x).tanh().sum()), "threads": torch.get_num_threads(), "pid": os.getpid()}


@pytest.mark.slow
def test_two_workers_give_the_records_of_the_in_process_sweep(two_workers, tmp_path):
    threads = torch.get_num_threads()
    local = run_sweep(TRIALS, trial, tmp_path / "local")
    remote = run_sweep(TRIALS, trial, tmp_path / "remote", workers=two_workers)
    strip = lambda records: [(r["params"], {k: v for k, v in r["result"].items() if k != "pid"}) for r in records]  # noqa: E731
    assert strip(remote) == strip(local)
    assert {r["result"]["threads"] for r in remote} == {threads}  # each task ran with the driver's thread count
    pids = {r["result"]["pid"] for r in remote}
    assert os.getpid() not in pids and len(pids) == 2  # on the two workers, not in this process
    assert load_records(tmp_path / "remote", TRIALS) == remote


@pytest.mark.slow
def test_a_killed_worker_loses_only_its_trial_and_the_resume_runs_only_that_one(two_workers, tmp_path):
    marker, log = tmp_path / "crashed-once", tmp_path / "ran.log"

    def fragile(p):
        with open(log, "a") as f:
            f.write(f"{p['seed']}\n")
        if p["seed"] == 3 and not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies mid-trial
        return trial(p)

    out = tmp_path / "sweep"
    with pytest.raises(LeaklibError, match=r"1 trial\(s\) did not finish.*run the sweep again"):
        run_sweep(TRIALS, fragile, out, workers=two_workers)
    kept = {r["params"]["seed"]: r["finished"] for r in load_records(out)}
    assert sorted(kept) == [0, 1, 2, 4, 5]
    log.unlink()
    resumed = run_sweep(TRIALS, fragile, out, workers=two_workers)
    assert log.read_text().split() == ["3"]  # only the lost trial ran again
    assert [r["params"]["seed"] for r in resumed] == [0, 1, 2, 3, 4, 5]
    assert {r["params"]["seed"]: r["finished"] for r in resumed if r["params"]["seed"] != 3} == kept


def test_workers_come_from_the_environment_and_bad_values_are_refused(monkeypatch):
    from leaklib.distributed import WORKERS_ENV, check_workers, workers_from_env

    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert workers_from_env() is None
    monkeypatch.setenv(WORKERS_ENV, "4")
    assert workers_from_env() == 4
    monkeypatch.setenv(WORKERS_ENV, "ray://head:10001")
    assert workers_from_env() == "ray://head:10001"
    assert check_workers("2") == 2 and check_workers("auto") == "auto"
    for bad in ("0", "-3", " "):
        with pytest.raises(LeaklibError, match="positive number or a Ray cluster address"):
            check_workers(bad)
