"""Label recovery from a client's update: one function per rule, a registry by name, and a benchmark.

``recover_labels(rule, model, observation, K)`` returns the K labels of the client's batch, sorted.
Rules: idlg, analytic, yin, llg, geng (Geng et al. 2021), bias, ilrg-refined and peel (leaklib), ilrg (Ma et al.
2023), oracle,
and ``best`` (an alias). See rules.py for each rule's assumptions.
"""

from .benchmark import benchmark
from .head import DummyStatistics, LastLayer, dummy_statistics, last_layer, last_layer_gradient
from .rules import (
    RULES,
    analytic,
    bias,
    counts_to_labels,
    geng,
    idlg,
    ilrg,
    ilrg_refined,
    labels_to_counts,
    list_rules,
    llg,
    oracle,
    peel,
    recover_labels,
    resolve_rule,
    round_counts,
    rule_options,
    yin,
)

__all__ = [
    "RULES", "DummyStatistics", "LastLayer", "analytic", "bias", "counts_to_labels", "dummy_statistics",
    "geng", "idlg", "ilrg", "ilrg_refined", "labels_to_counts", "last_layer", "last_layer_gradient", "list_rules", "llg",
    "oracle", "peel", "recover_labels", "resolve_rule", "round_counts", "rule_options", "yin", "benchmark",
]
