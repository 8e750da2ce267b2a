"""leaklib's bias-count rule ``bias``: Geng et al.'s count estimate with the bias gradient in place of S_c / O.

For softmax cross-entropy the bias gradient is exactly ``K db_c = sum_k p_kc - n_c``, so
``n_c = K (p_c - db_c)`` with p_c the batch's mean softmax. Geng et al. (2021, Eq. 8) write the same count
with the row sum S_c over the mean feature sum O, which also needs every image's ||h_k||_1 to be close to O;
the bias gradient needs no such approximation, and only p_c is estimated, on uniform dummy images as Geng et
al. do (head.py). Needs a bias in the final layer; handles repeated labels; best on untrained models.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..errors import LeaklibError
from .counts import counts_to_labels, round_counts
from .head import Obs, last_layer_gradient, num_images_of, rule_dummy_statistics


def bias(
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    seed: int = 0,
    image_shape: Sequence[int] | None = None,
    normalization=None,
    num_dummy: int = 32,
    bn: str = "eval",
) -> Tensor:
    """leaklib's bias-count rule: n_c = K (p_c - db_c), rounded to sum K (module docstring).

    p_c is the mean softmax on ``num_dummy`` uniform dummy images of the batch's shape, batch norm in mode ``bn``.
    """
    K = num_images_of(observation, num_images)
    _, db, layer = last_layer_gradient(model, observation)
    if db is None:
        raise LeaklibError(
            f"rule 'bias' reads the bias gradient but the final layer {layer.weight_name!r} has no bias; use geng"
        )
    stats = rule_dummy_statistics(model, K, seed, image_shape, normalization, num_dummy, bn)
    return counts_to_labels(round_counts(K * (stats.mean_softmax - db), K))
