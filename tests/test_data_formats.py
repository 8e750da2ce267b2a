"""Full-dataset loaders on small datasets written here in the real on-disk formats (no network)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from leaklib.data import classes, fashion_mnist, load_dataset
from leaklib.errors import LeaklibError


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def write_cifar10(root: Path, per_batch: int = 3, *, bytes_keys: bool = False, protocol: int = 2,
                  labels: list[int] | None = None) -> dict:
    """cifar-10-batches-py with data_batch_1..5, test_batch, batches.meta; returns what was written.
    ``labels`` (length ``per_batch``) fixes every batch's labels; default: random."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    written = {}
    for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        data = _rng(i).integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        batch_labels = labels or [int(v) for v in _rng(100 + i).integers(0, 10, size=per_batch)]
        batch = {key("batch_label"): f"batch {i}", key("labels"): batch_labels, key("data"): data,
                 key("filenames"): [f"img{j}.png" for j in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = (data, batch_labels)
    meta = {key("label_names"): list(classes.CIFAR10), key("num_cases_per_batch"): per_batch, key("num_vis"): 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return written


def write_cifar100(root: Path, n: int = 4, labels: list[int] | None = None) -> dict:
    """cifar-100-python with train, test and meta; ``labels`` (length ``n``) fixes the fine labels."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for i, name in enumerate(["train", "test"]):
        data = _rng(10 + i).integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = labels or [int(v) for v in _rng(20 + i).integers(0, 100, size=n)]
        coarse = [f // 5 for f in fine]
        batch = {"filenames": [f"x{j}.png" for j in range(n)], "batch_label": name,
                 "fine_labels": fine, "coarse_labels": coarse, "data": data}
        (folder / name).write_bytes(pickle.dumps(batch))
        written[name] = (data, fine)
    meta = {"fine_label_names": list(classes.CIFAR100), "coarse_label_names": [f"c{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta))
    return written


@pytest.mark.parametrize("bytes_keys,protocol", [(False, 2), (True, 2), (False, pickle.HIGHEST_PROTOCOL)])
def test_cifar10_reads_written_batches(tmp_path, bytes_keys, protocol):
    written = write_cifar10(tmp_path, bytes_keys=bytes_keys, protocol=protocol)
    test = load_dataset("cifar10", root=tmp_path)
    data, labels = written["test_batch"]
    assert len(test) == 3 and test.split == "test" and test.classes == list(classes.CIFAR10)
    assert test.labels.tolist() == labels
    # channel-major rows: the first 1024 bytes are the red plane
    assert torch.equal(test.uint8(1)[0].flatten(), torch.from_numpy(data[1, :1024]))
    assert torch.equal(test.uint8(2)[2].flatten(), torch.from_numpy(data[2, 2048:]))
    image, label = test[0]
    torch.testing.assert_close(image * 255, torch.from_numpy(data[0]).view(3, 32, 32).float())
    train = load_dataset("cifar10", root=tmp_path, split="train")
    assert len(train) == 15
    assert train.labels.tolist() == sum((written[f"data_batch_{j}"][1] for j in range(1, 6)), [])


def test_cifar10_round_trips_the_real_sample_images(tmp_path):
    """The sample images written as a CIFAR test batch load back unchanged."""
    sample = load_dataset("cifar10-sample")
    write_cifar10(tmp_path)
    batch = {"data": sample._images.reshape(20, -1).numpy(), "labels": sample.labels.tolist()}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    full = load_dataset("cifar10", root=tmp_path)
    assert torch.equal(full.labels, sample.labels)
    assert all(torch.equal(full.uint8(i), sample.uint8(i)) for i in range(20))


def test_cifar100_reads_written_batches(tmp_path):
    written = write_cifar100(tmp_path)
    for split in ("train", "test"):
        ds = load_dataset("cifar100", root=tmp_path, split=split)
        data, fine = written[split]
        assert ds.labels.tolist() == fine and ds.num_classes == 100 and ds.classes[0] == "apple"
        assert torch.equal(ds.uint8(3).flatten(), torch.from_numpy(data[3]))


def test_env_var_gives_the_root(tmp_path, monkeypatch):
    write_cifar100(tmp_path)
    monkeypatch.setenv("LEAKLIB_DATA", str(tmp_path))
    assert len(load_dataset("cifar100")) == 4


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_cifar_batch_names_the_file(tmp_path, damage):
    write_cifar10(tmp_path)
    victim = tmp_path / "cifar-10-batches-py" / "test_batch"
    raw = victim.read_bytes()
    victim.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x80\x02not a pickle" + raw[50:80],
                        "empty": b""}[damage])
    with pytest.raises(LeaklibError, match=r"CIFAR file '.*test_batch' is truncated or corrupt"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar_batch_with_wrong_shape_is_rejected(tmp_path):
    write_cifar10(tmp_path)
    bad = {"data": np.zeros((3, 100), dtype=np.uint8), "labels": [0, 1, 2]}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(LeaklibError, match=r"test_batch'.*expected uint8 data \(N, 3072\)"):
        load_dataset("cifar10", root=tmp_path)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar_reader_refuses_code_in_pickles(tmp_path, capsys):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({"data": _Evil()}))
    with pytest.raises(LeaklibError, match="refusing to load builtins.print"):
        load_dataset("cifar10", root=tmp_path)
    assert "must never run" not in capsys.readouterr().out


def test_missing_cifar_files_are_listed(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert len(load_dataset("cifar10", root=tmp_path)) == 3  # the test split is complete
    with pytest.raises(LeaklibError, match="train files missing .*: data_batch_3;"):
        load_dataset("cifar10", root=tmp_path, split="train")


def test_cifar_download_path_calls_torchvision_then_reads_with_leaklib(tmp_path, monkeypatch):
    """With download allowed, missing files are fetched by torchvision (here a stand-in that writes them)."""
    import torchvision.datasets

    calls = []

    class FakeCIFAR100:
        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            write_cifar100(Path(root))

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", FakeCIFAR100)
    root = tmp_path / "new"  # the root need not exist yet
    ds = load_dataset("cifar100", root=root, download=True)
    assert calls == [(str(root), True, True)] and len(ds) == 4


def test_cifar_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise OSError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    monkeypatch.setenv("LEAKLIB_DOWNLOAD", "1")
    with pytest.raises(LeaklibError, match="downloading cifar10 into .* failed .*Name or service not known"):
        load_dataset("cifar10", root=tmp_path)


# --- Fashion-MNIST (IDX) ---------------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray, *, compress: bool = True) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if compress else payload)


def write_fashion(root: Path, n: int = 5, compress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    raw = root / "FashionMNIST" / "raw"
    images = _rng(3).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = _rng(4).integers(0, 10, size=n).astype(np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(raw / f"t10k-images-idx3-ubyte{suffix}", images, compress=compress)
    write_idx(raw / f"t10k-labels-idx1-ubyte{suffix}", labels, compress=compress)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_written_idx(tmp_path, compress):
    images, labels = write_fashion(tmp_path, compress=compress)
    ds = load_dataset("fashion-mnist", root=tmp_path)
    assert ds.source == str(tmp_path / "FashionMNIST" / "raw")  # the root wins over the system copy
    assert len(ds) == 5 and ds.image_shape == (1, 28, 28) and ds.labels.tolist() == labels.tolist()
    assert torch.equal(ds.uint8(4)[0], torch.from_numpy(images[4]))


def test_fashion_mnist_truncated_idx_names_the_file(tmp_path):
    write_fashion(tmp_path)
    victim = tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    payload = gzip.decompress(victim.read_bytes())
    victim.write_bytes(gzip.compress(payload[:-100]))
    with pytest.raises(LeaklibError, match=r"t10k-images-idx3-ubyte\.gz' holds 3820 data bytes.*needs 3920"):
        load_dataset("fashion-mnist", root=tmp_path)
    victim.write_bytes(victim.read_bytes()[:30])  # a cut gzip stream
    with pytest.raises(LeaklibError, match=r"t10k-images-idx3-ubyte\.gz' is truncated or corrupt"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_idx_reader_rejects_bad_header(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(LeaklibError, match="no valid IDX header"):
        fashion_mnist.read_idx(path)


def test_fashion_mnist_absent_everywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(LeaklibError, match="fashion-mnist test files not found.*apt-get install dataset-fashion-mnist.*leaklib data download fashion-mnist"):
        load_dataset("fashion-mnist", root=tmp_path, download=False)


# --- ImageNet validation folder --------------------------------------------------------------------

WNIDS = ["n01440764", "n01443537", "n01484850"]


def write_imagenet(root: Path, per_class: int = 2, wnids: list[str] = WNIDS) -> list[Path]:
    """<root>/imagenet/val/<wnid>/*.JPEG, ``per_class`` small random photos per class."""
    paths = []
    for c, wnid in enumerate(wnids):
        for j in range(per_class):
            h, w = 90 + 7 * j, 120 - 5 * c
            array = _rng(10 * c + j).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            path = root / "imagenet" / "val" / wnid / f"ILSVRC2012_val_{c}{j}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(path, format="JPEG", quality=95)
            paths.append(path)
    return paths


def test_imagenet_folder_lazy_resize_and_crop(tmp_path):
    paths = write_imagenet(tmp_path)
    ds = load_dataset("imagenet", root=tmp_path, image_size=48, resize=56)
    assert len(ds) == 6 and ds.image_shape == (3, 48, 48)
    assert ds.labels.tolist() == [0, 0, 1, 1, 2, 2] and ds.classes == WNIDS  # a subset: labels index folders
    reference = T.Compose([T.Resize(56, antialias=True), T.CenterCrop(48), T.PILToTensor()])
    with Image.open(paths[3]) as im:
        expected = reference(im.convert("RGB"))
    assert torch.equal(ds.uint8(3), expected)


def test_imagenet_synset_mapping_gives_imagenet1k_labels(tmp_path):
    write_imagenet(tmp_path, per_class=1)
    order = [f"n{i:08d}" for i in range(1000)]
    order[0], order[1], order[391] = WNIDS[0], WNIDS[1], WNIDS[2]
    (tmp_path / "imagenet" / "LOC_synset_mapping.txt").write_text("\n".join(f"{w} name {i}" for i, w in enumerate(order)))
    ds = load_dataset("imagenet", root=tmp_path)
    assert ds.labels.tolist() == [0, 1, 391] and ds.num_classes == 1000 and ds.classes[0] == "tench"


def test_imagenet_unreadable_image_and_missing_folder(tmp_path):
    with pytest.raises(LeaklibError, match=r"imagenet/val' is missing.*cannot be downloaded"):
        load_dataset("imagenet", root=tmp_path)
    paths = write_imagenet(tmp_path)
    paths[2].write_bytes(b"not a jpeg")
    ds = load_dataset("imagenet", root=tmp_path)
    assert ds[1][0].shape == (3, 224, 224)
    with pytest.raises(LeaklibError, match=r"ILSVRC2012_val_10\.JPEG' cannot be read"):
        ds[2]


def test_fashion_mnist_download_path(tmp_path, monkeypatch):
    """No local files anywhere: torchvision (a stand-in here) downloads into <root>/FashionMNIST/raw."""
    import torchvision.datasets

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    calls = []

    class FakeFashionMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append((train, download))
            write_fashion(Path(root), n=3)

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashionMNIST)
    ds = load_dataset("fashion-mnist", root=tmp_path / "fresh", download=True)
    assert calls == [(True, True), (False, True)] and len(ds) == 3


def test_cli_data_download(tmp_path, monkeypatch, capsys):
    import torchvision.datasets

    from leaklib.cli import main as cli_main

    class FakeCIFAR10:
        def __init__(self, root, train=True, download=False):
            write_cifar10(Path(root), per_batch=2)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    assert cli_main(["data", "download", "cifar10", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cifar10 train: 10 images" in out and "cifar10 test: 2 images" in out
    assert cli_main(["data", "list", "--root", str(tmp_path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cifar10 "))
    assert row.split()[1:6] == ["test", "yes", "2", "3x32x32", "10"]
