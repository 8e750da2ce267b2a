"""Image priors added to the matching objective (all averaged, so weights do not depend on image size).

- total variation (Inverting Gradients, Sec. 4; docs/PAPERS_NOTES.md): anisotropic, mean absolute differences;
- l2: mean squared pixel value (in the normalised domain);
- box: mean distance of pixels outside the valid pixel box;
- batch-norm statistics (GradInversion, Yin et al. 2021): each BN layer's batch mean/variance of the
  dummy input against its running statistics.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def total_variation(x: Tensor) -> Tensor:
    """``mean |x[..., i+1, j] - x[..., i, j]| + mean |x[..., i, j+1] - x[..., i, j]|`` over (N, C, H, W)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    return dh + dw


def l2_norm(x: Tensor) -> Tensor:
    """Mean squared value of the (normalised) image."""
    return x.square().mean()


def box_distance(x: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """Mean distance to the pixel box ``[lower, upper]`` (zero inside it)."""
    return ((lower - x).clamp(min=0) + (x - upper).clamp(min=0)).mean()


class BatchNormStats:
    """Records each BatchNorm layer's input while the model runs, for GradInversion's BN prior.

    Forward hooks (registered in ``__enter__``, removed in ``__exit__``) keep the inputs of each
    ``nn.BatchNorm2d``; :meth:`penalty` compares their batch mean/variance to the running statistics
    passed in ``buffers``: ``sum_l |mu_l(x) - mu_l|_2 + |var_l(x) - var_l|_2``.
    """

    def __init__(self, model: nn.Module):
        self.layers = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.inputs: dict[str, Tensor] = {}
        self.recording = False  # only the forward pass run for the prior is recorded
        self._handles: list = []

    def __enter__(self) -> BatchNormStats:
        for name, module in self.layers:
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.inputs.clear()

    def _hook(self, name: str):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            if self.recording:
                self.inputs[name] = args[0]
        return hook

    def penalty(self, buffers: dict[str, Tensor]) -> Tensor:
        """Distance of the recorded batch statistics to the running ones (call right after a forward)."""
        total = []
        for name, _ in self.layers:
            x = self.inputs.pop(name)
            dims = [0] + list(range(2, x.ndim))
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            total.append(torch.linalg.vector_norm(mean - buffers[f"{name}.running_mean"])
                         + torch.linalg.vector_norm(var - buffers[f"{name}.running_var"]))
        return torch.stack(total).sum()
