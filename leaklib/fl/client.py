"""The simulated federated client, written functionally with ``torch.func``.

The same functions serve the client and the attacker: the FedAvg attack replays
:func:`local_sgd` on dummy images and differentiates through it (Inverting Gradients, Sec. 4).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import LeaklibError, check_choice, check_positive, check_seed
from .observation import FedAvg, FedSGD, Params

BN_MODES = ("eval", "train")
MAX_LOCAL_EPOCHS = 10_000  # the local schedule (epochs x ceil(n / B) index tensors) is built up front


def split_state(model: nn.Module) -> tuple[Params, Params]:
    """The model's trainable parameters and its buffers as detached dicts (the global model w_0)."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    return params, buffers


@contextlib.contextmanager
def bn_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Run the model with batch norm on running statistics (``eval``) or batch statistics (``train``).

    ``train`` mode computes statistics from the client's batch, as a client training locally does; running
    statistics are not changed (callers pass copies of the buffers). The model's mode is restored after.
    """
    check_choice("batch-norm mode", mode, BN_MODES)
    was_training = model.training
    model.train(mode == "train")
    try:
        yield model
    finally:
        model.train(was_training)


def batch_loss(model: nn.Module, params: Params, buffers: Params, images: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of the model with weights ``params`` on a batch (labels: indices or soft)."""
    logits = functional_call(model, (params, buffers), (images,))
    return F.cross_entropy(logits, labels)


def parameter_gradient(
    model: nn.Module, params: Params, buffers: Params, images: Tensor, labels: Tensor
) -> Params:
    """dL/dw of the mean batch loss, as a dict; composable with ``torch.func`` transforms."""
    return torch.func.grad(batch_loss, argnums=1)(model, params, buffers, images, labels)


def parameter_gradient_graph(
    model: nn.Module, params: Params, buffers: Params, images: Tensor, labels: Tensor
) -> Params:
    """:func:`parameter_gradient` by plain autograd with ``create_graph=True``: the same values, still
    differentiable in ``images``, and faster for a single restart (no ``torch.func`` wrapping of every
    tensor), but not usable inside ``torch.func.vmap``."""
    keep_graph = torch.is_grad_enabled()  # under no_grad (e.g. a final evaluation) only the values are needed
    with torch.enable_grad():
        leaves = {n: p.detach().requires_grad_(True) for n, p in params.items()}
        loss = batch_loss(model, leaves, buffers, images, labels)
        grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=keep_graph, allow_unused=True)
    return {n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(leaves.items(), grads)}


def model_classes(model: nn.Module, params: Params, buffers: Params, shape: tuple[int, ...],
                  device: torch.device, what: str = "image_shape") -> int:
    """The number of classes, read from one forward pass of a zero image of ``shape`` (C, H, W) in eval mode.

    A shape the model cannot take (wrong size, channels last) is a LeaklibError naming ``what``.
    """
    with torch.no_grad(), bn_mode(model, "eval"):
        try:
            zero = torch.zeros(1, *shape, device=device, dtype=next(iter(params.values()), torch.empty(0)).dtype)
            out = functional_call(model, (params, buffers), (zero,))
        except RuntimeError as e:
            hint = ""
            if len(shape) == 3 and shape[-1] < shape[0]:
                hint = " (channels last? give (C, H, W) images: x.permute(0, 3, 1, 2))"
            raise LeaklibError(f"{what} {tuple(shape)} does not fit the model{hint}: {str(e).splitlines()[0]}") from None
    if out.ndim != 2 or out.shape[0] != 1:
        raise LeaklibError(f"the model must output (N, classes) logits, got shape {tuple(out.shape)}")
    return int(out.shape[1])


def check_labels(labels: Tensor, n: int, num_classes: int | None) -> None:
    """Fail fast unless ``labels`` is a 1-D integer tensor of ``n`` class indices in ``0..num_classes - 1``."""
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.is_complex() \
            or labels.dtype == torch.bool or labels.ndim != 1:
        got = (f"dtype {labels.dtype}, shape {tuple(labels.shape)}" if isinstance(labels, Tensor)
               else type(labels).__name__)
        raise LeaklibError(f"labels must be a 1-D LongTensor of class indices (one per image), got {got}")
    if labels.shape[0] != n:
        raise LeaklibError(f"got {labels.shape[0]} labels for {n} images; expected {n} labels (one per image)")
    if num_classes is not None and labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise LeaklibError(f"labels must lie in 0..{num_classes - 1}, got {sorted(set(labels.tolist()))}")


