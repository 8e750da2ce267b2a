"""Metrics against hand-computed values; alignment on shuffled batches (Geng et al. 2021, Sec. 5)."""

import json
import math

import numpy as np
import pytest
import torch

from leaklib.errors import LeaklibError
from leaklib.metrics import PSNR_MAX, align, batch_metrics, label_accuracy, mse, psnr, ssim


def const(value, n=1, c=3, h=16, w=16):
    return torch.full((n, c, h, w), float(value))


def test_mse_and_psnr_of_constant_images():
    a, b = const(0.2), const(0.5)
    assert mse(a, b).item() == pytest.approx(0.09)
    assert psnr(a, b).item() == pytest.approx(10 * math.log10(1 / 0.09))
    # per image: a batch of two pairs with different errors
    a2 = torch.cat([const(0.0), const(0.0)])
    b2 = torch.cat([const(0.1), const(1.0)])
    assert psnr(a2, b2).tolist() == pytest.approx([20.0, 0.0])


def test_psnr_of_identical_images_is_inf_and_single_images_accepted():
    x = torch.rand(3, 8, 8)
    assert psnr(x, x).shape == (1,)
    assert math.isinf(psnr(x, x).item())


def test_ssim_of_image_with_itself_is_one():
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert ssim(x, x).tolist() == pytest.approx([1.0] * 4)


def test_ssim_of_constant_images_is_luminance_term():
    a, b = 0.3, 0.7
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # variances are 0: contrast-structure term is C2/C2
    assert ssim(const(a), const(b)).item() == pytest.approx(expected)


def test_ssim_single_window_matches_weighted_statistics():
    # An 11x11 image has exactly one valid window: SSIM is the formula on Gaussian-weighted statistics.
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 11, 11, generator=g)
    y = (0.5 * x + 0.3 * torch.rand(1, 1, 11, 11, generator=g)).clamp(0, 1)
    k = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    wgt = np.outer(k, k) / np.outer(k, k).sum()
    xs, ys = x[0, 0].double().numpy(), y[0, 0].double().numpy()
    mx, my = (wgt * xs).sum(), (wgt * ys).sum()
    vx, vy = (wgt * (xs - mx) ** 2).sum(), (wgt * (ys - my) ** 2).sum()
    cxy = (wgt * (xs - mx) * (ys - my)).sum()
    c1, c2 = 0.01**2, 0.03**2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(x, y).item() == pytest.approx(expected, rel=1e-9)
    assert ssim(x, y).item() < 0.99


def test_ssim_drops_with_noise_and_small_images_work():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 32, 32, generator=g)
    noisy = [(x + s * torch.randn(x.shape, generator=g)).clamp(0, 1) for s in (0.05, 0.2)]
    assert 1 > ssim(x, noisy[0]).item() > ssim(x, noisy[1]).item()
    small = torch.rand(2, 1, 6, 6, generator=g)  # window shrinks to 5x5
    assert ssim(small, small).tolist() == pytest.approx([1.0, 1.0])


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(LeaklibError, match=r"\[0, 1\]"):
        psnr(torch.full((1, 3, 4, 4), -1.5), const(0.0, h=4, w=4))  # normalised, not denormalised
    with pytest.raises(LeaklibError, match="shape"):
        mse(const(0, h=4, w=4), const(0, h=5, w=5))
    with pytest.raises(LeaklibError, match="NaN"):
        mse(torch.full((1, 1, 2, 2), float("nan")), const(0, c=1, h=2, w=2))


def test_label_accuracy_counts_multisets():
    assert label_accuracy([1, 1, 2], [1, 2, 2]) == pytest.approx(2 / 3)
    assert label_accuracy(torch.tensor([2, 1, 1]), torch.tensor([1, 2, 1])) == 1.0
    assert label_accuracy([0, 0, 0, 0], [0, 1, 2, 3]) == 0.25
    with pytest.raises(LeaklibError, match="differ in number"):
        label_accuracy([1, 2], [1, 2, 3])


def distinct_images(n, seed=0):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_align_recovers_a_shuffle_without_labels():
    true = distinct_images(7)
    shuffle = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    recon = true[shuffle]
    perm = align(recon, true)
    assert torch.equal(recon[perm], true)
    assert torch.equal(shuffle[perm], torch.arange(7))


def test_align_pairs_unique_labels_by_label_even_against_psnr():
    true = distinct_images(2)
    recon = true.flip(0)  # by PSNR, recon 0 <-> true 1
    # but the labels say recon 0 is class 5 = true 0: unique labels win
    perm = align(recon, true, recon_labels=[5, 7], true_labels=[5, 7])
    assert perm.tolist() == [0, 1]
    assert align(recon, true).tolist() == [1, 0]


def test_align_duplicated_labels_fall_back_to_psnr():
    true = distinct_images(4, seed=3)
    true_labels = [3, 3, 5, 8]
    recon = true[torch.tensor([1, 0, 3, 2])]
    # the two 3s are swapped in content; recon 2 shows true 3's image but carries label 5, so the
    # unique-label rule (not PSNR) must pair true 2 with recon 2
    recon_labels = [3, 3, 5, 8]
    perm = align(recon, true, recon_labels, true_labels)
    assert perm[:2].tolist() == [1, 0]  # Hungarian on PSNR among the duplicated class
    assert perm[2:].tolist() == [2, 3]  # by label, although PSNR prefers [3, 2]


def test_align_label_unique_in_one_batch_only_uses_psnr():
    true = distinct_images(3, seed=4)
    recon = true[torch.tensor([2, 0, 1])]
    # label 4 is unique in true but appears twice in recon: no label pairing at all for it
    perm = align(recon, true, recon_labels=[4, 4, 9], true_labels=[4, 9, 1])
    # label 9 is unique in both: true 1 <-> recon 2; true 0 and 2 go by PSNR
    assert perm.tolist() == [1, 2, 0]


def test_batch_metrics_on_shuffled_exact_batch():
    true = distinct_images(5, seed=5)
    shuffle = torch.tensor([4, 2, 0, 1, 3])
    labels = torch.tensor([0, 1, 1, 2, 3])
    out = batch_metrics(true[shuffle], true, labels[shuffle], labels)
    assert out["psnr"] == PSNR_MAX and out["mse"] == 0.0
    assert out["ssim"] == pytest.approx(1.0)
    assert out["label_accuracy"] == 1.0
    assert [r["recon_index"] for r in out["per_image"]] == out["permutation"]
    assert all(r["label"] == r["recon_label"] for r in out["per_image"])
    json.dumps(out, allow_nan=False)  # finite and JSON-ready


def test_batch_metrics_means_match_per_image_values():
    true = distinct_images(3, seed=6)
    recon = (true + 0.05 * torch.randn(true.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    out = batch_metrics(recon, true)
    assert out["permutation"] == [0, 1, 2]
    assert out["label_accuracy"] is None
    assert out["psnr"] == pytest.approx(psnr(recon, true).mean().item())
    assert out["mse"] == pytest.approx(mse(recon, true).mean().item())
    assert out["ssim"] == pytest.approx(ssim(recon, true).mean().item())
    assert 15 < out["psnr"] < 40


def test_ssim_and_psnr_match_scikit_image_when_available():
    # Optional cross-check with an independent implementation (not a leaklib dependency).
    skm = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(7)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    for i in range(2):
        a, b = x[i].double().numpy(), y[i].double().numpy()
        ref = skm.structural_similarity(a, b, data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False)
        assert ssim(x[i], y[i]).item() == pytest.approx(ref, rel=1e-10)
        assert psnr(x[i], y[i]).item() == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=1.0))
