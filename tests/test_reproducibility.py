"""Same seed, same machine, same numbers: an attack, a label benchmark and a notebook, each run twice."""

import json

import pytest

from leaklib.cli import main
from leaklib.notebooks import find_notebooks, profile_dir, run_notebooks

TIMING = {"seconds", "seconds_per_iteration", "created", "written", "threads"}


def _strip(obj):
    """The record without wall-clock fields (timings differ run to run; everything else must not)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_attack_twice_gives_identical_result_json(tmp_path):
    args = ["attack", "--dataset", "cifar10-sample", "--indices", "0", "1", "--model", "lenet-zhu",
            "--iterations", "4", "--restarts", "2", "--seed", "3", "--quiet"]
    for run in ("a", "b"):
        assert main([*args, "--out", str(tmp_path / run)]) == 0
    a, b = (json.loads((tmp_path / r / "result.json").read_text()) for r in ("a", "b"))
    assert a["psnr"] == b["psnr"] and a["per_image"] == b["per_image"]
    assert _strip(a) == _strip(b)
    assert a["provenance"]["seed"] == 3 and "torch" in a["provenance"] and "leaklib" in a["provenance"]


def test_label_benchmark_twice_gives_identical_labels_json(tmp_path):
    args = ["labels", "--dataset", "cifar10-sample", "--model", "lenet-zhu", "--batch-size", "4",
            "--pattern", "random", "--trials", "3", "--rules", "geng,yin,llg", "--seed", "5"]
    for run in ("a", "b"):
        assert main([*args, "--out", str(tmp_path / run)]) == 0
    a, b = (json.loads((tmp_path / r / "labels.json").read_text()) for r in ("a", "b"))
    assert _strip(a) == _strip(b)


@pytest.mark.notebook
def test_notebook_smoke_twice_gives_identical_metrics(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    notebooks = find_notebooks(root / "notebooks")
    if not notebooks:
        pytest.skip("no notebooks yet")
    name = notebooks[0].stem
    measured = []
    for run in ("a", "b"):
        runs = run_notebooks(only=[name], profile="smoke", device="cpu", fresh=True,
                             parameters={"output_dir": str(tmp_path / run / "runs")},
                             notebooks_dir=root / "notebooks", figures_dir=tmp_path / run / "figures",
                             executed_dir=tmp_path / run / "executed", progress_bar=False)
        assert runs[0].status == "ran", runs[0].error
        metrics = profile_dir(tmp_path / run / "figures", "smoke") / name / "metrics.json"
        measured.append(json.loads(metrics.read_text())["measured"])
    assert _strip(measured[0]) == _strip(measured[1])
