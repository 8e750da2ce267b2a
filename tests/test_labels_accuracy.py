"""The label-accuracy table and ``leaklib labels``: table shape, determinism, atomically written outputs."""

from __future__ import annotations

import json

import pytest

from leaklib.cli import main
from leaklib.errors import LeaklibError
from leaklib.labels import label_accuracy_table


def _strip_seconds(result):
    return {r: {k: v for k, v in row.items() if k != "seconds"} for r, row in result["rules"].items()}


def test_table_shape_and_determinism(tmp_path):
    kw = dict(batch_size=4, pattern="dup:2", trials=2, rules="yin,llg,geng,best,oracle", seed=3)
    a = label_accuracy_table("cifar10-sample", "mlp-16", out=tmp_path, **kw)
    b = label_accuracy_table("cifar10-sample", "mlp-16", **kw)
    assert _strip_seconds(a) == _strip_seconds(b)
    stored = json.loads((tmp_path / "labels.json").read_text())
    assert set(stored) >= {"rules", "config", "provenance"}
    assert (tmp_path / "labels.png").stat().st_size > 0
    for rule in ("yin", "llg", "geng", "best", "oracle"):
        row = stored["rules"][rule]
        assert 0 <= row["label_accuracy"] <= 1 and 0 <= row["exact_rate"] <= 1 and row["count_error"] >= 0
        assert row["trials"] == 2
    assert stored["rules"]["oracle"]["label_accuracy"] == 1.0 and stored["rules"]["oracle"]["count_error"] == 0
    assert stored["rules"]["yin"]["exact_rate"] == 0.0  # distinct labels only, but dup:2 repeats one
    assert stored["rules"]["best"]["alias_of"] == "peel"


def test_table_reports_skipped_rules_and_augmentation():
    res = label_accuracy_table("cifar10-sample", "mlp-16", batch_size=6, pattern="same", trials=1, rules="idlg,llg")
    assert "K = 1" in res["rules"]["idlg"]["skipped"]
    assert res["config"]["augmented_trials"] == 1 and "lacks the images" in res["config"]["augmented_note"]


def test_table_fedavg_and_bad_input():
    res = label_accuracy_table("cifar10-sample", "mlp-16", setting="fedavg", epochs=2, local_batch=2, batch_size=4,
                    trials=1, rules="geng,best")
    assert res["config"]["local_batch"] == 2 and res["rules"]["geng"]["trials"] == 1
    with pytest.raises(LeaklibError, match="valid label rules"):
        label_accuracy_table("cifar10-sample", "mlp-16", rules="geng,nope")
    with pytest.raises(LeaklibError, match="setting"):
        label_accuracy_table("cifar10-sample", "mlp-16", setting="fedprox")


def test_cli_labels(tmp_path, capsys):
    code = main(["labels", "--dataset", "cifar10-sample", "--model", "mlp-16", "--batch-size", "3",
                 "--trials", "1", "--rules", "analytic,best", "--out", str(tmp_path)])
    assert code == 0 and (tmp_path / "labels.json").exists()
    assert "analytic" in capsys.readouterr().out
    assert main(["labels", "--dataset", "cifar10-sample", "--model", "mlp-16", "--rules", "bogus",
                 "--out", str(tmp_path)]) == 2
