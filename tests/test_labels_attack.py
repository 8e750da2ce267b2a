"""Geng et al. (2021, Sec. 5): one wrong label in the batch is enough for image recovery to suffer."""

from __future__ import annotations

import pytest

from leaklib.attack import AttackConfig, invert
from leaklib.data import make_batch
from leaklib.fl import fedsgd_update
from leaklib.labels import recover_labels
from leaklib.metrics import batch_metrics
from leaklib.models import build


@pytest.mark.slow
def test_one_wrong_label_drops_matched_psnr():
    batch = make_batch("cifar10-sample", 4, "unique", seed=0)
    model = build("mlp-64", seed=0)
    obs = fedsgd_update(model, batch.images, batch.labels)
    recovered = recover_labels("best", model, obs, 4, image_shape=(3, 32, 32), normalization=batch.normalization)
    assert recovered.tolist() == sorted(batch.labels.tolist())
    wrong = batch.labels.clone()
    wrong[0] = next(c for c in range(10) if c not in batch.labels.tolist())
    config = AttackConfig(iterations=200, restarts=1, tv=1e-4)
    psnr = {}
    for name, labels in (("right", batch.labels), ("wrong", wrong)):
        result = invert(model, obs, labels, config, image_shape=(3, 32, 32), normalization=batch.normalization,
                        device="cpu", progress=False, seed=0)
        recon01 = batch.normalization.denormalize(result.images).clamp(0, 1)
        metrics = batch_metrics(recon01, batch.images01, labels, batch.labels)
        psnr[name] = (metrics["psnr"], metrics["per_image"][0]["psnr"])
    # the batch as a whole and, most of all, the image whose label was changed
    assert psnr["right"][0] > psnr["wrong"][0] + 1.0, psnr
    assert psnr["right"][1] > psnr["wrong"][1] + 3.0, psnr
