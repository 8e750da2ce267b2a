"""Device choice, seeding and the provenance recorded with every result."""

from __future__ import annotations

import platform
import random
from typing import Any

import numpy as np
import torch

from .errors import LeaklibError, check_choice

DEVICES = ("auto", "cpu", "cuda")
MAX_THREADS = 256  # a bound on --threads: more is a typo, not a machine


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU is an error, not a fallback."""
    if isinstance(device, torch.device):
        return device
    name = str(device)
    base = name.split(":")[0]
    check_choice("device", base, DEVICES)
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise LeaklibError("device 'cuda' was asked for but no CUDA GPU is visible to torch; use --device cpu or auto")
    return torch.device(name)


def synchronize(device: torch.device | str = "cpu") -> None:
    """Wait for the device's queued kernels before a clock is read (CUDA runs them asynchronously)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a CPU generator seeded the same (pass it on explicitly)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise LeaklibError(f"seed must be an integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def provenance(device: torch.device | str | None = None, seed: int | None = None) -> dict[str, Any]:
    """Versions, device and seed, stored beside every result so that it can be regenerated."""
    from . import __version__

    info: dict[str, Any] = {
        "leaklib": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # SIMD kernels: float rounding differs by it
    }
    if device is not None:
        info["device"] = str(device)
        if torch.device(device).type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    if seed is not None:
        info["seed"] = seed
    return info
