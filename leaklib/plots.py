"""Figures for the notebooks: reconstruction grids and sweep plots (matplotlib / seaborn).

Plots only draw what they are given: numbers such as PSNR come from :mod:`leaklib.metrics` or from
sweep records (:mod:`leaklib.runs`), never from here. Save with :func:`leaklib.io.save_figure`.
The grid mirrors the figures of Geiping et al. (2020), e.g. Fig. 3: ground truth above, reconstruction
below, PSNR under each reconstruction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .errors import LeaklibError, check_choice

SWEEP_KINDS = ("line", "box", "bar")
CELL_INCHES = 1.25  # size of one image cell in the grid


def _images_hwc(x: Any, name: str) -> np.ndarray:
    """(N, C, H, W) or (C, H, W) tensor/array in [0,1] -> (N, H, W, C) numpy, for imshow."""
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise LeaklibError(f"{name} must have shape (N, C, H, W) with C = 1 or 3, got {tuple(arr.shape)}")
    return np.clip(arr.astype(np.float32), 0.0, 1.0).transpose(0, 2, 3, 1)


def _label_text(label: Any, class_names: Sequence[str] | None) -> str:
    label = int(label)
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


def reconstruction_grid(
    true01: Any,
    recon01: Any,
    psnrs: Sequence[float] | None = None,
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    max_cols: int = 10,
    marked: Sequence[bool] | None = None,
) -> Figure:
    """Ground-truth row over reconstruction row, wrapped every ``max_cols`` images.

    ``psnrs`` (one per image, e.g. ``batch_metrics(...)["per_image"]``) are written under the
    reconstructions; ``labels`` (with optional ``class_names``) above the ground truth; reconstructions
    whose ``marked`` entry is true get a green frame (e.g. above the recognisability bar). Pass the
    reconstructions already aligned to the ground truth (``recon01[perm]``). Grayscale images work.
    """
    true = _images_hwc(true01, "true01")
    recon = _images_hwc(recon01, "recon01")
    if true.shape != recon.shape:
        raise LeaklibError(f"true01 and recon01 differ in shape: {true.shape} vs {recon.shape} (as N, H, W, C)")
    n = true.shape[0]
    for name, seq in (("psnrs", psnrs), ("labels", labels), ("marked", marked)):
        if seq is not None and len(seq) != n:
            raise LeaklibError(f"{name} has {len(seq)} entries for {n} images; give one per image")
    if max_cols < 1:
        raise LeaklibError(f"max_cols must be >= 1, got {max_cols}")
    cols = min(n, max_cols)
    groups = math.ceil(n / cols)
    fig, axes = plt.subplots(
        2 * groups, cols, figsize=(CELL_INCHES * cols, CELL_INCHES * 2.3 * groups + (0.4 if title else 0)),
        squeeze=False,
    )
    gray = true.shape[-1] == 1
    for i in range(groups * cols):
        g, c = divmod(i, cols)
        top, bottom = axes[2 * g, c], axes[2 * g + 1, c]
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
        if i >= n:
            top.axis("off")
            bottom.axis("off")
            continue
        for ax, img in ((top, true[i]), (bottom, recon[i])):
            if gray:
                ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(img)
        if labels is not None:
            top.set_title(_label_text(labels[i], class_names), fontsize=8)
        if psnrs is not None:
            bottom.set_xlabel(f"{float(psnrs[i]):.2f} dB", fontsize=8)
        if marked is not None and marked[i]:
            for spine in bottom.spines.values():
                spine.set(color="tab:green", linewidth=3)
        if c == 0:
            top.set_ylabel("true", fontsize=8)
            bottom.set_ylabel("recon", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def comparison_grid(
    true01: Any,
    rows: Mapping[str, Any],
    captions: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
) -> Figure:
    """Ground truth in the first row, then one row of reconstructions per setting (``rows``: name -> images).

    Every row holds one reconstruction per true image, aligned; ``captions`` (name -> one text per image,
    e.g. PSNR and SSIM) are written under that row's images. E.g. Fig. 3/Table 1 of Geiping et al. (2020):
    the same images attacked on an untrained and a trained network, with IG and with DLG.
    """
    true = _images_hwc(true01, "true01")
    if not rows:
        raise LeaklibError("comparison_grid needs at least one row of reconstructions")
    recons = {name: _images_hwc(x, f"rows[{name!r}]") for name, x in rows.items()}
    for name, x in recons.items():
        if x.shape != true.shape:
            raise LeaklibError(f"row {name!r} has shape {x.shape}, the true images {true.shape} (as N, H, W, C)")
        if captions and name in captions and len(captions[name]) != true.shape[0]:
            raise LeaklibError(f"captions[{name!r}] has {len(captions[name])} entries for {true.shape[0]} images")
    n, gray = true.shape[0], true.shape[-1] == 1
    names = ["true", *recons]
    fig, axes = plt.subplots(len(names), n, figsize=(CELL_INCHES * max(n, 2), CELL_INCHES * 1.2 * len(names)
                                                     + (0.4 if title else 0)), squeeze=False)
    for r, name in enumerate(names):
        images = true if name == "true" else recons[name]
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(images[c][..., 0] if gray else images[c], cmap="gray" if gray else None, vmin=0, vmax=1)
            if captions and name in captions:
                ax.set_xlabel(captions[name][c], fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _frame(records: Any, columns: Sequence[str]) -> Any:
    """Records (list of flat dicts, e.g. :func:`leaklib.runs.load_flat`, or a DataFrame) -> DataFrame."""
    import pandas as pd

    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if frame.empty:
        raise LeaklibError("no records to plot; run the sweep first")
    for col in columns:
        if col not in frame.columns:
            raise LeaklibError(f"records have no field {col!r}; fields: {', '.join(map(str, frame.columns))}")
    return frame[list(dict.fromkeys(columns))]


def sweep_plot(
    records: Sequence[Mapping[str, Any]] | Any,
    x: str,
    y: str,
    hue: str | None = None,
    kind: str = "line",
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logx: bool = False,
    ax: Any = None,
) -> Figure:
    """Plot ``y`` against ``x`` (optionally split by ``hue``) over sweep records with seaborn.

    ``line`` and ``bar`` show the mean with ± one standard deviation (deterministic, no bootstrap);
    ``box`` shows the distribution, e.g. PSNR over the images of each setting (Geiping et al., Fig. 5).
    """
    import seaborn as sns

    check_choice("plot kind", kind, SWEEP_KINDS)
    frame = _frame(records, [x, y] + ([hue] if hue else []))
    values = frame[y].to_numpy(dtype=float)
    if np.isinf(values).any():
        raise LeaklibError(f"{y!r} has infinite values; cap them first (e.g. PSNR at leaklib.metrics.PSNR_MAX)")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    if kind == "line":
        sns.lineplot(data=frame, x=x, y=y, hue=hue, errorbar="sd", marker="o", ax=ax)
    elif kind == "box":
        sns.boxplot(data=frame, x=x, y=y, hue=hue, ax=ax)
    else:
        sns.barplot(data=frame, x=x, y=y, hue=hue, errorbar="sd", ax=ax)
    if logx:
        ax.set_xscale("log")
        ticks = np.unique(frame[x].to_numpy(dtype=float))
        if len(ticks) <= 12:  # label the measured settings themselves (1, 2, 4), not powers of ten
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def table_figure(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Render a small table (list of dicts) as a figure, e.g. a results table for the gallery."""
    if not rows:
        raise LeaklibError("table_figure needs at least one row")
    columns = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    text = [[cell(r.get(c, "")) for c in columns] for r in rows]
    width = max(4.0, 1.4 * len(columns))
    fig, ax = plt.subplots(figsize=(width, 0.35 * (len(rows) + 1) + (0.5 if title else 0.2)))
    ax.axis("off")
    table = ax.table(cellText=text, colLabels=columns, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
