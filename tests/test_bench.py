"""leaklib.benchmarks: ratio arithmetic, the summary/table/JSON structure, the no-breaching path (no timing asserted)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from leaklib.benchmarks import breaching_adapter, runner
from leaklib.benchmarks.phases import PHASES
from leaklib.benchmarks.problem import RunRecord
from leaklib.benchmarks.report import difference, ratio, summarize, summarize_case, table, time_to_reach
from leaklib.cli import main
from leaklib.errors import LeaklibError


def test_ratio_difference_summarize():
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 4.0) is None and ratio(1.0, 0.0) is None and ratio(1.0, None) is None
    assert difference(19.5, 14.0) == 5.5 and difference(None, 1.0) is None
    s = summarize([3.0, 1.0, None, 2.0, float("nan")])
    assert s == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert summarize([None]) == {"median": None, "min": None, "max": None, "n": 0}


def test_time_to_reach_first_crossing():
    curve = [[0.0, 0, 8.0], [1.0, 10, 12.0], [2.0, 20, 14.5], [3.0, 30, 13.0], [4.0, 40, 15.0]]
    assert time_to_reach(curve, 14.0) == 2.0
    assert time_to_reach(curve, 15.0) == 4.0
    assert time_to_reach(curve, 16.0) is None


def _runs() -> list[RunRecord]:
    """Two repeats: breaching 10 s per 100 it, leaklib 2 s per 100 it, and a leaklib run on 10 s."""
    runs = []
    for seed in (0, 1):
        b = [[0.0, 0, 8.0], [10.0, 100, 14.0]]
        runs.append(RunRecord("breaching", "iterations", 100, 10.0, 14.0, seed, b))
        runs.append(RunRecord("leaklib", "iterations", 100, 2.0, 16.0, seed,
                              [[0.0, 0, 8.0], [0.5, 25, 14.2], [2.0, 100, 16.0]]))
        runs.append(RunRecord("leaklib", "time", 500, 10.0, 20.0 + seed, seed, [[10.0, 500, 20.0 + seed]], 10.0))
    return runs


def test_summarize_case_ratios():
    s = summarize_case(_runs(), [100], {"leaklib": 2e9, "breaching": 2e9}, peak_gflops=100.0)
    assert s["seconds_per_iteration"]["ratio"] == pytest.approx(0.2)
    assert s["gflops"]["leaklib"] == pytest.approx(100.0) and s["gflops"]["breaching"] == pytest.approx(20.0)
    assert s["fraction_of_peak"]["leaklib"] == pytest.approx(1.0)
    p = s["psnr_equal_iterations"]["100"]
    assert p["difference_db"] == pytest.approx(2.0) and p["ratio"] == pytest.approx(16 / 14)
    t = s["psnr_equal_time"]
    assert t["leaklib"]["median"] == pytest.approx(20.5) and t["difference_db"] == pytest.approx(6.5)
    reach = s["time_to_breaching_final_psnr"]
    assert reach["ratio"] == pytest.approx(0.05) and reach["leaklib_reached"] == "2/2"


def test_summarize_case_without_breaching_flops():
    """breaching's FLOPs could not be counted (FedAvg): its throughput is None, everything else is there."""
    s = summarize_case(_runs(), [100], {"leaklib": 2e9}, peak_gflops=100.0)
    assert s["gflops"]["breaching"] is None and s["gflops"]["ratio"] is None
    assert s["fraction_of_peak"]["breaching"] is None and s["fraction_of_peak"]["leaklib"] == pytest.approx(1.0)
    assert s["psnr_equal_iterations"]["100"]["difference_db"] is not None


def test_summarize_case_restarts_count_breaching_trials():
    """breaching's R restarts run one after another: its record counts R x iterations."""
    runs = [RunRecord("breaching", "iterations", 800, 80.0, 14.0, 0, [[80.0, 800, 14.0]]),
            RunRecord("leaklib", "iterations", 100, 20.0, 15.0, 0, [[20.0, 100, 15.0]])]
    s = summarize_case(runs, [100], {"leaklib": 8e9, "breaching": 8e9}, None, restarts=8)
    assert s["seconds_per_iteration"]["breaching"]["median"] == pytest.approx(0.8)
    assert s["seconds_per_iteration"]["ratio"] == pytest.approx(0.25)
    assert s["fraction_of_peak"]["leaklib"] is None


