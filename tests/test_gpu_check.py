"""leaklib gpu-check: its three parts and its JSON, tried on the CPU at tiny budgets (the GPU run is the real one)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from leaklib import gpu_check as gc
from leaklib.benchmarks import runner
from leaklib.cli import main
from leaklib.errors import LeaklibError


@pytest.fixture
def small_bench(monkeypatch):
    monkeypatch.setattr(runner, "breaching_available", lambda: None)
    monkeypatch.setattr(runner, "PEAK_SIZE", 64)


def _check(tmp_path, **kw):
    return gc.gpu_check(tmp_path, "cpu", iterations=3, restarts=2, bench_cases={"single": [2]},
                        bench_model="lenet-zhu", run_tests=False, progress=False, **kw)


def test_the_check_writes_one_json_with_every_part(tmp_path, small_bench):
    record = _check(tmp_path)
    assert json.loads((tmp_path / "gpu_check.json").read_text()) == json.loads(json.dumps(record))
    assert record["passed"] and record["device"] == "cpu"
    attack = record["paper_attack"]
    assert (attack["model"], attack["image"], attack["recipe"]) == ("resnet20-4", 0, "ig")
    assert attack["iterations"] == 3 and attack["restarts"] == 2 and math.isfinite(attack["psnr"])
    assert attack["peak_memory_gib"] is None  # only a GPU reports it
    bench = record["bench"]["record"]
    assert bench["device"] == "cpu" and [r["iterations"] for r in bench["cases"]["single"]["runs"]] == [2]
    assert "s / iteration" in record["bench"]["table"]
    assert record["cuda_tests"]["status"] == "skipped"


def test_an_interrupted_check_resumes_its_attack(tmp_path):
    first = gc.paper_attack("cpu", tmp_path, iterations=3, restarts=1, progress=False)
    again = gc.paper_attack("cpu", tmp_path, iterations=3, restarts=1, progress=False)
    assert first["resumed_from"] == 0 and again["resumed_from"] == 3 and again["psnr"] == first["psnr"]


def test_a_failing_part_is_recorded_and_the_others_still_run(tmp_path, small_bench, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(gc, "paper_attack", broken)
    record = _check(tmp_path)
    assert not record["passed"] and record["paper_attack"]["status"] == "failed"
    assert "out of memory" in record["paper_attack"]["error"] and record["bench"]["status"] == "passed"
    assert main(["gpu-check", "--device", "cpu", "--no-tests", "--iterations", "2", "--restarts", "1",
                 "--bench-iterations", "1", "--bench-model", "lenet-zhu", "--out", str(tmp_path)]) == 1


def test_cuda_tests_are_counted_from_a_child_pytest(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_gpu.py").write_text("import pytest\n\n\n@pytest.mark.cuda\ndef test_on_gpu():\n    pass\n\n\n"
                                       "def test_not_selected():\n    pass\n")
    result = gc.cuda_tests(tests)
    assert result["status"] == "passed" and result["passed"] == 1 and result["failures"] == 0
    (tests / "test_gpu.py").write_text("import pytest\n\n\n@pytest.mark.cuda\ndef test_on_gpu():\n    assert False\n")
    assert gc.cuda_tests(tests)["status"] == "failed"
    assert gc.cuda_tests(tmp_path / "none")["status"] == "skipped"


def test_without_a_gpu_cuda_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LeaklibError, match="no CUDA GPU"):
        gc.gpu_check(tmp_path, "cuda")
    assert main(["gpu-check", "--out", str(tmp_path)]) == 2 and not (tmp_path / "gpu_check.json").exists()
    assert main(["gpu-check", "--device", "cpu", "--bench-iterations", "x", "--out", str(tmp_path)]) == 2
