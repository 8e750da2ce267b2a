"""Reliability of inputs (issue #14, items 1-3 and the weak ones next to them), as a specification.

1. A file planted in an output folder cannot run code: checkpoints load with ``weights_only=True``, and a
   truncated, wrong-typed or non-dict file is a one-line LeaklibError naming it. Kill-and-resume stays exact.
2. NaN and infinity are no settings: every number is finite and in range where the config is built; JSON
   writers refuse infinities; trained weights holding NaN/inf are refused when loaded, and a diverging
   training run stops instead of saving them.
3. Huge numbers get a clear bound, not an allocation: iterations, restarts, levels, local epochs, seeds.
Weak: files keep the umask's mode; the client refuses images and labels the model cannot take; FedAvg-only
options with ``--setting fedsgd`` and an empty ``--out`` are refused.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leaklib.attack import AttackConfig, AttackResult, invert
from leaklib.cli import main
from leaklib.errors import LeaklibError, check_positive, check_seed
from leaklib.fl import fedavg_update, fedsgd_update
from leaklib.io import read_json, save_torch, write_json, write_text
from leaklib.models import build, save_trained, trained_path
from leaklib.train import TrainConfig, train

SHAPE = (3, 8, 8)
NAN, INF = float("nan"), float("inf")


class Tiny(nn.Module):
    """conv-ReLU-linear, 5 classes, on 3x8x8 images: an attack step takes milliseconds."""

    num_classes = 5

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x)).flatten(1))


class Payload:
    """An object whose unpickling creates ``marker`` (any callable would run the same way: a shell command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


class Stop(Exception):
    """Raised by a callback to kill an attack mid-run."""


@pytest.fixture
def client() -> tuple[Tiny, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return Tiny().eval(), torch.randn(2, *SHAPE), torch.tensor([1, 3])


def _attack(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, path: Path | None = None,
            callback=None, **config) -> AttackResult:
    obs = fedsgd_update(model, images, labels)
    cfg = AttackConfig(**{"iterations": 6, "restarts": 2, "checkpoint_every": 2, **config})
    return invert(model, obs, labels, cfg, image_shape=SHAPE, device="cpu", progress=False, seed=2,
                  checkpoint_path=path, callback=callback)


def _cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


ATTACK = ["attack", "--model", "lenet-zhu", "--iterations", "2", "--quiet", "--device", "cpu", "--threads", "1"]


# --- 1. A planted file cannot run code ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["torch.save", "pickle.dump"])
def test_planted_pickle_in_attack_checkpoint_does_not_run(client, tmp_path: Path, fmt: str) -> None:
    marker, path = tmp_path / "code-ran", tmp_path / "attack.pt"
    planted = {"fingerprint": Payload(marker), "iteration": 0}
    if fmt == "torch.save":
        torch.save(planted, path)
    else:
        path.write_bytes(pickle.dumps(planted, protocol=2))
    with pytest.raises(LeaklibError, match=r"attack checkpoint '.*attack\.pt' cannot be read as plain tensors"):
        _attack(*client, path=path)
    assert not marker.exists()


def test_cli_attack_refuses_a_planted_checkpoint_in_its_out_folder(tmp_path: Path, capsys) -> None:
    out, marker = tmp_path / "run", tmp_path / "code-ran"
    out.mkdir()
    torch.save({"fingerprint": Payload(marker)}, out / "attack.pt")
    code, err = _cli([*ATTACK, "--checkpoint-every", "1", "--out", str(out)], capsys)
    assert code == 2 and "attack.pt' cannot be read" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_truncated_attack_checkpoint_is_a_one_line_error_naming_it(client, tmp_path: Path) -> None:
    path = tmp_path / "attack.pt"
    _attack(*client, path=path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(LeaklibError, match=r"attack checkpoint '.*attack\.pt' cannot be read"):
        _attack(*client, path=path)


@pytest.mark.parametrize("content", [[1, 2, 3], {"fingerprint": None}, torch.zeros(3)])
def test_attack_checkpoint_of_the_wrong_type_is_refused(client, tmp_path: Path, content) -> None:
    path = tmp_path / "attack.pt"
    torch.save(content, path)
    with pytest.raises(LeaklibError, match=r"attack\.pt' is not one leaklib wrote"):
        _attack(*client, path=path)


@pytest.mark.parametrize("optimizer", ["signed-adam", "lbfgs"])
def test_attack_checkpoint_is_plain_values_and_resume_stays_exact(client, tmp_path: Path, optimizer: str) -> None:
    full = _attack(*client, optimizer=optimizer)
    path = tmp_path / "attack.pt"

    def kill_at_5(iteration: int, losses: torch.Tensor) -> None:
        if iteration == 5:
            raise Stop

    with pytest.raises(Stop):
        _attack(*client, path=path, callback=kill_at_5, optimizer=optimizer)
    assert torch.load(path, weights_only=True)["iteration"] == 4  # no custom classes in the state
    resumed = _attack(*client, path=path, optimizer=optimizer)
    assert resumed.extra["resumed_from"] == 4
    assert torch.equal(resumed.images, full.images)
    assert resumed.loss_history == full.loss_history and resumed.restart_losses == full.restart_losses


# --- 2. NaN and infinity are no settings -------------------------------------------------------------


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_check_positive_refuses_nan_and_infinity(value: float) -> None:
    with pytest.raises(LeaklibError, match="lr must be a finite number"):
        check_positive("lr", value, integer=False)


@pytest.mark.parametrize("setting, value, message", [
    ("lr", NAN, "lr must be a finite number"),
    ("lr", INF, "lr must be a finite number"),
    ("time_budget", INF, "time_budget must be a finite number"),
    ("lr_decay", NAN, "lr_decay must be a finite number"),
    ("tv", NAN, "tv weight must be a finite number"),
    ("lr_milestones", (NAN,), "lr_milestones are fractions"),
    ("layer_weights", {"fc.weight": INF}, "layer_weights must be finite numbers"),
])
def test_attack_config_refuses_non_finite_settings(setting: str, value, message: str) -> None:
    with pytest.raises(LeaklibError, match=message):
        AttackConfig(**{setting: value})


@pytest.mark.parametrize("argv, message", [
    (["--lr", "inf"], "lr must be a finite number, got inf"),
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--setting", "fedavg", "--local-lr", "nan"], "local_lr must be a finite number, got nan"),
])
def test_cli_attack_refuses_non_finite_settings_and_writes_nothing(tmp_path: Path, capsys, argv, message) -> None:
    out = tmp_path / "run"
    code, err = _cli([*ATTACK, "--out", str(out), *argv], capsys)
    assert code == 2 and message in err
    assert not (out / "result.json").exists()


def test_cli_labels_refuses_a_nan_local_lr(tmp_path: Path, capsys) -> None:
    code, err = _cli(["labels", "--dataset", "cifar10-sample", "--model", "lenet-zhu", "--setting", "fedavg",
                      "--local-lr", "nan", "--trials", "1", "--out", str(tmp_path / "l")], capsys)
    assert code == 2 and "local learning rate must be a finite number" in err
    assert not (tmp_path / "l" / "labels.json").exists()


@pytest.mark.parametrize("setting, value, message", [
    ("lr", NAN, "lr must be a finite number"),
    ("lr", INF, "lr must be a finite number"),
    ("momentum", NAN, "momentum must be a finite number"),
    ("momentum", 1.0, r"momentum must lie in \[0, 1\)"),
    ("weight_decay", INF, "weight_decay must be a finite number"),
])
def test_train_config_refuses_non_finite_settings(setting: str, value: float, message: str) -> None:
    with pytest.raises(LeaklibError, match=message):
        TrainConfig("lenet-zhu", "cifar10", **{setting: value})


def test_cli_train_refuses_a_nan_lr_before_any_work(capsys) -> None:
    code, err = _cli(["train", "--model", "lenet-zhu", "--dataset", "cifar10", "--lr", "nan", "--root",
                      "/nonexistent"], capsys)
    assert code == 2 and "lr must be a finite number, got nan" in err


def test_write_json_refuses_infinity_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    with pytest.raises(LeaklibError, match=r"result\.json'.*config\.lr is inf.*JSON has no infinity"):
        write_json(path, {"config": {"lr": INF}})
    with pytest.raises(LeaklibError, match=r"history\[0\]\[1\] is -inf"):
        write_json(path, {"history": [torch.tensor([1.0, -INF])]})
    assert not path.exists()


def test_write_json_writes_nan_as_null_everywhere(tmp_path: Path) -> None:
    path = write_json(tmp_path / "r.json", {"a": NAN, "b": torch.tensor([NAN, 1.0]), "c": np.float64("nan")})
    assert json.loads(path.read_text()) == {"a": None, "b": [None, 1.0], "c": None}  # strict JSON


def test_attack_result_json_holds_no_non_finite_losses() -> None:
    result = AttackResult(images=torch.zeros(1, *SHAPE), labels=torch.tensor([0]), config=AttackConfig(),
                          loss_history=[[NAN, 1.0], [INF, 2.0]], restart_losses=[INF, 2.0],
                          restart_objectives=[NAN, 2.0], best_restart=1, seeds=[0, 1], seconds=1.0,
                          iterations=2, device="cpu", label_mode="known")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["restart_losses"] == [None, 2.0] and data["loss_history"][1] == [None, 2.0]
    back = AttackResult.from_dict(data)
    assert math.isnan(back.restart_losses[0]) and back.loss == 2.0


def test_trained_weights_holding_nan_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path / "cache"))
    model = build("lenet-zhu")
    with torch.no_grad():
        model.fc.weight[0, 0] = NAN
    save_trained(model, trained_path("lenet-zhu", "cifar10"), {"name": "lenet-zhu"})
    with pytest.raises(LeaklibError, match=r"lenet-zhu\.pt' holds NaN or inf weights .*fc\.weight"):
        build("lenet-zhu", trained=True)


def _tiny_cifar10(root: Path, n: int = 8) -> Path:
    """``cifar-10-batches-py`` with ``n`` random images per batch file."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"c%d" % i for i in range(10)]}))
    return root


def test_training_that_diverges_stops_without_saving_weights(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path / "cache"))
    root = _tiny_cifar10(tmp_path / "data")
    config = TrainConfig("lenet-zhu", "cifar10", epochs=1, batch_size=8, lr=1e30, augment=False)
    with pytest.raises(LeaklibError, match="training diverged in epoch 1 .*nothing was saved"):
        train(config, device="cpu", root=root, progress=False)
    assert not trained_path("lenet-zhu", "cifar10").exists()


# --- 3. Huge numbers get a bound, not an allocation -----------------------------------------------------


@pytest.mark.parametrize("setting, value, message", [
    ("iterations", 10**12, r"iterations must be at most 10000000 \(allowed: 1\.\.10000000\)"),
    ("restarts", 10**9, "restarts must be at most"),
    ("scales", 10**6, "scales must be at most"),
    ("lbfgs_history", 10**9, "lbfgs_history must be at most"),
])
def test_huge_attack_settings_are_refused_with_the_allowed_range(setting: str, value: int, message: str) -> None:
    with pytest.raises(LeaklibError, match=message):
        AttackConfig(**{setting: value})


def test_cli_attack_refuses_a_trillion_iterations(tmp_path: Path, capsys) -> None:
    code, err = _cli([*ATTACK, "--out", str(tmp_path / "r"), "--iterations", "1000000000000"], capsys)
    assert code == 2 and "iterations must be at most 10000000" in err


def test_loss_history_grows_with_the_iterations_run(client) -> None:
    from leaklib.attack.config import MAX_ITERATIONS

    result = _attack(*client, iterations=MAX_ITERATIONS, time_budget=0.3, checkpoint_every=0)
    assert 0 < result.iterations < MAX_ITERATIONS
    assert [len(h) for h in result.loss_history] == [result.iterations] * 2


@pytest.mark.parametrize("seed", [2**70, 2**32, -1])
def test_seeds_outside_numpys_range_are_refused(client, seed: int) -> None:
    with pytest.raises(LeaklibError, match=r"seed must lie in 0\.\.4294967295 \(0 <= seed < 2\*\*32\)"):
        check_seed("seed", seed)
    with pytest.raises(LeaklibError, match=r"0 <= seed < 2\*\*32"):
        invert(client[0], fedsgd_update(*client), client[2], AttackConfig(iterations=1), image_shape=SHAPE,
               progress=False, seed=seed)
    with pytest.raises(LeaklibError, match=r"0 <= seed < 2\*\*32"):
        TrainConfig("lenet-zhu", "cifar10", seed=seed)


@pytest.mark.parametrize("command", [ATTACK, ["labels", "--dataset", "cifar10-sample", "--model", "lenet-zhu"]])
def test_cli_refuses_a_seed_beyond_two_to_the_70(tmp_path: Path, capsys, command: list[str]) -> None:
    code, err = _cli([*command, "--out", str(tmp_path / "r"), "--seed", str(2**70)], capsys)
    assert code == 2 and "--seed must lie in 0..4294967295" in err and "Overflow" not in err


def test_fedavg_local_epochs_are_bounded(client) -> None:
    with pytest.raises(LeaklibError, match="epochs must be at most 10000"):
        fedavg_update(*client, epochs=10**12)


# --- Weak items -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_umask_mode(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        json_path = write_json(tmp_path / "r.json", {"a": 1})
        torch_path = save_torch({"a": torch.zeros(1)}, tmp_path / "r.pt")
    finally:
        os.umask(old)
    assert json_path.stat().st_mode & 0o777 == mode and torch_path.stat().st_mode & 0o777 == mode
    assert read_json(json_path) == {"a": 1}


@pytest.mark.parametrize("update", [fedsgd_update, fedavg_update])
@pytest.mark.parametrize("change, message", [
    (lambda x, y: (x.double(), y), "dtype torch.float64 but the model's weights torch.float32"),
    (lambda x, y: (x.permute(0, 2, 3, 1), y), r"channels last\?"),
    (lambda x, y: ((x.clamp(0, 1) * 255).to(torch.uint8), y), "images must be floating point"),
    (lambda x, y: (x[:, :, :6, :6], y), r"images of shape \(3, 6, 6\) does not fit the model"),
    (lambda x, y: (x, y.float()), "labels must be a 1-D LongTensor"),
    (lambda x, y: (x[0], y), r"non-empty \(N, C, H, W\) batch"),
])
def test_client_update_refuses_images_and_labels_the_model_cannot_take(client, update, change, message) -> None:
    model, images, labels = client
    images, labels = change(images, labels)
    with pytest.raises(LeaklibError, match=message):
        update(model, images, labels)


@pytest.mark.parametrize("command, extra", [
    (ATTACK, ["--local-lr", "0.1"]),
    (ATTACK, ["--epochs", "1"]),
    (ATTACK, ["--fedavg-attack", "pseudo"]),
    (["labels", "--dataset", "cifar10-sample", "--model", "lenet-zhu"], ["--local-batch", "2"]),
])
def test_cli_refuses_fedavg_only_options_with_fedsgd(tmp_path: Path, capsys, command, extra) -> None:
    code, err = _cli([*command, "--out", str(tmp_path / "r"), "--setting", "fedsgd", *extra], capsys)
    assert code == 2 and f"{extra[0]} only applies to --setting fedavg" in err


@pytest.mark.parametrize("command", [ATTACK, ["labels", "--dataset", "cifar10-sample", "--model", "lenet-zhu"]])
def test_cli_refuses_an_empty_out(tmp_path: Path, capsys, monkeypatch, command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _cli([*command, "--out", ""], capsys)
    assert code == 2 and "empty" in err
    assert list(tmp_path.iterdir()) == []


def test_write_text_writes_utf8_atomically_and_refuses_non_text(tmp_path: Path) -> None:
    path = write_text(tmp_path / "sub" / "table.md", "| a ± b |\n")
    assert path.read_text(encoding="utf-8") == "| a ± b |\n"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(LeaklibError, match="writes a str"):
        write_text(tmp_path / "x.md", b"bytes")  # type: ignore[arg-type]