def test_table_and_json_structure():
    record = {"breaching": "0.1.2", "peak": {"best_gflops": 100.0, "median_gflops": 90.0, "size": 2048},
              "repeats": 2, "cases": {"single": {"summary": summarize_case(
                  _runs(), [100], {"leaklib": 2e9, "breaching": 2e9}, 100.0)}}}
    text = table(record)
    for needle in ("s / iteration", "GFLOP/s", "fraction of matmul peak", "PSNR dB @ 100 it", "PSNR dB @ 10 s",
                   "s to 14.00 dB", "leaklib/breaching"):
        assert needle in text
    json.dumps(record)  # plain values only


def test_leaklib_alone_summary_has_no_ratios():
    runs = [r for r in _runs() if r.library == "leaklib" and r.budget == "iterations"]
    s = summarize_case(runs, [100], {"leaklib": 2e9}, 100.0)
    assert s["seconds_per_iteration"]["ratio"] is None and s["psnr_equal_time"]["ratio"] is None
    assert s["seconds_per_iteration"]["breaching"]["median"] is None
    assert "-" in table({"breaching": None, "peak": {"best_gflops": 1.0}, "repeats": 1,
                         "cases": {"single": {"summary": s}}})


def test_bad_input_is_one_line_error(tmp_path):
    with pytest.raises(LeaklibError, match="unknown benchmark case"):
        runner.run_benchmark(["nope"], {"nope": [1]})
    assert main(["bench", "--cases", "single", "--iterations", "0", "--out", str(tmp_path)]) == 2


def test_no_breaching_detected(monkeypatch):
    monkeypatch.setattr(breaching_adapter.importlib.util, "find_spec", lambda name: None)
    assert breaching_adapter.breaching_available() is None


def test_matmul_peak_is_positive():
    peak = runner.matmul_peak(size=64, repeats=2)
    assert peak["best_gflops"] > 0 and math.isfinite(peak["median_gflops"])


def test_leaklib_alone_end_to_end_on_a_tiny_budget(tmp_path, monkeypatch):
    """The whole command without breaching: table printed, bench.json with runs, curves and summary."""
    monkeypatch.setattr(runner, "breaching_available", lambda: None)
    monkeypatch.setattr(runner, "PEAK_SIZE", 128)
    code = main(["bench", "--cases", "single,restarts8", "--iterations", "2,3", "--repeats", "1", "--every", "1",
                 "--model", "lenet-zhu", "--out", str(tmp_path)])
    assert code == 0
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["breaching"] is None and set(record["cases"]) == {"single", "restarts8"}
    single = record["cases"]["single"]
    assert [r["iterations"] for r in single["runs"]] == [2, 3]  # no time-budget run without breaching
    assert all(r["library"] == "leaklib" and r["curve"][-1][2] == r["psnr"] for r in single["runs"])
    assert [row[1] for row in single["runs"][1]["curve"]] == [1, 2, 3, 3]  # every iteration, then the final image
    assert single["flops_per_iteration"]["leaklib"] > 0
    eight = record["cases"]["restarts8"]["flops_per_iteration"]["leaklib"]  # the same work per restart, x8
    assert eight == pytest.approx(8 * single["flops_per_iteration"]["leaklib"], rel=1e-6)
    assert set(record["profile"]["seconds"]) == set(PHASES)
    assert "not importable" in record["table"] and "PSNR dB @ 3 it" in record["table"]
    assert record["device"] == "cpu" and record["peak"]["device"] == "cpu"
    assert record["provenance"]["device"] == "cpu"


def test_cuda_without_a_gpu_stops_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LeaklibError, match="no CUDA GPU"):
        runner.run_benchmark(["single"], {"single": [1]}, device="cuda", use_breaching=False)
    assert main(["bench", "--device", "cuda", "--cases", "single", "--iterations", "1", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "bench.json").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_on_cuda_times_the_device(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "breaching_available", lambda: None)
    code = main(["bench", "--device", "cuda", "--cases", "single", "--iterations", "2,3", "--repeats", "1",
                 "--model", "lenet-zhu", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "bench.json").read_text())
    assert code == 0 and record["device"].startswith("cuda") and record["peak"]["best_gflops"] > 0
    assert all(r["seconds"] > 0 for r in record["cases"]["single"]["runs"])
