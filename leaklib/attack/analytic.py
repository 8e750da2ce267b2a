"""Closed-form recovery of a fully connected layer's input (Inverting Gradients, Prop. 3.1).

For a layer ``A x + b`` and one input, ``dL/dA_{i,:} = dL/db_i * x``, so ``x = dL/dA_{i,:} / dL/db_i``
for any row i with ``dL/db_i != 0``. A network that begins with such a layer leaks a single image
exactly (up to the floating-point precision of the gradient).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ..errors import LeaklibError, check_choice
from ..fl import FedAvg, FedSGD

ROW_RULES = ("max", "lstsq")


def first_linear(model: nn.Module) -> tuple[str, str]:
    """Names of the weight and bias of the model's first ``nn.Linear`` (in module order) that has a bias."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            prefix = f"{name}." if name else ""
            return f"{prefix}weight", f"{prefix}bias"
    raise LeaklibError("the model has no nn.Linear layer with a bias; Prop. 3.1 needs one")


def recover_linear_input(
    observation: FedSGD | FedAvg | Mapping[str, Tensor],
    weight_name: str,
    bias_name: str,
    *,
    rows: str = "max",
    image_shape: Sequence[int] | None = None,
) -> Tensor:
    """The input of the linear layer ``weight_name``/``bias_name`` from its gradient (Prop. 3.1).

    ``rows="max"`` divides the row with the largest ``|dL/db_i|`` (the most stable); ``"lstsq"`` combines
    all rows, ``x = sum_i db_i dA_i / sum_i db_i^2`` (the least-squares fit of ``dA = db x^T``). A FedAvg
    observation is used through its pseudo-gradient (exact for one local step). Returns a flat vector,
    or one of ``image_shape`` if given. Exact only for a single input: for a batch the layer's gradient
    is a mixture and the result is a weighted average of the inputs.
    """
    check_choice("row rule", rows, ROW_RULES)
    if isinstance(observation, FedAvg):
        grads = observation.pseudo_gradient()
    elif isinstance(observation, FedSGD):
        grads = observation.gradient
    else:
        grads = observation
    for name in (weight_name, bias_name):
        if name not in grads:
            raise LeaklibError(f"the gradient has no entry {name!r}; entries: {', '.join(list(grads)[:6])}...")
    dw, db = grads[weight_name], grads[bias_name]
    if dw.ndim != 2 or db.ndim != 1 or dw.shape[0] != db.shape[0]:
        raise LeaklibError(f"{weight_name!r} {tuple(dw.shape)} and {bias_name!r} {tuple(db.shape)} are not "
                           "the weight (out, in) and bias (out,) of one linear layer")
    if not torch.isfinite(dw).all() or not torch.isfinite(db).all():
        raise LeaklibError("the linear layer's gradient contains NaN or Inf")
    if not db.any():
        raise LeaklibError("every bias gradient of the layer is zero: Prop. 3.1 needs a row with dL/db_i != 0")
    if rows == "max":
        i = int(db.abs().argmax())
        x = dw[i] / db[i]
    else:
        x = (db[:, None] * dw).sum(0) / db.square().sum()
    if image_shape is not None:
        if x.numel() != int(torch.tensor(list(image_shape)).prod()):
            raise LeaklibError(f"the layer's input has {x.numel()} values, image_shape {tuple(image_shape)} "
                               f"has {int(torch.tensor(list(image_shape)).prod())}")
        x = x.reshape(*image_shape)
    return x
