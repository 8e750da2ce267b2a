"""Atomic writes: a result file is either absent or complete, never half-written.

Each writer writes to a temporary file in the same directory and renames it into place
(``os.replace`` is atomic on POSIX), so a run killed at any point leaves nothing a later step trusts.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .errors import LeaklibError


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written there (fails fast)."""
    if not str(path).strip():
        raise LeaklibError("output directory is empty (''); give a folder name, e.g. --out runs/try1")
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LeaklibError(f"output directory {str(path)!r} cannot be created: {e.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise LeaklibError(f"output directory {str(path)!r} is not writable; choose another --out")
    return path


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), else set and restored."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600, and the mode survives the rename
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class _NonFinite(Exception):
    """An infinite number where a JSON value is needed (JSON has no infinity)."""


def _jsonable(obj: Any, where: str = "") -> Any:
    """Turn tensors, numpy values, dataclasses and paths into plain JSON values.

    NaN (no value, e.g. a diverged restart's loss) becomes ``null``; an infinity raises :class:`_NonFinite`
    naming where it is (``where``: the key path so far).
    """
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # torch.Tensor, numpy array or scalar
        return _jsonable(obj.tolist(), where)
    if isinstance(obj, float) and not math.isfinite(obj):
        if math.isnan(obj):  # NaN is not JSON
            return None
        raise _NonFinite(f"{where or 'the value'} is {obj}")
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically; NaN is written as ``null``, an infinity is refused."""
    try:
        text = json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"
    except _NonFinite as e:
        raise LeaklibError(f"cannot write {str(path)!r}: {e}, and JSON has no infinity (a setting or a "
                           "measurement overflowed)") from None
    except ValueError as e:  # allow_nan=False: a non-finite float that _jsonable did not see
        if "Out of range float" not in str(e):
            raise
        raise LeaklibError(f"cannot write {str(path)!r}: it holds a non-finite number ({e})") from None
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (e.g. a markdown table beside a notebook's figures)."""
    if not isinstance(text, str):
        raise LeaklibError(f"write_text writes a str, got {type(text).__name__}")
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    with open(path) as f:
        return json.load(f)


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (format from the file name's suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **kwargs))


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically (checkpoints: a killed run never leaves a truncated one)."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def read_torch(path: str | os.PathLike, what: str = "checkpoint", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with a one-line LeaklibError naming the file for every failure.

    ``weights_only`` unpickles tensors, numbers, strings, lists, tuples and dicts only, so a planted file
    cannot run code. ``what`` names the kind of file in the messages.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise LeaklibError(f"{what} {str(path)!r} {problem}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, bad magic, a pickled object that is not plain tensors/containers
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or ["(no message)"]
        first = next((ln for ln in lines if "Unsupported global" in ln or "Unpickler error" in ln), lines[0])
        first = first.split(". Please")[0]  # not the hint to allow-list globals
        raise LeaklibError(
            f"{what} {str(path)!r} cannot be read as plain tensors (truncated, corrupt, or not a file "
            f"leaklib wrote): {type(e).__name__}: {first[:200]}"
        ) from None
