"""The server's side (leaklib.fl.server), and the fusion and position scores of notebooks 02 and 08."""

import pytest
import torch

from leaklib.errors import LeaklibError
from leaklib.fl import fedsgd_update, flip_labels, gradient_norm, server_model, shift_gradient_cosine
from leaklib.leakage import blur_baseline, fusion_scores
from leaklib.metrics import circular_shift_scores
from leaklib.models import build


def test_fusion_scores_prototype_vs_exact():
    g = torch.Generator().manual_seed(0)
    true = torch.rand(4, 3, 8, 8, generator=g)
    exact = fusion_scores(true, true)
    assert exact["psnr_own_avg"] == 100.0 and exact["fusion_psnr_avg"] < 0
    proto = fusion_scores(true.mean(0, keepdim=True).expand_as(true), true)
    assert proto["psnr_mean_avg"] == 100.0 and proto["fusion_psnr_avg"] > 0
    assert proto["recon_pairwise_psnr"] == 100.0 > proto["true_pairwise_psnr"]
    assert len(proto["ssim_own"]) == 4
    # the prototype leans towards the mean more than each image's own blur does; the exact copy less
    assert proto["fusion_over_blur_avg"] > 0 > exact["fusion_over_blur_avg"]
    blurred = fusion_scores(blur_baseline(true), true)
    assert blurred["fusion_over_blur"] == pytest.approx([0.0] * 4, abs=1e-4)
    with pytest.raises(LeaklibError, match="one shape"):
        fusion_scores(true[:2], true)


def test_circular_shift_scores_finds_the_shift():
    g = torch.Generator().manual_seed(1)
    true = torch.rand(2, 3, 8, 8, generator=g)
    recon = torch.roll(true, (2, -3), dims=(-2, -1))
    out = circular_shift_scores(recon, true)
    assert out["shift"] == [[-2, 3], [-2, 3]] and out["shifted_rate"] == 1.0
    assert out["psnr_shifted"] == [100.0, 100.0] and out["gain_avg"] > 10
    same = circular_shift_scores(true, true, max_shift=2)
    assert same["shift"] == [[0, 0], [0, 0]] and same["gain_avg"] == 0.0 and same["shifted_rate"] == 0.0
    with pytest.raises(LeaklibError, match="max_shift"):
        circular_shift_scores(true, true, max_shift=-1)


def test_flip_labels_swaps_two_rows_of_a_copy():
    model = build("lenet-zhu", seed=0)
    x = torch.randn(2, 3, 32, 32)
    flipped = flip_labels(model, 1, 7)
    out, out_f = model(x), flipped(x)
    assert torch.allclose(out_f[:, [7, 1]], out[:, [1, 7]])
    assert torch.allclose(out_f[:, [0, 2, 3]], out[:, [0, 2, 3]])
    assert not torch.equal(model.fc.weight[1], flipped.fc.weight[1])
    with pytest.raises(LeaklibError, match="two different"):
        flip_labels(model, 3, 3)
    with pytest.raises(LeaklibError, match="0..9"):
        flip_labels(model, 0, 10)


def test_gradient_norm_matches_flat_norm():
    model = build("lenet-zhu", seed=0)
    obs = fedsgd_update(model, torch.randn(1, 3, 32, 32), torch.tensor([3]))
    flat = torch.cat([t.flatten() for t in obs.gradient.values()])
    assert gradient_norm(obs) == pytest.approx(float(flat.norm()), rel=1e-5)
    with pytest.raises(LeaklibError, match="FedSGD or FedAvg"):
        gradient_norm({"a": torch.ones(1)})


def test_shift_gradient_cosine_circular_resnet_is_shift_invariant():
    x, y = torch.randn(1, 3, 32, 32), torch.tensor([2])
    circ = build("resnet20-1", seed=0, padding="circular")
    zero = build("resnet20-1", seed=0, padding="zeros")
    assert shift_gradient_cosine(circ, x, y, (4, 4))[0] == pytest.approx(1.0, abs=1e-4)
    assert shift_gradient_cosine(zero, x, y, (4, 4))[0] < 0.999
    with pytest.raises(LeaklibError, match="one label each"):
        shift_gradient_cosine(circ, x, torch.tensor([1, 2]), (1, 1))


def test_server_model_honest_sends_the_model_dishonest_flips_target_with_next():
    model = build("lenet-zhu", seed=0)
    assert server_model("honest", model, 3, 10) is model
    flipped = server_model("flip", model, 9, 10)  # class 9 with class 0 (mod 10)
    w, w_flip = model.state_dict(), flipped.state_dict()
    last = [k for k in w if k.endswith("weight")][-1]
    assert torch.equal(w_flip[last][9], w[last][0]) and torch.equal(w_flip[last][0], w[last][9])
    with pytest.raises(LeaklibError, match="server"):
        server_model("evil", model, 0, 10)
