"""The server's side: the model it sends (honest, or dishonest), and what it can read from an update.

- :func:`server_model`: the model an honest server sends (unchanged) or a dishonest one (``"flip"``).
- :func:`flip_labels`: the dishonest server's label flipping (Geiping et al. 2020, appendix): a copy of the
  model with two rows of its last linear layer swapped, so a trained model errs again on those classes.
- :func:`gradient_norm`: the l2 norm of an observed update over all parameters.
- :func:`shift_gradient_cosine`: how alike the gradients of an image and of its circular shift are (a
  gradient that does not change under a shift cannot tell the attacker where the object is).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ..errors import LeaklibError, check_choice
from ..models import last_linear
from .client import fedsgd_update
from .observation import FedAvg, FedSGD

SERVERS = ("honest", "flip")


def flip_labels(model: nn.Module, a: int, b: int) -> nn.Module:
    """A copy of ``model`` whose last linear layer has rows ``a`` and ``b`` swapped (weight and bias).

    The copy predicts class ``b`` where the original predicted ``a`` and vice versa, so a trained model
    that fits an image of class ``a`` well is badly wrong on it again and its gradient is large. The
    original is not modified.
    """
    weight_name, bias_name = last_linear(model)
    num = dict(model.named_parameters())[weight_name].shape[0]
    for c in (a, b):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < num:
            raise LeaklibError(f"classes to flip must be integers in 0..{num - 1}, got {c!r}")
    if a == b:
        raise LeaklibError(f"flipping class {a} with itself changes nothing; give two different classes")
    flipped = copy.deepcopy(model)
    params = dict(flipped.named_parameters())
    with torch.no_grad():
        for name in (weight_name, bias_name):
            if name is None:
                continue
            p = params[name]
            p[[a, b]] = p[[b, a]].clone()
    return flipped


def server_model(server: str, model: nn.Module, target: int, num_classes: int) -> nn.Module:
    """The model the server sends: ``honest`` sends ``model``; ``flip`` swaps class ``target`` with the next."""
    check_choice("server", server, SERVERS)
    if server == "honest":
        return model
    return flip_labels(model, int(target), (int(target) + 1) % num_classes)


def gradient_norm(observation: FedSGD | FedAvg) -> float:
    """The l2 norm over all parameters of a FedSGD gradient (or of a FedAvg pseudo-gradient)."""
    if isinstance(observation, FedAvg):
        tensors = observation.pseudo_gradient()
    elif isinstance(observation, FedSGD):
        tensors = observation.gradient
    else:
        raise LeaklibError(f"observation must be FedSGD or FedAvg, got {type(observation).__name__}")
    return float(torch.sqrt(sum(t.double().square().sum() for t in tensors.values())))


def shift_gradient_cosine(model: nn.Module, images: Tensor, labels: Tensor, shift: tuple[int, int]) -> list[float]:
    """Per image: cosine similarity between the FedSGD gradient of the image and that of its circular shift.

    ``shift`` is (dy, dx) in pixels (``torch.roll`` of the normalised image). A value of 1 means the server
    sees the same gradient wherever the object sits (Geiping et al. 2020, Sec. 5: circular padding plus
    global pooling makes a convolutional network invariant to shifts by multiples of its total stride).
    """
    if images.ndim != 4 or len(labels) != len(images):
        raise LeaklibError(f"images must be (N, C, H, W) with one label each, got {tuple(images.shape)} and "
                           f"{len(labels)} labels")
    out = []
    for x, y in zip(images, labels):
        a = fedsgd_update(model, x[None], y[None]).gradient
        b = fedsgd_update(model, torch.roll(x[None], tuple(shift), dims=(-2, -1)), y[None]).gradient
        fa = torch.cat([t.flatten() for t in a.values()]).double()
        fb = torch.cat([b[k].flatten() for k in a]).double()
        out.append(float(torch.nn.functional.cosine_similarity(fa, fb, dim=0)))
    return out
