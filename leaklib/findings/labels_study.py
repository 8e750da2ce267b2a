"""Helpers for notebooks 01, 06 and 07: Geng et al. (2021)'s label findings and several updates of one batch.

- :func:`label_rows` flattens a :func:`leaklib.labels.label_accuracy_table` table into one row per rule
  (notebook 01: label accuracy as labels repeat, Sec. 5).
- :func:`local_updates` gives several FedAvg updates of the *same* batch (Geng et al., RQ3): at successive
  global models (``vary="rounds"``: the server applies update i to get the weights of update i+1, and each
  observation carries its own weights), or at one global model with a different local learning rate
  (``vary="lr"``: update i uses ``lr * (i + 1)``) or mini-batch order (``vary="shuffle"``: shuffle seed i).
- :func:`attack_trial` runs one experiment whose attack matches ``updates`` such observations jointly
  (``updates=1`` is the ordinary single-update attack), returning a JSON record with the aligned metrics.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..attack import AttackConfig, invert
from ..errors import LeaklibError, check_choice, check_positive
from ..experiments import Experiment, attack_labels, prepare, score
from ..fl import FedAvg, fedavg_update

VARY = ("rounds", "lr", "shuffle")


def label_rows(table: Mapping[str, Any], **tags: Any) -> list[dict[str, Any]]:
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


def local_updates(model: nn.Module, images: Tensor, labels: Tensor, count: int, *, vary: str = "rounds",
                  epochs: int = 1, batch_size: int | None = None, lr: float = 0.01, bn: str = "eval") -> list[FedAvg]:
    """``count`` FedAvg updates of one batch.

    ``vary="rounds"``: update i+1 starts from the weights of update i applied to the global model (the
    client trains on the same batch in successive rounds; each observation carries its global weights).
    ``vary="lr"``: all at the model's weights, update i with ``lr * (i + 1)``; ``vary="shuffle"``: all at
    the model's weights, update i with shuffle seed i. The server knows each update's local
    hyper-parameters, so the attack replays each one exactly. At one global model the updates differ only
    when local SGD takes more than one step, so ``lr`` and ``shuffle`` need ``batch_size`` below the number
    of images.
    """
    check_choice("vary", vary, VARY)
    check_positive("count", count)
    if vary == "rounds":
        server = copy.deepcopy(model)  # the global model, moved by each round's update
        observations = []
        for _ in range(count):
            obs = fedavg_update(server, images, labels, epochs=epochs, batch_size=batch_size, lr=lr, bn=bn,
                                keep_weights=True)
            observations.append(obs)
            with torch.no_grad():
                for name, p in server.named_parameters():
                    p.add_(obs.update[name])
        return observations
    if (batch_size is None or batch_size >= images.shape[0]) and count > 1:
        raise LeaklibError(f"batch_size={batch_size} covers all {images.shape[0]} images in one local step: the "
                           "updates carry the same gradient; use a smaller local batch")
    return [fedavg_update(model, images, labels, epochs=epochs, batch_size=batch_size,
                          lr=lr * (i + 1) if vary == "lr" else lr, shuffle_seed=i if vary == "shuffle" else None,
                          bn=bn) for i in range(count)]


def attack_trial(exp: Experiment, config: AttackConfig, *, updates: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", vary: str = "rounds") -> dict[str, Any]:
    """Attack ``updates`` FedAvg updates (:func:`local_updates`) of the experiment's batch jointly; a JSON-ready record.

    ``exp.setting`` must be ``fedavg``. The labels follow ``exp.labels`` (read from the first update when a
    rule is used). The record holds the aligned PSNR, SSIM, MSE, label accuracy, per-image PSNR and the
    aligned reconstruction as 8-bit lists.
    """
    if exp.setting != "fedavg":
        raise LeaklibError(f"attack_trial needs Experiment(setting='fedavg'), got setting={exp.setting!r}")
    _, batch, model = prepare(exp, seed)
    observations = local_updates(model, batch.images, batch.labels, updates, vary=vary, epochs=exp.epochs,
                                 batch_size=exp.local_batch, lr=exp.local_lr, bn=exp.client_bn)
    labels = attack_labels(exp, model, observations[0], batch, seed)
    result = invert(model, observations, labels, config, image_shape=tuple(batch.images.shape[1:]),
                    normalization=batch.normalization, device=device, seed=seed, progress=False)
    metrics, recon01 = score(result, batch)
    return {
        "psnr": float(metrics["psnr"]), "ssim": float(metrics["ssim"]), "mse": float(metrics["mse"]),
        "label_accuracy": float(metrics["label_accuracy"]),
        "per_image_psnr": [float(p["psnr"]) for p in metrics["per_image"]],
        "loss": float(result.loss), "seconds": float(result.seconds), "updates": updates,
        "true_labels": batch.labels.tolist(), "attack_labels": result.labels.tolist(),
        "recon_uint8": (recon01 * 255).round().to(torch.uint8).tolist(),
    }
