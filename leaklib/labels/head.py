"""The model's final linear layer as the label rules see it: its gradient and its dummy-input statistics.

The label rules read the last fully connected layer ``z = W h + b`` (Geng et al. 2021, Sec. 3;
Inverting Gradients, Prop. 3.1; ``peel`` also reads the layer before). For softmax cross-entropy on a batch
of K images,

    dW = (1/K) sum_k (p_k - y_k) h_k^T,     db = (1/K) sum_k (p_k - y_k),

so the signs and sizes of the rows of dW and db carry the label counts. This module finds the layer, turns
an observation into (dW, db), measures the input statistics of the layer with a forward hook on dummy images
and probes what follows the layer (nothing, or a ReLU on the logits).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import LeaklibError
from ..fl import FedAvg, FedSGD, Observation, as_observations, bn_mode, split_state

Obs = Observation | Sequence[Observation]  # one observation, or several of the same batch


@dataclass(frozen=True)
class LastLayer:
    """Names of the final linear layer's parameters and the module itself."""

    weight_name: str
    bias_name: str | None
    module: nn.Linear

    @property
    def num_classes(self) -> int:
        return self.module.out_features

    @property
    def feature_dim(self) -> int:
        return self.module.in_features


def _final_linear_fallback(model: nn.Module) -> tuple[str, str | None]:
    """The last ``nn.Linear`` registered in the model (used when leaklib.models has no ``last_linear``)."""
    found = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            found = (name, mod)
    if found is None:
        raise LeaklibError(
            f"model {type(model).__name__} has no nn.Linear layer; label rules need a final linear layer"
        )
    prefix = f"{found[0]}." if found[0] else ""
    return prefix + "weight", (prefix + "bias") if found[1].bias is not None else None


def last_layer(model: nn.Module) -> LastLayer:
    """Locate the final linear layer (via ``leaklib.models.last_linear`` when available)."""
    try:
        from ..models import last_linear
    except ImportError:
        last_linear = _final_linear_fallback
    try:
        weight_name, bias_name = last_linear(model)
    except LeaklibError:
        raise
    except Exception as e:  # models' helper may not know a hand-built model
        try:
            weight_name, bias_name = _final_linear_fallback(model)
        except LeaklibError:
            raise LeaklibError(f"cannot find the final linear layer of {type(model).__name__}: {e}") from None
    module_name = weight_name.rsplit(".", 1)[0] if "." in weight_name else ""
    module = model.get_submodule(module_name)
    if not isinstance(module, nn.Linear):
        raise LeaklibError(
            f"the final layer {module_name!r} of {type(model).__name__} is a {type(module).__name__}, "
            "not an nn.Linear; label rules read a final linear layer"
        )
    return LastLayer(weight_name, bias_name, module)


def last_layer_gradient(
    model: nn.Module, observation: Observation | Sequence[Observation]
) -> tuple[Tensor, Tensor | None, LastLayer]:
    """(dW, db or None, layer) from a FedSGD gradient or a FedAvg pseudo-gradient.

    FedAvg is read through Geng et al.'s pseudo-gradient ``(w_0 - w_T) / (lr * steps)`` (Sec. 4.2), the
    mean gradient over the local steps. Several observations of one batch are averaged.
    """
    layer = last_layer(model)
    obs_list = as_observations(observation)
    ws, bs = [], []
    for obs in obs_list:
        tensors = obs.gradient if isinstance(obs, FedSGD) else obs.pseudo_gradient()
        if layer.weight_name not in tensors:
            raise LeaklibError(
                f"{type(obs).__name__} observation has no entry {layer.weight_name!r}: is it for another model?"
            )
        w = tensors[layer.weight_name].detach().double()
        if tuple(w.shape) != tuple(layer.module.weight.shape):
            raise LeaklibError(
                f"observation entry {layer.weight_name!r} has shape {tuple(w.shape)}, "
                f"the model's last layer has {tuple(layer.module.weight.shape)}"
            )
        if not torch.isfinite(w).all():
            raise LeaklibError(f"observation entry {layer.weight_name!r} contains NaN or Inf")
        ws.append(w)
        if layer.bias_name is not None and layer.bias_name in tensors:
            bs.append(tensors[layer.bias_name].detach().double())
    dW = torch.stack(ws).mean(0).cpu()
    db = torch.stack(bs).mean(0).cpu() if len(bs) == len(ws) and layer.bias_name else None
    return dW, db, layer


def num_images_of(observation: Observation | Sequence[Observation], num_images: int | None) -> int:
    """K: the given ``num_images`` or the observation's, failing when neither is known or they disagree."""
    obs_list = as_observations(observation)
    known = obs_list[0].num_images if isinstance(obs_list[0], (FedSGD, FedAvg)) else None
    if num_images is None:
        if not known or known <= 0:
            raise LeaklibError("the number of images K is needed but not known; pass num_images=K")
        return int(known)
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images <= 0:
        raise LeaklibError(f"num_images must be a positive integer, got {num_images!r}")
    if known and known != num_images:
        raise LeaklibError(f"num_images={num_images} but the observation says the client had {known} images")
    return num_images


