"""The paper profile on a CPU, at a tiny budget (issue #17): every notebook runs its published settings to the
end (real model sizes, batch sizes and datasets in their real on-disk formats, trained weights made by
``leaklib train``), with only the iterations, the number of images or batches, and the trial counts
overridden down. The claims cannot hold at 2 iterations; what is checked is that every paper claim is
evaluated on names the run measured, i.e. that each code path of the paper profile executes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_data_formats import write_cifar10, write_cifar100, write_imagenet

from leaklib.preflight import paper_settings
from leaklib.profiles import settings
from leaklib.references import check_names, load_reference
from leaklib.workload import workloads

ROOT = Path(__file__).resolve().parents[1]

# notebook -> the knobs this test turns down (iterations, images or batches, trials); every other knob is the
# paper profile's own
TINY: dict[str, dict] = {
    "01_duplicate_label_recovery": {"label_trials": 1, "large_trials": 1, "image_seeds": [0], "iterations": 2},
    "02_same_class_fusion": {"same_classes": [8], "seeds": [0], "iterations": 2},
    "03_trained_vs_untrained": {"images": [0], "ig_iterations": 2, "dlg_iterations": 2},
    "04_width_depth": {"images": [0], "iterations": 2, "depth_iterations": 2},
    # unrolling 100 local steps is the code path of unrolling 2 (248 s for one iteration at 100 epochs on 2 cores)
    "05_fedavg_epochs": {"images": [0], "iterations": 1, "epochs": [1, 2], "label_epochs": [1, 2], "label_trials": 1},
    "06_label_errors": {"seeds": [0], "iterations": 2},
    # matching 2 updates is the code path of matching 8 (4 updates of ResNet20-4 took 191 s for 2 iterations)
    "07_multiple_updates": {"seeds": [0], "iterations": 2, "updates": [1, 2]},
    "08_analytic_and_dishonest": {"dishonest_images": [0, 1], "norm_images": [0, 1], "shift_images": [0],
                                  "padding_images": [0], "dishonest_iterations": 2, "padding_iterations": 2},
    # 8 restarts of ResNet32-10 on 100 images would take ~10 GB and minutes per step on a CPU: 1 restart
    "09_large_batch": {"iterations": 1, "restarts": 1},
}
TRAINED = [("lenet-zhu", "cifar10"), ("resnet20-4", "cifar10")]  # 03's trained twins
WNIDS = [f"n0{1440764 + i}" for i in range(16)]  # 16 classes: Geng's batch of 16 with all labels distinct


def test_every_notebook_has_its_tiny_budget_and_only_turns_down_budgets():
    for notebook, tiny in TINY.items():
        paper = settings(notebook, "paper")
        assert set(tiny) <= set(paper), notebook
        for knob, value in tiny.items():
            small = len(value) if isinstance(value, list) else value
            large = len(paper[knob]) if isinstance(paper[knob], list) else paper[knob]
            assert small <= large, (notebook, knob)


@pytest.fixture(scope="module")
def paper_machine(tmp_path_factory):
    """Full CIFAR-10, CIFAR-100 and ImageNet in their on-disk formats (small), and trained weights from
    ``leaklib train`` on them, in a cache of their own."""
    root = tmp_path_factory.mktemp("paper-data")
    cache = tmp_path_factory.mktemp("paper-cache")
    # test split of 40: image 0..19 and a class with 8 images (one label 8 times in a batch of 16)
    write_cifar10(root, per_batch=40, labels=[0] * 8 + [i % 10 for i in range(32)])
    write_cifar100(root, n=110, labels=[i % 100 for i in range(110)])
    write_imagenet(root, per_class=8, wnids=WNIDS)
    env = {"LEAKLIB_CACHE": str(cache), "LEAKLIB_DATA": str(root)}
    for model, dataset in TRAINED:
        subprocess.run([sys.executable, "-m", "leaklib", "train", "--model", model, "--dataset", dataset,
                        "--epochs", "1", "--batch-size", "16", "--root", str(root), "--quiet", "--device", "cpu"],
                       check=True, env={**os.environ, **env}, capture_output=True)
    return root, env


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("notebook", list(TINY))
def test_the_paper_profile_runs_to_the_end_at_a_tiny_budget(notebook, paper_machine, tmp_path, monkeypatch):
    from leaklib.notebooks import run_notebooks

    root, env = paper_machine
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    runs = run_notebooks(only=[notebook], profile="paper", device="cpu", strict=False, progress_bar=False,
                         parameters={**TINY[notebook], "data_root": str(root), "output_dir": str(tmp_path / "runs")},
                         notebooks_dir=ROOT / "notebooks", figures_dir=tmp_path / "figures",
                         executed_dir=tmp_path / "executed", references_dir=ROOT / "notebooks" / "references")
    assert [r.status for r in runs] == ["ran"], f"{runs[0].status}: {runs[0].error}"
    metrics = json.loads((tmp_path / "figures" / "paper" / notebook / "metrics.json").read_text())
    claims = load_reference(notebook, "paper", ROOT / "notebooks" / "references")["claims"]
    assert [r["id"] for r in metrics["rows"] if r["kind"] == "claim"] == [c["id"] for c in claims]
    unmeasured = {c["id"]: [n for n in check_names(c["check"]) if n not in metrics["measured"]] for c in claims}
    assert not any(unmeasured.values()), unmeasured
    # the preflight's estimate counts the same attacks as the notebook ran (leaklib.workload mirrors each sweep)
    attacks = [r for f in (tmp_path / "runs").rglob("trials/*.json")
               if "recipe" in (r := json.loads(f.read_text()))["params"]]
    cfg = paper_settings(notebook, TINY[notebook])
    assert len(attacks) == sum(w.count for w in workloads(notebook, cfg)), notebook
    expected_iterations = sorted({w.iterations for w in workloads(notebook, cfg)})
    assert sorted({r["params"]["iterations"] for r in attacks}) == expected_iterations
