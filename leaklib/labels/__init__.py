"""Label recovery from a client's update: one function per rule, a registry by name, and the accuracy table.

``recover_labels(rule, model, observation, K)`` returns the K labels of the client's batch, sorted.

- rules.py: the published rules: idlg (Zhao et al. 2020), analytic, yin (Yin et al. 2021), llg (Wainakh et
  al. 2022), geng (Geng et al. 2021) and ilrg (Ma et al. 2023);
- leaklib's own rules: geng_path_rule.py (``geng-path``), bias_rule.py (``bias``), ilrg_refined_rule.py (``ilrg-refined``), peel_rule.py (``peel``);
- registry.py: the rules by name, ``oracle`` (the true labels) and ``best`` (an alias of peel);
- head.py: the final linear layer, its gradient and its dummy-input statistics; counts.py: labels <-> counts;
- accuracy.py: :func:`label_accuracy_table`, every rule on the same client updates (``leaklib labels``).
"""

from .accuracy import label_accuracy_table, label_rows
from .bias_rule import bias
from .counts import counts_to_labels, labels_to_counts, round_counts
from .geng_path_rule import geng_path
from .head import DummyStatistics, LastLayer, dummy_statistics, last_layer, last_layer_gradient
from .ilrg_refined_rule import ilrg_refined
from .peel_rule import peel
from .registry import RULES, list_rules, oracle, recover_labels, resolve_rule, rule_options
from .rules import analytic, geng, idlg, ilrg, llg, yin

__all__ = [
    "RULES", "DummyStatistics", "LastLayer", "analytic", "bias", "counts_to_labels", "dummy_statistics",
    "geng", "geng_path", "idlg", "ilrg", "ilrg_refined", "label_accuracy_table", "label_rows", "labels_to_counts", "last_layer",
    "last_layer_gradient", "list_rules", "llg", "oracle", "peel", "recover_labels", "resolve_rule", "round_counts",
    "rule_options", "yin",
]
