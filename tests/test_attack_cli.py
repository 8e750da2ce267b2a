"""``leaklib attack`` end to end on real sample images (a few iterations of a small model)."""

from __future__ import annotations

import pytest

from leaklib.attack import AttackConfig
from leaklib.cli import main
from leaklib.io import read_json


def test_attack_command_writes_result_and_figure(tmp_path):
    out = tmp_path / "run"
    code = main(["attack", "--dataset", "cifar10-sample", "--indices", "0", "1", "--model", "lenet-zhu",
                 "--labels", "known", "--method", "ig", "--iterations", "3", "--restarts", "2", "--quiet",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    result = read_json(out / "result.json")
    for key in ("psnr", "ssim", "mse", "label_accuracy", "seconds", "iterations", "per_image", "config",
                "seed", "provenance"):
        assert key in result, key
    assert result["iterations"] == 3 and result["config"]["restarts"] == 2 and result["label_accuracy"] == 1.0
    assert len(result["per_image"]) == 2 and result["true_labels"] == [3, 8]
    assert (out / "reconstruction.png").stat().st_size > 0 and (out / "reconstruction.pt").exists()


def test_attack_command_fedavg_with_a_label_rule_and_dlg(tmp_path):
    out = tmp_path / "fedavg"
    code = main(["attack", "--indices", "2", "--model", "lenet-zhu", "--setting", "fedavg", "--epochs", "2",
                 "--local-lr", "0.1", "--labels", "idlg", "--method", "dlg", "--iterations", "3", "--quiet",
                 "--out", str(out)])
    assert code == 0
    result = read_json(out / "result.json")
    assert result["fedavg"]["epochs"] == 2 and result["config"]["optimizer"] == "lbfgs"
    assert result["attack"]["labels"] == [8]  # iDLG recovers the single label


@pytest.mark.parametrize("argv, message", [
    (["--labels", "nonsense"], "label rule"),
    (["--iterations", "0"], "iterations must be > 0"),
    (["--tv", "-1"], "tv weight"),
    (["--scales", "0"], "scales must be > 0"),
])
def test_attack_command_bad_input(tmp_path, capsys, argv, message):
    code = main(["attack", "--model", "lenet-zhu", "--quiet", "--out", str(tmp_path / "x"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_attack_command_method_presets_and_overrides():
    import argparse

    from leaklib.cli.attack import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["attack", "--out", "x", "--method", "ig-fast"]
    fast = config_from_args(parser.parse_args(base))
    assert fast == AttackConfig.preset("ig-fast")  # no flag given: the preset's own values
    changed = config_from_args(parser.parse_args(base + ["--tv", "1e-4", "--init", "uniform"]))
    assert (changed.tv, changed.init, changed.lr) == (1e-4, "uniform", fast.lr)
    shaped = config_from_args(parser.parse_args(base + ["--scales", "2", "--lr-schedule", "cosine"]))
    assert (shaped.scales, shaped.lr_schedule, shaped.tv) == (2, "cosine", fast.tv)
