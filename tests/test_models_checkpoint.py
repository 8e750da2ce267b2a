"""Trained-weight loading: cache lookup, explicit checkpoints, and every kind of bad file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import torchvision

from leaklib.errors import LeaklibError
from leaklib.models import build, save_trained, trained_path


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEAKLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _perturbed(name: str) -> torch.nn.Module:
    model = build(name, seed=3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    return model


def test_trained_loads_cached_weights() -> None:
    source = _perturbed("resnet20")
    path = save_trained(source, trained_path("resnet20", "cifar10"), {"name": "resnet20", "image_shape": [3, 32, 32]})
    assert path.parent.parent.parent.name == "cache"
    model = build("resnet20", trained=True)
    assert model.trained
    assert torch.equal(build("resnet20", trained=True, dataset="cifar10-sample").fc.weight, model.fc.weight)
    for k, v in source.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    assert not torch.equal(build("resnet20", seed=3).conv1.weight, model.conv1.weight)


def test_explicit_bare_state_dict(tmp_path: Path) -> None:
    source = _perturbed("lenet-zhu")
    torch.save(source.state_dict(), tmp_path / "w.pt")
    model = build("lenet-zhu", checkpoint=tmp_path / "w.pt")
    assert torch.equal(model.fc.weight, source.fc.weight)


def test_missing_cache_names_the_train_command() -> None:
    with pytest.raises(LeaklibError, match=r"leaklib train --model resnet20-4 --dataset cifar100 --epochs \d+"):
        build("resnet20-4", num_classes=100, trained=True)
    with pytest.raises(LeaklibError, match="--padding circular"):
        build("convnet-8", trained=True, padding="circular")
    with pytest.raises(LeaklibError, match="does not exist"):
        build("lenet-zhu", checkpoint="/nonexistent/w.pt")


def test_truncated_and_corrupt_files(tmp_path: Path) -> None:
    torch.save(build("lenet-zhu").state_dict(), tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    for bad in ("cut.pt", "junk.pt"):
        with pytest.raises(LeaklibError, match="cannot be read"):
            build("lenet-zhu", checkpoint=tmp_path / bad)


def test_wrong_architecture(tmp_path: Path) -> None:
    torch.save(build("resnet20").state_dict(), tmp_path / "r.pt")
    with pytest.raises(LeaklibError, match="does not fit model lenet-zhu.*missing"):
        build("lenet-zhu", checkpoint=tmp_path / "r.pt")
    torch.save(build("resnet20-2").state_dict(), tmp_path / "r2.pt")
    with pytest.raises(LeaklibError, match="another shape"):
        build("resnet20", checkpoint=tmp_path / "r2.pt")
    save_trained(build("resnet20"), tmp_path / "meta.pt", {"name": "resnet20"})
    with pytest.raises(LeaklibError, match="name='resnet20'"):
        build("resnet32", checkpoint=tmp_path / "meta.pt")


class Payload:
    """A pickled object whose unpickling would create a file (it must never run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_non_state_dict_objects_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"fc.weight": Payload(marker)}, f, protocol=2)
    torch.save({"fc.weight": Payload(marker)}, tmp_path / "evil_zip.pt")
    for name in ("evil.pt", "evil_zip.pt"):
        with pytest.raises(LeaklibError, match="cannot be read"):
            build("lenet-zhu", checkpoint=tmp_path / name)
    assert not marker.exists()
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    with pytest.raises(LeaklibError, match="not a state dict"):
        build("lenet-zhu", checkpoint=tmp_path / "list.pt")


def test_imagenet_weights_need_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(self: object, *args: object, **kwargs: object) -> None:
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(LeaklibError, match="need internet"):
        build("resnet18", num_classes=1000, trained=True)
    with pytest.raises(LeaklibError, match="only for width 1"):
        build("resnet18-2", num_classes=1000, trained=True)
