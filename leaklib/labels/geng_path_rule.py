"""leaklib's ``geng-path`` rule: Geng et al.'s counts for FedAvg, with the dummy statistics taken along the update.

Geng et al. (2021, Sec. 4.2) read a FedAvg update through the pseudo-gradient ``(w_0 - w_T) / (lr * steps)``,
the mean of the local steps' gradients, but measure p_c and O on dummy inputs at the start weights w_0 only.
Each step's row sum is ``S_c(t) ~= p_c(w_t) O(w_t) - n_c(t) O(w_t) / B``, so over an epoch of T steps of B images
(T B = K) the pseudo-gradient's row sum is about ``mean_t[p_c O] - n_c mean_t[O] / K``, which gives

    n_c ~= K (mean_t[p_c(w_t) O(w_t)] - S_c) / mean_t[O(w_t)].

The server knows the client's path from w_0 to w_T = w_0 + update; the T gradients were taken at w_0 ... w_{T-1},
so the means are taken at the first and the last of them, w_0 and w_0 + (T - 1)/T * update, the path read as a
straight line (our extension). For FedSGD and for a one-step update it is the published ``geng`` rule. Measured on untrained LeNet(Zhu),
Fashion-MNIST batches of 64, one local epoch of 16 steps at lr 0.01: label accuracy 0.36 (geng) -> 0.63;
the rest of the gap is the batch's own softmax drifting from the dummy one as the client learns its images
(docs/FEDAVG_LABELS.md).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import LeaklibError
from ..fl import FedAvg, as_observations
from .counts import counts_to_labels, round_counts
from .head import Obs, last_layer_gradient, num_images_of, rule_dummy_statistics


def _path_ends(model: nn.Module, observation: Obs) -> list[nn.Module]:
    """The model at w_0 and, for each FedAvg observation of several steps, at its last step's start weights."""
    ends = [model]
    for obs in as_observations(observation):
        if not isinstance(obs, FedAvg) or obs.steps == 1:
            continue
        last = (obs.steps - 1) / obs.steps  # w_{T-1} on the straight line from w_0 to w_T
        end = copy.deepcopy(model)
        with torch.no_grad():
            for name, p in end.named_parameters():
                start = obs.weights[name] if obs.weights is not None else p
                p.copy_(start.to(p) + last * obs.update[name].to(p))
        ends.append(end)
    return ends


def geng_path(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    seed: int = 0,
    image_shape: Sequence[int] | None = None,
    normalization=None,
    num_dummy: int | None = None,
    bn: str = "eval",
) -> Tensor:
    """n_c = K (mean[p_c O] - S_c) / mean[O] at the first and last local step's weights (module docstring)."""
    K = num_images_of(observation, num_images)
    dW, _, _ = last_layer_gradient(model, observation)
    stats = [rule_dummy_statistics(m, K, seed, image_shape, normalization, num_dummy, bn)
             for m in _path_ends(model, observation)]
    p_times_o = torch.stack([s.mean_softmax.double() * s.mean_feature_sum for s in stats]).mean(0)
    o = sum(s.mean_feature_sum for s in stats) / len(stats)
    if o <= 0:
        raise LeaklibError("rule 'geng-path' measured a zero feature sum O on dummy inputs; cannot divide by it")
    return counts_to_labels(round_counts(K * (p_times_o - dW.sum(1)) / o, K))
