"""``leaklib attack`` end to end on real sample images (a few iterations of a small model)."""

from __future__ import annotations

import pytest

from leaklib.attack import METHODS, AttackConfig
from leaklib.cli import main
from leaklib.experiments import Experiment
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


def _parser():
    import argparse

    from leaklib.cli.attack import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser


@pytest.mark.parametrize("method", METHODS)
def test_no_flags_give_exactly_the_presets_config(method):
    from leaklib.cli.attack import config_from_args

    assert config_from_args(_parser().parse_args(["attack", "--out", "x", "--method", method])) == \
        AttackConfig.preset(method)


def test_no_method_gives_the_ig_preset_and_the_default_experiment():
    from leaklib.cli.attack import config_from_args, experiment_from_args

    args = _parser().parse_args(["attack", "--out", "x"])
    config = config_from_args(args)
    assert config == AttackConfig.preset("ig")
    assert experiment_from_args(args, config) == Experiment(client_bn=config.bn_mode)


def test_a_presets_values_are_not_overridden_by_flags_left_out(monkeypatch):
    """A preset that sets restarts, bn_prior, fedavg, bn_mode or checkpoint_every keeps them without flags."""
    from leaklib.cli.attack import CONFIG_FLAGS, config_from_args, experiment_from_args

    preset = AttackConfig.preset.__func__
    chosen = {"restarts": 3, "bn_prior": 0.5, "fedavg": "pseudo", "bn_mode": "train", "checkpoint_every": 7}

    def preset_with_more(cls, method, **overrides):
        return preset(cls, method, **{**chosen, **overrides})

    monkeypatch.setattr(AttackConfig, "preset", classmethod(preset_with_more))
    args = _parser().parse_args(["attack", "--out", "x", "--setting", "fedavg"])
    config = config_from_args(args)
    assert {k: getattr(config, k) for k in chosen} == chosen
    assert experiment_from_args(args, config).client_bn == "train"  # the client's batch norm follows the preset's
    given = config_from_args(_parser().parse_args(["attack", "--out", "x", "--restarts", "2", "--model-mode", "eval"]))
    assert (given.restarts, given.bn_mode, given.bn_prior) == (2, "eval", 0.5)
    fields = set(AttackConfig.__dataclass_fields__)
    assert set(CONFIG_FLAGS.values()) <= fields  # every flag names a real field


def test_every_experiment_flag_names_an_experiment_field():
    from leaklib.cli.attack import EXPERIMENT_FLAGS

    assert set(EXPERIMENT_FLAGS) <= set(Experiment.__dataclass_fields__)
