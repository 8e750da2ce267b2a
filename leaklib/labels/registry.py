"""The label rules by name: ``recover_labels(rule, model, observation, K)`` and the ``best`` alias.

Published rules (rules.py): idlg, analytic, yin, llg, geng, ilrg. leaklib's own: geng-path (geng_path_rule.py,
Geng's counts for FedAvg with dummy statistics at both ends of the update), bias (bias_rule.py), ilrg-refined (ilrg_refined_rule.py) and peel (peel_rule.py). ``oracle`` returns the true labels, for
ablations with perfect label knowledge. ``best`` is an alias of ``peel``: exact per-image labels where the
head allows, else ilrg-refined, leaklib's rule with the highest accuracy on untrained networks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import LeaklibError, unknown
from .bias_rule import bias
from .geng_path_rule import geng_path
from .head import Obs, num_images_of
from .ilrg_refined_rule import ilrg_refined
from .peel_rule import peel
from .rules import analytic, geng, idlg, ilrg, llg, yin


def oracle(
    model: nn.Module, observation: Obs, num_images: int | None = None, *, true_labels: Tensor | None = None
) -> Tensor:
    """The true labels, sorted (for ablations: an attack with perfect label knowledge)."""
    K = num_images_of(observation, num_images)
    if true_labels is None:
        raise LeaklibError("rule 'oracle' returns the true labels and needs true_labels=... passed in")
    labels = torch.as_tensor(true_labels, dtype=torch.long).flatten().cpu()
    if labels.numel() != K:
        raise LeaklibError(f"rule 'oracle' got {labels.numel()} true labels for K={K} images")
    return torch.sort(labels).values


RULES: dict[str, Callable[..., Tensor]] = {
    "idlg": idlg,
    "analytic": analytic,
    "yin": yin,
    "llg": llg,
    "geng": geng,
    "geng-path": geng_path,
    "bias": bias,
    "ilrg": ilrg,
    "ilrg-refined": ilrg_refined,
    "peel": peel,
    "oracle": oracle,
}
BEST = "peel"  # the alias `best`: exact per-image labels where the head allows, else ilrg-refined


def rule_options(rule: str) -> list[str]:
    """The keyword options the rule takes besides ``seed`` and ``true_labels`` (e.g. image_shape, bn)."""
    params = inspect.signature(RULES[resolve_rule(rule)]).parameters
    return [p for p in params if params[p].kind == inspect.Parameter.KEYWORD_ONLY and p not in ("seed", "true_labels")]


def list_rules() -> list[str]:
    """Names accepted by :func:`recover_labels` (``best`` is an alias)."""
    return [*RULES, "best"]


def resolve_rule(rule: str) -> str:
    """The registry name behind ``rule`` (``best`` -> the current best rule); unknown names list the valid."""
    if rule == "best":
        return BEST
    if rule not in RULES:
        raise unknown("label rule", rule, list_rules())
    return rule


def recover_labels(
    rule: str,
    model: nn.Module,
    observation: Obs,
    num_images: int | None = None,
    *,
    seed: int = 0,
    true_labels: Tensor | None = None,
    **opts,
) -> Tensor:
    """Recover the K labels of a client's batch from its update with the named rule; sorted LongTensor.

    ``opts`` go to the rule (e.g. ``image_shape``, ``normalization``, ``num_dummy`` for geng/bias); an option
    the rule does not take is an error listing those it does.
    """
    fn = RULES[resolve_rule(rule)]
    params = inspect.signature(fn).parameters
    kwargs = dict(opts)
    if "seed" in params:
        kwargs["seed"] = seed
    if "true_labels" in params:
        kwargs["true_labels"] = true_labels
    allowed = [p for p in params if params[p].kind == inspect.Parameter.KEYWORD_ONLY]
    extra = [k for k in kwargs if k not in allowed]
    if extra:
        raise LeaklibError(
            f"rule {rule!r} takes no option {extra[0]!r}; its options: {', '.join(allowed) or 'none'}"
        )
    labels = fn(model, observation, num_images, **kwargs)
    return labels.long().cpu()
