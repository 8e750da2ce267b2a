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