def check_batch(model: nn.Module, images: Tensor, labels: Tensor, num_classes: int | None = None) -> None:
    """Fail fast on a batch the model cannot take: not (N, C, H, W) floats of the model's dtype and device,
    a size the model does not take, a count mismatch, labels that are not class indices of the model."""
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] == 0:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise LeaklibError(f"images must be a non-empty (N, C, H, W) batch, got shape {got}")
    if not images.is_floating_point():
        raise LeaklibError(f"images must be floating point (normalised pixels), got dtype {images.dtype}; "
                           "convert with x.float() / 255 and normalise")
    params, buffers = split_state(model)
    ref = next(iter(params.values()), None)
    if ref is not None and images.dtype != ref.dtype:
        raise LeaklibError(f"images have dtype {images.dtype} but the model's weights {ref.dtype}; "
                           f"convert with x.to({ref.dtype})")
    if ref is not None and images.device != ref.device:
        raise LeaklibError(f"images are on {images.device} but the model on {ref.device}; move one of them")
    classes = model_classes(model, params, buffers, tuple(images.shape[1:]), images.device, "images of shape")
    if num_classes is None:
        num_classes = getattr(model, "num_classes", None) or classes
    check_labels(labels, images.shape[0], num_classes)


def fedsgd_update(model: nn.Module, images: Tensor, labels: Tensor, *, bn: str = "eval",
                  keep_weights: bool = False) -> FedSGD:
    """FedSGD: the gradient of the mean loss over the batch at the global weights.

    ``keep_weights`` stores a copy of those weights in the observation (for attacks that match updates
    computed at different global models, e.g. successive rounds).
    """
    check_choice("batch-norm mode", bn, BN_MODES)
    check_batch(model, images, labels)
    params, buffers = split_state(model)
    buffers = {k: v.clone() for k, v in buffers.items()}
    with bn_mode(model, bn):
        grad = parameter_gradient(model, params, buffers, images, labels.long())
    return FedSGD(gradient={k: g.detach() for k, g in grad.items()}, num_images=images.shape[0],
                  weights=_copy(params) if keep_weights else None)


def minibatch_schedule(num_images: int, batch_size: int, epochs: int, shuffle_seed: int | None) -> list[Tensor]:
    """Index tensors of the local mini-batches, in order: ``epochs * ceil(n / B)`` of them.

    ``shuffle_seed`` None keeps the images in order; otherwise each epoch draws a permutation from a
    generator seeded with ``shuffle_seed + epoch`` (the server, knowing the seed, replays the same order).
    The permutation comes from numpy, not torch: it is no random op of torch's, so the attacker can replay
    the schedule inside ``torch.func.vmap`` (which forbids torch's random ops).
    """
    order = []
    for epoch in range(epochs):
        if shuffle_seed is None:
            perm = torch.arange(num_images)
        else:
            perm = torch.as_tensor(np.random.default_rng(shuffle_seed + epoch).permutation(num_images))
        order.extend(perm[i : i + batch_size] for i in range(0, num_images, batch_size))
    return order


def local_sgd(
    model: nn.Module,
    params: Params,
    buffers: Params,
    images: Tensor,
    labels: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    shuffle_seed: int | None = None,
) -> Params:
    """E epochs of mini-batch SGD from ``params``; differentiable in ``images`` (no in-place updates)."""
    for idx in minibatch_schedule(images.shape[0], batch_size, epochs, shuffle_seed):
        idx = idx.to(images.device)
        grad = parameter_gradient(model, params, buffers, images[idx], labels[idx])
        params = {k: p - lr * grad[k] for k, p in params.items()}
    return params


def fedavg_update(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    epochs: int = 1,
    batch_size: int | None = None,
    lr: float = 1e-2,
    shuffle_seed: int | None = None,
    bn: str = "eval",
    keep_weights: bool = False,
) -> FedAvg:
    """FedAvg: ``epochs`` local epochs of SGD (batch ``batch_size``, default the whole batch); returns w_T - w_0.

    ``keep_weights`` stores a copy of w_0 in the observation (see :func:`fedsgd_update`).
    """
    check_choice("batch-norm mode", bn, BN_MODES)
    check_positive("epochs", epochs, maximum=MAX_LOCAL_EPOCHS)
    check_positive("lr", lr, integer=False)
    if shuffle_seed is not None:
        check_seed("shuffle_seed", shuffle_seed)
    check_batch(model, images, labels)
    n = images.shape[0]
    batch_size = n if batch_size is None else batch_size
    check_positive("batch_size", batch_size)
    if batch_size > n:
        raise LeaklibError(f"local batch size {batch_size} is larger than the client's {n} images")
    params, buffers = split_state(model)
    buffers = {k: v.clone() for k, v in buffers.items()}
    with bn_mode(model, bn), torch.no_grad():
        final = local_sgd(
            model, params, buffers, images, labels.long(),
            epochs=epochs, batch_size=batch_size, lr=lr, shuffle_seed=shuffle_seed,
        )
    update = {k: (final[k] - params[k]).detach() for k in params}
    return FedAvg(update=update, epochs=epochs, batch_size=batch_size, lr=lr, num_images=n,
                  shuffle_seed=shuffle_seed, weights=_copy(params) if keep_weights else None)


def _copy(params: Params) -> Params:
    return {k: v.detach().clone() for k, v in params.items()}
