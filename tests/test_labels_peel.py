"""The ``peel`` rule on hand-built two-layer heads whose answer is known exactly.

Images are non-negative vectors x (shape (1, 1, D)); the model is Linear(D, D) at the identity -> ReLU ->
Linear(D, C), so an image's hidden units are its own non-zero pixels. An image with a pixel no other image
has is private there and found at once; one whose pixels are all shared is found only after the others are
subtracted (peeled). The last layer is large and random, so the softmax is confident (a trained-like head).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from leaklib.fl import fedavg_update, fedsgd_update
from leaklib.labels import peel, recover_labels

C, D = 10, 12
SHAPE = (1, 1, D)


def head_model(relu_head: bool = False, seed: int = 0) -> nn.Module:
    """With ``relu_head`` the logits pass a ReLU: classes 0 and 1 are pushed below zero (masked, no gradient) and
    the rest above (a class whose logit is clipped sends no gradient, so its label could not be read)."""
    g = torch.Generator().manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(D, D), nn.ReLU(), nn.Linear(D, C)]
    if relu_head:
        layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(D))
        model[1].bias.zero_()
        model[3].weight.copy_(4 * torch.randn(C, D, generator=g))
        model[3].bias.copy_(torch.randn(C, generator=g))
        if relu_head:
            model[3].bias.copy_(torch.where(torch.arange(C) < 2, -200.0, 200.0))
    return model.eval()


def images_from_pixels(pixels: list[list[int]], seed: int = 0) -> torch.Tensor:
    """One image per list of active pixels, each pixel in [1, 2)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(pixels), D)
    for k, px in enumerate(pixels):
        x[k, px] = 1 + torch.rand(len(px), generator=g)
    return x.reshape(len(pixels), *SHAPE)


CASES = [
    # every image private at some unit, repeated labels
    ([[0], [1, 2], [3], [4, 11], [5], [6]], [2, 2, 2, 5, 7, 7]),
    # image 0's only pixel is shared with image 1: found after image 1 is peeled off
    ([[0], [0, 1], [2, 3], [3, 4]], [4, 4, 3, 3]),
    # one class only
    ([[0, 1], [1, 2], [2, 3], [3, 4, 5]], [9, 9, 9, 9]),
]


@pytest.mark.parametrize("relu_head", [False, True])
@pytest.mark.parametrize("pixels,labels", CASES)
def test_peel_exact_on_hand_built_head(pixels, labels, relu_head):
    model = head_model(relu_head)
    images, y = images_from_pixels(pixels), torch.tensor(labels)
    obs = fedsgd_update(model, images, y)
    pred = recover_labels("peel", model, obs, len(labels), image_shape=SHAPE)
    assert pred.tolist() == sorted(labels)


def test_peel_without_image_shape_falls_back_to_ilrg_refined():
    """Without image_shape the ReLU between the layers cannot be checked: peel returns ilrg-refined's labels."""
    model = head_model()
    images, y = images_from_pixels(CASES[0][0]), torch.tensor(CASES[0][1])
    obs = fedsgd_update(model, images, y)
    assert torch.equal(peel(model, obs, len(y)), recover_labels("ilrg-refined", model, obs, len(y)))


def test_peel_on_fedavg_falls_back_and_returns_k_labels():
    model = head_model()
    images, y = images_from_pixels(CASES[1][0]), torch.tensor(CASES[1][1])
    obs = fedavg_update(model, images, y, epochs=2, lr=0.01)
    pred = recover_labels("peel", model, obs, len(y), image_shape=SHAPE)
    assert pred.numel() == len(y)
