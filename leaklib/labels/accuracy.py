"""The label-accuracy table: every rule on the same client updates, side by side (notebooks 01 and 05).

Each trial draws a batch (seed + trial; augmented copies only where the dataset lacks the images the pattern
needs), builds the model (untrained: freshly initialised with seed + trial; trained: once), lets the client
compute its FedSGD gradient or FedAvg update, and asks each rule for the labels. Reported per rule: label
accuracy (multiset overlap / K, Geng et al. Sec. 5), the rate of batches whose counts are all right, the mean
absolute count error per class, and the seconds per call.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import LeaklibError, check_choice, check_positive
from ..fl import SETTINGS, Observation, fedavg_update, fedsgd_update
from ..io import ensure_writable_dir, save_figure, write_json
from ..metrics import label_accuracy
from ..runtime import provenance, resolve_device, seed_everything
from .counts import labels_to_counts
from .registry import RULES, recover_labels, resolve_rule, rule_options


def parse_rules(rules: str | list[str]) -> list[str]:
    """``"all"`` (every rule but the oracle, plus ``best``) or a comma-separated list of rule names."""
    if isinstance(rules, str):
        if rules.strip() == "all":
            return [r for r in RULES if r != "oracle"] + ["best"]
        rules = [r.strip() for r in rules.split(",") if r.strip()]
    if not rules:
        raise LeaklibError("no label rule given; pass --rules all or a comma-separated list such as geng,yin")
    for r in rules:
        resolve_rule(r)
    return list(dict.fromkeys(rules))


def _repeat_pattern(ds, size: int, pattern: str, seed: int) -> str:
    """``rep:N`` (Geng et al.'s repeated labels): size/N distinct classes, N images each, as a counts pattern."""
    n = pattern.split(":", 1)[1].strip()
    if not n.isdigit() or int(n) <= 0 or size % int(n):
        raise LeaklibError(f"pattern rep:N needs N > 0 dividing the batch size {size}, got {pattern!r}")
    present = torch.nonzero(ds.class_counts()).flatten()
    k = size // int(n)
    if k > len(present):
        raise LeaklibError(f"pattern {pattern} with batch size {size} needs {k} classes; {ds.name} has {len(present)}")
    g = torch.Generator().manual_seed(seed)
    classes = sorted(present[torch.randperm(len(present), generator=g)[:k]].tolist())
    return "counts:{" + ",".join(f"{c}:{n}" for c in classes) + "}"


def _draw_batch(ds, size: int, pattern: str, seed: int):
    """make_batch without augmentation, or with it when the dataset lacks the images the pattern needs.

    Besides leaklib.data's patterns, ``rep:N`` draws size/N classes with N images each.
    """
    from ..data import make_batch

    if pattern.startswith("rep:"):
        pattern = _repeat_pattern(ds, size, pattern, seed)
    try:
        return make_batch(ds, size, pattern, seed)
    except LeaklibError as e:
        if "augment=True" not in str(e):
            raise
        return make_batch(ds, size, pattern, seed, augment=True)


def _check_client(setting: str, trials: int, batch_size: int, epochs: int, local_lr: float,
                  local_batch: int | None) -> None:
    check_choice("setting", setting, SETTINGS)
    check_positive("trials", trials)
    check_positive("batch size", batch_size)
    check_positive("epochs", epochs)
    check_positive("local learning rate", local_lr, integer=False)
    if local_batch is not None:
        check_positive("local batch", local_batch)


def _score_rules(rows: dict[str, dict[str, list]], skipped: dict[str, str], net: nn.Module, obs: Observation,
                 true: Tensor, ds, seed: int, bn: str) -> None:
    """Ask every rule not yet skipped for one trial's labels; append its scores to ``rows`` (or skip it)."""
    true_counts = labels_to_counts(true, ds.num_classes)
    context = {"image_shape": tuple(ds.image_shape), "normalization": ds.normalization, "bn": bn}
    for r in rows:
        if r in skipped:
            continue
        opts = {k: v for k, v in context.items() if k in rule_options(r)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            try:
                pred = recover_labels(r, net, obs, len(true), seed=seed, true_labels=true, **opts)
            except LeaklibError as e:
                skipped[r] = str(e)
                continue
            seconds = time.perf_counter() - t0
        pred_counts = labels_to_counts(pred, ds.num_classes)
        row = rows[r]
        row["acc"].append(label_accuracy(pred, true))
        row["exact"].append(bool(torch.equal(pred_counts, true_counts)))
        row["err"].append(float((pred_counts - true_counts).abs().double().mean()))
        row["sec"].append(seconds)
        row["warn"].extend(str(w.message) for w in caught)


def _rule_summaries(rows: dict[str, dict[str, list]], skipped: dict[str, str]) -> dict[str, Any]:
    """Per rule: the means over its trials, or why it was skipped."""
    table: dict[str, Any] = {}
    for r, row in rows.items():
        if r in skipped and not row["acc"]:
            table[r] = {"skipped": skipped[r]}
            continue
        n = len(row["acc"])
        table[r] = {
            "label_accuracy": sum(row["acc"]) / n,
            "exact_rate": sum(row["exact"]) / n,
            "count_error": sum(row["err"]) / n,
            "seconds": sum(row["sec"]) / n,
            "trials": n,
            "per_trial_accuracy": row["acc"],
        }
        if r == "best":
            table[r]["alias_of"] = resolve_rule("best")
        if row["warn"]:
            table[r]["warnings"] = sorted(set(row["warn"]))
    return table


def label_accuracy_table(
    dataset: str,
    model: str,
    *,
    trained: bool = False,
    setting: str = "fedsgd",
    epochs: int = 1,
    local_batch: int | None = None,
    local_lr: float = 0.01,
    batch_size: int = 8,
    pattern: str = "unique",
    trials: int = 10,
    rules: str | list[str] = "all",
    seed: int = 0,
    bn: str = "eval",
    device: str = "cpu",
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Run every rule on ``trials`` client updates; return (and write to ``out/labels.json``) the table.

    ``setting`` fedsgd: one gradient of the batch; fedavg: ``epochs`` local epochs of SGD with mini-batches of
    ``local_batch`` (default the whole batch) at ``local_lr``, read through Geng's pseudo-gradient.
    """
    from ..data import load_dataset
    from ..models import build

    _check_client(setting, trials, batch_size, epochs, local_lr, local_batch)
    rule_names = parse_rules(rules)
    dev = resolve_device(device)
    if out is not None:
        out = ensure_writable_dir(out)
    seed_everything(seed)
    ds = load_dataset(dataset)
    fixed_model = build(model, ds.num_classes, trained=True, seed=seed, image_shape=ds.image_shape) if trained else None

    rows: dict[str, dict[str, list]] = {r: {"acc": [], "exact": [], "err": [], "sec": [], "warn": []} for r in rule_names}
    skipped: dict[str, str] = {}
    augmented = 0
    for trial in range(trials):
        batch = _draw_batch(ds, batch_size, pattern, seed + trial)
        augmented += bool(batch.augmented)
        net = fixed_model if trained else build(model, ds.num_classes, seed=seed + trial, image_shape=ds.image_shape)
        net = net.to(dev)
        images, labels = batch.images.to(dev), batch.labels.to(dev)
        if setting == "fedsgd":
            obs = fedsgd_update(net, images, labels, bn=bn)
        else:
            obs = fedavg_update(net, images, labels, epochs=epochs, batch_size=local_batch, lr=local_lr, bn=bn)
        _score_rules(rows, skipped, net, obs, batch.labels.cpu(), ds, seed + trial, bn)

    config = {
        "dataset": dataset, "model": model, "trained": trained, "setting": setting, "batch_size": batch_size,
        "pattern": pattern, "trials": trials, "rules": rule_names, "seed": seed, "bn": bn,
        "augmented_trials": augmented, "augmented_note": _augmented_note(augmented, trials, dataset, pattern),
    }
    if setting == "fedavg":
        config.update(epochs=epochs, local_batch=local_batch or batch_size, local_lr=local_lr)
    result = {"rules": _rule_summaries(rows, skipped), "config": config, "provenance": provenance(dev, seed)}
    if out is not None:
        _write(result, Path(out))
    return result



def label_rows(table: dict[str, Any], **tags: Any) -> list[dict[str, Any]]:
    """One row per rule of a label-accuracy table (``{"rules": {...}}``), tagged with ``tags`` (e.g. pattern).

    A rule the table skipped (e.g. ``yin`` when K exceeds the number of classes) gets ``None`` metrics
    and its reason under ``skipped``.
    """
    rows = []
    for rule, row in table["rules"].items():
        if "label_accuracy" in row:
            rows.append({**tags, "rule": rule, "label_accuracy": float(row["label_accuracy"]),
                         "exact_rate": float(row["exact_rate"]), "count_error": float(row["count_error"]),
                         "per_trial_accuracy": [float(a) for a in row["per_trial_accuracy"]], "skipped": None})
        else:
            rows.append({**tags, "rule": rule, "label_accuracy": None, "exact_rate": None, "count_error": None,
                         "per_trial_accuracy": [], "skipped": row.get("skipped", "skipped")})
    return rows

def _augmented_note(augmented: int, trials: int, dataset: str, pattern: str) -> str:
    if not augmented:
        return "no augmentation"
    return (f"{augmented} of {trials} batches hold flipped/shifted copies: {dataset} lacks the "
            f"images pattern {pattern} needs")


def _write(result: dict[str, Any], out: Path) -> None:
    """``out/labels.json`` and its bar plot ``out/labels.png``."""
    write_json(out / "labels.json", result)
    fig = figure(result)
    save_figure(fig, out / "labels.png")
    import matplotlib.pyplot as plt

    plt.close(fig)


def figure(result: dict[str, Any]):
    """Bar plot: label accuracy and exact-count rate per rule (skipped rules left out)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = {r: v for r, v in result["rules"].items() if "label_accuracy" in v}
    names = list(rows)
    x = torch.arange(len(names)).numpy()
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * max(len(names), 1), 3.2))
    ax.bar(x - 0.2, [rows[r]["label_accuracy"] for r in names], width=0.4, label="label accuracy")
    ax.bar(x + 0.2, [rows[r]["exact_rate"] for r in names], width=0.4, label="exact counts")
    ax.set_xticks(x, names, rotation=30)
    ax.set_ylim(0, 1.05)
    c = result["config"]
    ax.set_title(f"{c['dataset']} {c['model']}{' (trained)' if c['trained'] else ''} {c['setting']} "
                 f"K={c['batch_size']} {c['pattern']}", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
