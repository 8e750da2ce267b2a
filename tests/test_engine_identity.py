"""Same seed, same numbers: fixed small attacks against golden values recorded before the engine was refactored.

Each case runs :func:`~leaklib.attack.invert` on one or two cifar10-sample images and compares, bit for bit
(exact float equality, no tolerance), the full loss history, the final losses, the chosen restart and a
sha256 of the final images' float32 bytes with ``tests/data/engine_identity.json``. Threads are pinned
to one so that the numbers do not depend on the core count. The golden file holds one record per machine
they were recorded on: two machines with the same torch version and CPU capability can still round
differently (the same "AMD EPYC" AVX-512 name hides several microarchitectures), so a case passes when its
numbers equal those of one record with this torch and capability, and skips where no record has them.
To add this machine's record (only from code whose numbers are known right):
``python tests/test_engine_identity.py --regen``; to replace all records after an intended change of
numbers, delete the file first.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from leaklib.attack import AttackConfig, AttackResult, invert
from leaklib.data import load_dataset, make_batch
from leaklib.fl import fedavg_update, fedsgd_update
from leaklib.models import build

GOLDEN = Path(__file__).parent / "data" / "engine_identity.json"

# name -> (model, images, observation kind, labels, AttackConfig fields)
CASES: dict[str, tuple[str, int, str, str, dict[str, Any]]] = {
    "fedsgd": ("lenet-zhu", 1, "fedsgd", "known", {"iterations": 50}),
    "levels": ("lenet-zhu", 1, "fedsgd", "known", {"iterations": 50, "scales": 3, "tv": 1e-3}),
    "fedavg": ("lenet-zhu", 2, "fedavg", "known", {"iterations": 20}),
    "restarts": ("lenet-zhu", 1, "fedsgd", "known", {"iterations": 50, "restarts": 4}),
    # Further paths through the engine: joint labels with several observations and L-BFGS; batch norm in
    # train mode with its prior, restarts one at a time.
    "joint-lbfgs": ("lenet-zhu", 1, "fedsgd+fedavg", "joint",
                    {"iterations": 20, "restarts": 2, "optimizer": "lbfgs", "lr": 0.5, "fedavg": "pseudo"}),
    "bn-unbatched": ("resnet20-1", 1, "fedsgd", "known",
                     {"iterations": 10, "restarts": 2, "bn_mode": "train", "bn_prior": 1e-2, "batched": False}),
}


def platform() -> dict[str, str]:
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}


def run_case(name: str) -> dict[str, Any]:
    """The numbers one case's attack gives, with one torch thread (restored afterwards)."""
    model_name, num_images, kind, labels, fields = CASES[name]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = load_dataset("cifar10-sample")
        batch = make_batch(ds, num_images, indices=list(range(num_images)))
        model = build(model_name, num_classes=ds.num_classes)
        bn = fields.get("bn_mode", "eval")
        observations = []
        if "fedsgd" in kind:
            observations.append(fedsgd_update(model, batch.images, batch.labels, bn=bn))
        if "fedavg" in kind:
            observations.append(fedavg_update(model, batch.images, batch.labels, epochs=2, batch_size=1, lr=0.05))
        observation = observations[0] if len(observations) == 1 else observations
        result = invert(model, observation, batch.labels if labels == "known" else "joint",
                        AttackConfig(**fields), image_shape=ds.image_shape, normalization=batch.normalization,
                        seed=3, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    return numbers(result)


def numbers(result: AttackResult) -> dict[str, Any]:
    return {
        "loss_history": result.loss_history,
        "restart_losses": result.restart_losses,
        "restart_objectives": result.restart_objectives,
        "best_restart": result.best_restart,
        "iterations": result.iterations,
        "labels": result.labels.tolist(),
        "images_sha256": hashlib.sha256(result.images.to(torch.float32).numpy().tobytes()).hexdigest(),
    }


def regenerate() -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {"records": []}
    golden["records"].append({"platform": platform(), "cases": {name: run_case(name) for name in CASES}})
    GOLDEN.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"added a record to {GOLDEN}")


@pytest.mark.parametrize("name", list(CASES))
def test_engine_gives_the_recorded_numbers_bit_for_bit(name):
    records = [r for r in json.loads(GOLDEN.read_text())["records"] if r["platform"] == platform()]
    if not records:
        pytest.skip(f"no golden values recorded on {platform()}")
    got = run_case(name)
    # exact equality (JSON keeps a float's every bit) with the record of one machine of this platform
    mismatches = [[key for key in r["cases"][name] if got[key] != r["cases"][name][key]] for r in records]
    assert any(not m for m in mismatches), f"differs from every record of {platform()}: {mismatches}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        raise SystemExit("usage: python tests/test_engine_identity.py --regen")
    regenerate()
