"""make_batch: label patterns, explicit indices, failures that say what is possible, augmentation, seeds."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from leaklib.data import Batch, ImageDataset, load_dataset, make_batch, normalization, parse_pattern
from leaklib.data.transforms import apply_variant, variants
from leaklib.errors import LeaklibError


@pytest.fixture(scope="module")
def cifar() -> ImageDataset:
    # labels 3,8,8,0,6,6,1,6,3,1,0,9,5,7,9,8,5,7,8,6: classes 6 and 8 have 4 images, the rest 2; classes 2 and 4 have none
    return load_dataset("cifar10-sample")


def _tiny(labels: list[int], num_classes: int = 4, size: int = 8) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (len(labels), 3, size, size), generator=g, dtype=torch.uint8)
    return ImageDataset("tiny", labels, [f"c{i}" for i in range(num_classes)], normalization.CIFAR10,
                        (3, size, size), images=images)


def _distinct(batch: Batch) -> bool:
    flat = batch.images.flatten(1)
    return all(not torch.equal(flat[i], flat[j]) for i in range(len(flat)) for j in range(i))


def test_unique(cifar):
    b = make_batch(cifar, 8, "unique", seed=3)
    assert len(b) == 8 and len(set(b.labels.tolist())) == 8 and not b.augmented
    assert b.labels.tolist() == cifar.labels[b.indices].tolist()
    assert b.images.shape == (8, 3, 32, 32) and b.images.dtype == torch.float32 and b.labels.dtype == torch.int64
    assert b.num_classes == 10 and b.dataset == "cifar10-sample" and b.normalization == normalization.CIFAR10


def test_unique_beyond_the_classes_present_says_the_maximum(cifar):
    with pytest.raises(LeaklibError, match="unique needs 9 distinct labels .* only 8 classes .*the most for unique is 8"):
        make_batch(cifar, 9, "unique")
    with pytest.raises(LeaklibError, match="only 8 classes"):
        make_batch(cifar, 9, "unique", augment=True)  # copies cannot add classes


def test_random_and_seeds(cifar):
    a, b = make_batch(cifar, 6, "random", seed=1), make_batch(cifar, 6, "random", seed=1)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    others = {tuple(make_batch(cifar, 6, "random", seed=s).indices.tolist()) for s in range(2, 8)}
    assert len(others) > 1
    assert len(set(a.indices.tolist())) == 6
    assert a.indices.tolist() == sorted(a.indices.tolist())


@pytest.mark.parametrize("pattern", ["unique", "same", "dup:3", "counts:{3:2,8:1}"])
def test_every_pattern_is_deterministic(cifar, pattern):
    runs = [make_batch(cifar, 3, pattern, seed=11) for _ in range(2)]
    assert torch.equal(runs[0].indices, runs[1].indices) and torch.equal(runs[0].images, runs[1].images)


def test_dup(cifar):
    b = make_batch(cifar, 7, "dup:4", seed=5)
    counts = Counter(b.labels.tolist())
    assert sorted(counts.values()) == [1, 1, 1, 4] and not b.augmented
    assert len(set(b.indices.tolist())) == 7


def test_dup_that_no_class_can_fill_says_the_maximum(cifar):
    with pytest.raises(LeaklibError) as e:
        make_batch(cifar, 8, "dup:5")
    msg = str(e.value)
    assert "needs 5 images of one class" in msg and "the maximum is 4" in msg
    assert "class 6 ('frog') has 4" in msg and "augment=True" in msg
    with pytest.raises(LeaklibError, match="1 <= K <= batch size 4, got dup:5"):
        make_batch(cifar, 4, "dup:5")
    with pytest.raises(LeaklibError, match="dup:2 with batch size 10 needs 9 distinct labels .* only 8 classes"):
        make_batch(cifar, 10, "dup:2")


def test_dup_on_twenty_images_with_augment(cifar):
    with pytest.raises(LeaklibError, match="no class of cifar10-sample has 8"):
        make_batch(cifar, 10, "dup:8")
    b = make_batch(cifar, 10, "dup:8", seed=0, augment=True)
    counts = Counter(b.labels.tolist())
    assert sorted(counts.values()) == [1, 1, 8] and b.augmented
    main = counts.most_common(1)[0][0]
    assert main in (6, 8)  # a class with the most real images is chosen, so only 4 copies are made
    assert sum(a != "original" for a in b.augmentations) == 4
    assert _distinct(b)


def test_same(cifar):
    b = make_batch(cifar, 4, "same", seed=2)
    assert len(set(b.labels.tolist())) == 1 and not b.augmented
    with pytest.raises(LeaklibError, match="same needs 5 images of one class .* maximum is 4"):
        make_batch(cifar, 5, "same")
    b = make_batch(cifar, 12, "same", seed=2, augment=True)
    assert len(set(b.labels.tolist())) == 1 and b.augmented and _distinct(b)


def test_counts(cifar):
    b = make_batch(cifar, 3, "counts:{3:2,8:1}", seed=0)
    assert sorted(b.labels.tolist()) == [3, 3, 8]
    assert make_batch(cifar, None, "counts: {3: 2, 8: 1}").labels.tolist() == b.labels.tolist()
    with pytest.raises(LeaklibError, match="asks for 3 images but batch size is 4"):
        make_batch(cifar, 4, "counts:{3:2,8:1}")
    with pytest.raises(LeaklibError, match=r"3 images of class 3 \('cat'\) but cifar10-sample has 2; pass augment"):
        make_batch(cifar, 4, "counts:{3:3,8:1}")
    with pytest.raises(LeaklibError, match=r"class 2 \('bird'\) but cifar10-sample has 0"):
        make_batch(cifar, 1, "counts:{2:1}", augment=True)
    with pytest.raises(LeaklibError, match="names class 12; cifar10-sample has classes 0..9"):
        make_batch(cifar, 1, "counts:{12:1}")
    b = make_batch(cifar, 4, "counts:{3:3,8:1}", augment=True)
    assert sorted(b.labels.tolist()) == [3, 3, 3, 8] and b.augmented and _distinct(b)


def test_explicit_indices(cifar):
    b = make_batch(cifar, indices=[0, 5, 19])
    assert b.indices.tolist() == [0, 5, 19] and b.labels.tolist() == [3, 6, 6]
    torch.testing.assert_close(b.images01[1], cifar[5][0], atol=1e-6, rtol=0)
    assert make_batch(cifar, 2, "indices:4,2").indices.tolist() == [4, 2]  # given order is kept
    with pytest.raises(LeaklibError, match="batch size 2 does not match the 3 indices"):
        make_batch(cifar, 2, indices=[0, 1, 2])
    with pytest.raises(LeaklibError, match=r"indices \[20\] out of range for cifar10-sample \(0..19\)"):
        make_batch(cifar, indices=[3, 20])


def test_sizes_and_unknown_patterns(cifar):
    with pytest.raises(LeaklibError, match="batch size must be > 0"):
        make_batch(cifar, 0)
    with pytest.raises(LeaklibError, match="batch size 21 is larger than cifar10-sample's 20 images"):
        make_batch(cifar, 21, "random")
    with pytest.raises(LeaklibError, match=r"unknown pattern 'dupe:3'; valid patterns: unique, random, same, dup:K"):
        make_batch(cifar, 3, "dupe:3")
    for bad in ("dup:x", "counts:{3:}", "counts:{}", "unique:2"):
        with pytest.raises(LeaklibError, match="unknown pattern"):
            parse_pattern(bad)
    with pytest.raises(LeaklibError, match="names class 3 twice"):
        parse_pattern("counts:{3:1,3:2}")
    with pytest.raises(LeaklibError, match="dataset name or an ImageDataset"):
        make_batch(torch.zeros(3), 1)
    with pytest.raises(LeaklibError, match="unknown dataset"):
        make_batch("nope", 1)


def test_random_with_augment_beyond_the_data(cifar):
    b = make_batch(cifar, 30, "random", seed=4, augment=True)
    assert len(b) == 30 and b.augmented and _distinct(b)
    assert sorted(Counter(b.indices.tolist()).values()) == [1] * 10 + [2] * 10
    assert not make_batch(cifar, 5, "random", augment=True).augmented  # nothing needed filling


def test_augment_has_a_limit():
    ds = _tiny([0])
    n = len(variants())
    assert len(make_batch(ds, n, "same", augment=True)) == n
    with pytest.raises(LeaklibError, match=f"only 1 on hand, which augmenting stretches to at most {n}"):
        make_batch(ds, n + 1, "random", augment=True)


def test_name_and_dataset_give_the_same_batch(cifar):
    assert torch.equal(make_batch("cifar10-sample", 4, "dup:2", seed=9).images,
                       make_batch(cifar, 4, "dup:2", seed=9).images)


def test_images01_and_to(cifar):
    b = make_batch(cifar, 5, "random", seed=0)
    expected = torch.stack([cifar[i][0] for i in b.indices.tolist()])
    torch.testing.assert_close(b.images01, expected, atol=1e-6, rtol=0)
    moved = b.to("cpu")
    assert moved.images.device.type == "cpu" and moved.indices is b.indices


def test_variants_flip_and_shift():
    image = torch.arange(2 * 5 * 6, dtype=torch.uint8).view(2, 5, 6)
    assert torch.equal(apply_variant(image, (True, 0, 0)), image.flip(-1))
    shifted = apply_variant(image, (False, 1, -2))  # down 1, left 2
    assert shifted.shape == image.shape and shifted.dtype == torch.uint8
    assert torch.equal(shifted[:, 1:, :-2], image[:, :-1, 2:])
    assert len(set(variants())) == len(variants()) and variants()[0] == (False, 0, 0)
