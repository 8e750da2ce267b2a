"""The paper profile's preflight (issue #17): everything a paper run lacks, listed at once, before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from leaklib.errors import LeaklibError
from leaklib.notebooks import find_notebooks, run_notebooks
from leaklib.preflight import paper_preflight, preflight_message, trained_models

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT / "notebooks")


@pytest.fixture
def bare_machine(tmp_path, monkeypatch):
    """No full dataset under the data root, no `leaklib train` weights in the cache, no GPU."""
    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return tmp_path / "data"


def test_trained_models_are_the_plus_trained_cases_and_the_dishonest_servers_model():
    assert trained_models({"cases": ["lenet-zhu", "resnet20-4+trained"], "twins": ["resnet20-4+trained"]}) == {
        "resnet20-4"}
    assert trained_models({"dishonest_model": "keras-cifar-cnn", "padding_model": "resnet20-4"}) == {"keras-cifar-cnn"}


def test_a_bare_machine_gets_every_missing_dataset_checkpoint_and_the_gpu_in_one_list(bare_machine):
    missing = {m.what: m for m in paper_preflight(NOTEBOOKS, "auto", bare_machine)}
    assert {"dataset cifar10", "dataset cifar100", "dataset imagenet", "a CUDA GPU", "trained weights of resnet20-4 for cifar10",
            "trained weights of lenet-zhu for cifar10"} <= set(missing)
    assert "03_trained_vs_untrained" in missing["dataset cifar10"].notebooks
    assert missing["dataset cifar100"].notebooks == ("09_large_batch",)
    assert missing["dataset imagenet"].notebooks == ("01_duplicate_label_recovery",)  # Geng's batches of 16
    assert missing["trained weights of resnet20-4 for cifar10"].fix == (
        "leaklib train --model resnet20-4 --dataset cifar10 --epochs 120")
    assert len(missing["a CUDA GPU"].notebooks) == len(NOTEBOOKS)
    text = preflight_message(list(missing.values()))
    assert "leaklib data download cifar100" in text and "nothing was run" in text


def test_the_wheel_weights_and_the_offline_samples_count_as_present(bare_machine):
    eight = [nb for nb in NOTEBOOKS if nb.stem.startswith("08")]  # keras-cifar-cnn (wheel), cifar10-sample
    assert paper_preflight(eight, "cpu", bare_machine) == []


def test_a_dataset_override_is_what_the_preflight_checks(bare_machine):
    seven = [nb for nb in NOTEBOOKS if nb.stem.startswith("07")]
    assert [m.what for m in paper_preflight(seven, "cpu", bare_machine)] == ["dataset cifar10"]
    assert paper_preflight(seven, "cpu", bare_machine, {"dataset": "cifar10-sample"}) == []


def test_a_paper_run_stops_at_the_preflight_before_anything_runs(bare_machine, tmp_path):
    figures = tmp_path / "figures"
    with pytest.raises(LeaklibError, match=r"(?s)paper profile cannot start.*dataset cifar10.*a CUDA GPU"):
        run_notebooks(profile="paper", notebooks_dir=ROOT / "notebooks", figures_dir=figures,
                      parameters={"data_root": str(bare_machine)}, progress_bar=False)
    assert not figures.exists()


def test_the_estimate_times_a_warm_up_of_each_kind_of_attack(bare_machine):
    """04 at widths 1 and 2 on one image: two kinds of trial, each timed on the CPU at 1 and 3 iterations."""
    from leaklib.preflight import paper_settings
    from leaklib.workload import estimate, estimate_table, workloads

    cfg = paper_settings("04_width_depth", {"widths": [1, 2], "depths": [20], "depth_width": 1, "images": [0, 1, 2],
                                            "iterations": 24_000, "depth_iterations": 24_000, "restarts": 1,
                                            "depth_restarts": 1})
    kinds = workloads("04_width_depth", cfg)
    assert [(w.what, w.count, w.iterations) for w in kinds] == [("resnet20-1, 24000 it x 1", 3, 24_000),
                                                                ("resnet20-2, 24000 it x 1", 3, 24_000)]
    longer = workloads("04_width_depth", {**cfg, "depth_iterations": 30_000})  # resnet20-1 in both studies
    assert [(w.count, w.iterations) for w in longer] == [(3, 24_000), (3, 24_000), (3, 30_000)]
    restarted = workloads("04_width_depth", {**cfg, "depth_restarts": 2})  # the depth study's own restarts
    assert [(w.what, w.trial["restarts"]) for w in restarted][-1] == ("resnet20-1, 24000 it x 2", 2)
    found = estimate("04_width_depth", cfg, "cpu", warm_up=(1, 3), log=lambda _: None)
    assert all(e.seconds_per_iteration > 0 and e.peak_memory_gib is None for e in found)
    narrow, wide = found
    assert narrow.hours == pytest.approx(3 * (narrow.setup_seconds + 24_000 * narrow.seconds_per_iteration) / 3600)
    table = estimate_table(found, "cpu", (1, 3))
    assert "04_width_depth" in table and "total" in table and "6" in table.splitlines()[-1]


def test_preflight_only_reports_what_is_missing_and_runs_nothing(bare_machine, tmp_path):
    from leaklib.cli import main

    assert main(["notebooks", "--profile", "paper", "--preflight", "--only", "07",
                 "--notebooks-dir", str(ROOT / "notebooks"), "--figures-dir", str(tmp_path / "figures")]) == 2
    assert not (tmp_path / "figures").exists()
    assert main(["notebooks", "--profile", "quick", "--preflight", "--only", "07",
                 "--notebooks-dir", str(ROOT / "notebooks")]) == 2


def test_every_notebook_has_a_workload():
    from leaklib.preflight import paper_settings
    from leaklib.workload import workloads

    for nb in NOTEBOOKS:
        kinds = workloads(nb.stem, paper_settings(nb))
        assert kinds and all(w.count > 0 and w.iterations > 0 for w in kinds), nb.stem
