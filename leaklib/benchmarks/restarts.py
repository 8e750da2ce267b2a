"""Restarts batched vs one by one: wall time and equality of the results (``python -m leaklib.benchmarks.restarts``).

Runs one attack with R restarts computed together (vmap over the restart axis) and R attacks of one
restart each with the same per-restart seeds, on one real sample image, and reports both wall times and
the largest differences between corresponding restarts (final matching loss, images, loss history).
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from ..attack import AttackConfig, invert


def batched_vs_sequential(model_name: str = "resnet20-4", index: int = 0, restarts: int = 4,
                          iterations: int = 30, seed: int = 0, device: str = "cpu",
                          method: str = "ig") -> dict[str, Any]:
    """Time R batched restarts against R single-restart runs with the same seeds; compare their results."""
    from ..data import load_dataset, make_batch
    from ..fl import fedsgd_update
    from ..models import build

    dataset = load_dataset("cifar10-sample")
    batch = make_batch(dataset, 1, indices=[index])
    model = build(model_name, num_classes=dataset.num_classes)
    obs = fedsgd_update(model, batch.images, batch.labels)
    config = AttackConfig.preset(method, iterations=iterations, restarts=restarts)
    run = dict(image_shape=dataset.image_shape, normalization=batch.normalization, device=device, progress=False)
    invert(model, obs, batch.labels, config.replace(iterations=2, restarts=1), **run)  # warm-up
    together = invert(model, obs, batch.labels, config, seed=seed, **run)
    alone = [invert(model, obs, batch.labels, config.replace(restarts=1), seed=seed, restart_seeds=[s], **run)
             for s in together.seeds]
    sequential_seconds = sum(a.seconds for a in alone)
    best = together.best_restart
    return {
        "model": model_name, "index": index, "restarts": restarts, "iterations": iterations, "method": method,
        "batched_seconds": together.seconds, "sequential_seconds": sequential_seconds,
        "speedup": sequential_seconds / together.seconds,
        "batched_losses": together.restart_losses, "sequential_losses": [a.loss for a in alone],
        "max_loss_difference": max(abs(a.loss - b) for a, b in zip(alone, together.restart_losses)),
        "max_history_difference": max(
            (torch.tensor(a.loss_history[0]) - torch.tensor(h)).abs().max().item()
            for a, h in zip(alone, together.loss_history)),
        "best_restart_max_image_difference": (alone[best].images - together.images).abs().max().item(),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    from ..io import write_json
    from ..runtime import provenance

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="resnet20-4")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--method", default="ig")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="write the numbers to this JSON file")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    numbers = batched_vs_sequential(a.model, a.index, a.restarts, a.iterations, a.seed, a.device, a.method)
    numbers["provenance"] = provenance(a.device, a.seed)
    for k, v in numbers.items():
        print(f"{k}: {v}")
    if a.out:
        write_json(a.out, numbers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