@dataclass(frozen=True)
class DummyStatistics:
    """What the model does on dummy inputs: mean softmax p (C,), mean feature sum O, what follows z.

    ``head`` is ``"identity"`` when the model outputs z = W h + b itself, ``"relu"`` when it outputs
    max(z, 0) (the Keras CIFAR CNN), ``"other"`` otherwise.
    """

    mean_softmax: Tensor
    mean_feature_sum: float
    head: str


@torch.no_grad()
def dummy_statistics(
    model: nn.Module,
    image_shape: Sequence[int],
    num_dummy: int,
    *,
    seed: int = 0,
    normalization=None,
    bn: str = "eval",
) -> DummyStatistics:
    """Feed ``num_dummy`` uniform-random images (Geng et al. 2021, Sec. 4.1) and average p and ||h||_1.

    ``h``, the final linear layer's input, is read with a forward hook; the model runs functionally on copies
    of its buffers with batch norm in the client's mode ``bn``, so nothing is updated. ``normalization`` maps
    the [0,1) images into the model's input space (none: fed as they are). ``head`` tells whether the model
    transforms the linear output further (e.g. the Keras CIFAR CNN's ReLU on the logits).
    """
    if len(tuple(image_shape)) != 3:
        raise LeaklibError(f"image_shape must be (C, H, W), got {tuple(image_shape)}")
    layer = last_layer(model)
    params, buffers = split_state(model)
    buffers = {k: v.clone() for k, v in buffers.items()}
    param = next(iter(params.values()))
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((num_dummy, *image_shape), generator=gen)
    if normalization is not None:
        x = normalization.normalize(x)
    x = x.to(device=param.device, dtype=param.dtype)
    seen: dict[str, Tensor] = {}

    def hook(_mod: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        seen["h"], seen["z"] = inputs[0].detach(), output.detach()

    handle = layer.module.register_forward_hook(hook)
    try:
        with bn_mode(model, bn):
            out = functional_call(model, (params, buffers), (x,))
    finally:
        handle.remove()
    if "h" not in seen:
        raise LeaklibError(f"the final linear layer {layer.weight_name!r} was not used in the model's forward pass")
    h, z = seen["h"].flatten(1).double(), seen["z"].double()
    if out.shape != z.shape:
        raise LeaklibError(
            f"the model's output {tuple(out.shape)} is not the final linear layer's {tuple(z.shape)}: "
            "the layer found is not the last one"
        )
    if (h < 0).any():
        warnings.warn(
            "the input of the final linear layer has negative entries; rules using ||h||_1 assume non-negative "
            "(post-ReLU) features",
            stacklevel=3,
        )
    out = out.double()
    if torch.allclose(out, z, rtol=1e-5, atol=1e-6):
        head = "identity"
    elif torch.allclose(out, z.clamp_min(0), rtol=1e-5, atol=1e-6):
        head = "relu"
    else:
        head = "other"
    p = torch.softmax(out, dim=1)
    return DummyStatistics(mean_softmax=p.mean(0).cpu(), mean_feature_sum=float(h.abs().sum(1).mean()), head=head)


def image_shape_of(model: nn.Module, image_shape: Sequence[int] | None) -> tuple[int, ...] | None:
    """The batch's image shape (C, H, W): ``image_shape`` if given, else the model's own, else None."""
    shape = image_shape if image_shape is not None else getattr(model, "image_shape", None)
    return None if shape is None else tuple(shape)


def rule_dummy_statistics(model: nn.Module, num_images: int, seed: int, image_shape: Sequence[int] | None,
                          normalization, num_dummy: int | None, bn: str) -> DummyStatistics:
    """:func:`dummy_statistics` as a count rule needs it: ``num_dummy`` (default K) images of the batch's shape.

    Warns when something follows the final linear layer (e.g. a ReLU on the logits): classes with a
    negative logit then send no gradient and the count estimates are biased.
    """
    shape = image_shape_of(model, image_shape)
    if shape is None:
        raise LeaklibError("this rule feeds dummy images to the model and needs image_shape=(C, H, W)")
    n = num_images if num_dummy is None else num_dummy
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise LeaklibError(f"num_dummy must be a positive integer, got {num_dummy!r}")
    stats = dummy_statistics(model, shape, n, seed=seed, normalization=normalization, bn=bn)
    if stats.head != "identity":
        warnings.warn(
            f"the model applies {stats.head!r} to its final linear output (e.g. a ReLU on the logits): "
            "classes with a negative logit send no gradient, so count estimates are biased",
            stacklevel=4,
        )
    return stats


def probe_head(model: nn.Module, image_shape: Sequence[int] | None, normalization) -> str:
    """What follows the final layer (identity / relu), probed on one dummy image when the shape is known."""
    shape = image_shape_of(model, image_shape)
    if shape is None:
        return "identity"
    return dummy_statistics(model, shape, 1, normalization=normalization).head


@torch.no_grad()
def head_probabilities(layer: LastLayer, features: Tensor, head: str) -> Tensor:
    """softmax of the model's output for given inputs ``h`` of its final layer (rows), in float64."""
    W = layer.module.weight.detach().double().cpu()
    b = layer.module.bias.detach().double().cpu() if layer.module.bias is not None else 0.0
    z = features @ W.T + b
    if head == "relu":
        z = z.clamp_min(0)
    elif head != "identity":
        raise LeaklibError("the model transforms its final linear output in an unknown way; only none or ReLU")
    return torch.softmax(z, dim=1)
