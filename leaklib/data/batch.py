"""A client's local batch, drawn from a dataset by a label pattern.

Label patterns matter to both papers: Inverting Gradients (Sec. 5) and GradInversion's label rule assume
distinct labels (``unique``); Geng et al. (Sec. 3-4) study repeated labels (``dup:K``, ``counts:{...}``)
and single-class batches (``same``). ``augment=True`` fills a pattern that the images on hand cannot
satisfy with distinct flipped/shifted copies, and the batch records that it did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from ..errors import LeaklibError, check_positive
from .dataset import ImageDataset
from .normalization import Normalization
from .transforms import apply_variant, describe, variants

PATTERNS = ("unique", "random", "same", "dup:K", "counts:{c:n,...}", "indices:i,j,...")
_VARIANTS = variants()


@dataclass
class Batch:
    """Normalised images (N, C, H, W) and int64 labels (N), with where they came from."""

    images: Tensor
    labels: Tensor
    normalization: Normalization
    indices: Tensor
    augmented: bool
    dataset: str
    num_classes: int
    pattern: str = ""
    seed: int | None = None
    augmentations: tuple[str, ...] = field(default=())  # per image: "original", "flip", "shift(1,0)", ...

    @property
    def images01(self) -> Tensor:
        """The images in [0, 1] pixel units (denormalised, clamped)."""
        return self.normalization.denormalize(self.images).clamp(0.0, 1.0)

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> Batch:
        """A copy with images and labels on ``device``."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))


def parse_pattern(pattern: str) -> tuple[str, object]:
    """``"dup:4" -> ("dup", 4)``, ``"counts:{3:2,8:1}" -> ("counts", {3: 2, 8: 1})``, etc."""
    if not isinstance(pattern, str):
        raise LeaklibError(f"pattern must be a string, got {pattern!r}; valid patterns: {', '.join(PATTERNS)}")
    text = pattern.strip()
    kind, _, arg = text.partition(":")
    kind = kind.strip()
    try:
        if kind in ("unique", "random", "same") and not arg:
            return kind, None
        if kind == "dup" and arg:
            return kind, int(arg)
        if kind == "counts" and arg:
            body = arg.strip()
            if body.startswith("{") and body.endswith("}"):
                body = body[1:-1]
            counts: dict[int, int] = {}
            for item in filter(None, (s.strip() for s in body.split(","))):
                c, n = (int(v) for v in item.split(":"))
                if c in counts:
                    raise LeaklibError(f"pattern {pattern!r} names class {c} twice")
                counts[c] = n
            if counts:
                return kind, counts
        if kind == "indices" and arg:
            return kind, [int(v) for v in arg.split(",") if v.strip()]
    except LeaklibError:
        raise
    except ValueError:  # a part that is not an integer
        pass
    raise LeaklibError(f"unknown pattern {pattern!r}; valid patterns: {', '.join(PATTERNS)} (K, c, n, i integers)")


def _class_name(ds: ImageDataset, c: int) -> str:
    return f"class {c} ({ds.classes[c]!r})"


def _largest(ds: ImageDataset, counts: Tensor) -> str:
    top = torch.argsort(counts, descending=True, stable=True)[:3].tolist()
    return ", ".join(f"{_class_name(ds, c)} has {int(counts[c])}" for c in top)


def _plan(ds: ImageDataset, kind: str, arg: object, size: int, augment: bool, g: torch.Generator) -> dict[int, int]:
    """How many images of each class the pattern asks for (classes chosen with ``g``)."""
    counts = ds.class_counts()
    present = torch.nonzero(counts).flatten()

    def pick(candidates: Tensor, k: int) -> list[int]:
        return candidates[torch.randperm(len(candidates), generator=g)[:k]].tolist()

    if kind == "unique":
        if size > len(present):
            raise LeaklibError(
                f"pattern unique needs {size} distinct labels but {ds.name} has images of only {len(present)} "
                f"classes (the most for unique is {len(present)}; augmenting cannot add classes)"
            )
        return dict.fromkeys(pick(present, size), 1)
    if kind in ("same", "dup"):
        k = size if kind == "same" else arg
        if not isinstance(k, int) or not 1 <= k <= size:
            raise LeaklibError(f"pattern dup:K needs 1 <= K <= batch size {size}, got dup:{k}")
        others = size - k
        if others > len(present) - 1:
            raise LeaklibError(
                f"pattern dup:{k} with batch size {size} needs {others + 1} distinct labels but {ds.name} has "
                f"images of only {len(present)} classes"
            )
        full = torch.nonzero(counts >= k).flatten()
        if len(full) == 0:
            if not augment:
                label = "same" if kind == "same" else f"dup:{k}"
                raise LeaklibError(
                    f"pattern {label} needs {k} images of one class but no class of {ds.name} has {k} "
                    f"(the maximum is {int(counts.max())}: {_largest(ds, counts)}); pass augment=True to fill "
                    "with flipped/shifted copies"
                )
            full = torch.nonzero(counts == counts.max()).flatten()  # fewest copies to make
        main = pick(full, 1)[0]
        rest = present[present != main]
        return {main: k, **dict.fromkeys(pick(rest, others), 1)}
    if kind == "counts":
        plan: dict[int, int] = arg  # type: ignore[assignment]
        if sum(plan.values()) != size:
            raise LeaklibError(f"pattern counts:{plan} asks for {sum(plan.values())} images but batch size is {size}")
        for c, n in plan.items():
            if not 0 <= c < ds.num_classes:
                raise LeaklibError(f"pattern counts names class {c}; {ds.name} has classes 0..{ds.num_classes - 1}")
            check_positive(f"count of class {c}", n)
            have = int(counts[c])
            if have == 0 or (n > have and not augment):
                hint = "" if have == 0 else "; pass augment=True to fill with flipped/shifted copies"
                raise LeaklibError(
                    f"pattern counts asks for {n} images of {_class_name(ds, c)} but {ds.name} has {have}{hint}"
                )
        return dict(plan)
    raise AssertionError(kind)


def _fill(pool: list[int], n: int, what: str) -> list[tuple[int, int]]:
    """``n`` distinct (image index, variant) pairs from ``pool`` (already shuffled): originals first."""
    most = len(pool) * len(_VARIANTS)
    if n > most:
        raise LeaklibError(
            f"{what}: {n} images asked for but only {len(pool)} on hand, which augmenting stretches to at most {most}"
        )
    return [(pool[j % len(pool)], j // len(pool)) for j in range(n)]


def make_batch(
    dataset: str | ImageDataset,
    size: int | None = None,
    pattern: str = "unique",
    seed: int = 0,
    *,
    augment: bool = False,
    indices: Sequence[int] | None = None,
) -> Batch:
    """Draw ``size`` images from ``dataset`` (a name or an :class:`ImageDataset`) following ``pattern``.

    Patterns: ``unique`` (distinct labels), ``random``, ``same`` (all one class), ``dup:K`` (one label K
    times, the rest distinct), ``counts:{c:n,...}``, ``indices:i,j,...`` (or ``indices=``). The same seed
    gives the same batch. Drawn images are ordered by dataset index (augmented copies after their
    original); explicit indices keep the order given.
    """
    if isinstance(dataset, str):
        from .registry import load_dataset

        dataset = load_dataset(dataset)
    if not isinstance(dataset, ImageDataset):
        raise LeaklibError(f"dataset must be a dataset name or an ImageDataset, got {type(dataset).__name__}")
    ds = dataset
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise LeaklibError(f"seed must be an integer, got {seed!r}")
    if indices is not None:
        kind, arg = "indices", [int(i) for i in indices]
        pattern = "indices:" + ",".join(map(str, arg))
    else:
        kind, arg = parse_pattern(pattern)
    if size is None and kind in ("indices", "counts"):
        size = len(arg) if kind == "indices" else sum(arg.values())  # type: ignore[union-attr]
    check_positive("batch size", size)
    g = torch.Generator().manual_seed(seed)

    if kind == "indices":
        if len(arg) != size:  # type: ignore[arg-type]
            raise LeaklibError(f"batch size {size} does not match the {len(arg)} indices given")  # type: ignore[arg-type]
        bad = [i for i in arg if not 0 <= i < len(ds)]  # type: ignore[union-attr]
        if bad:
            raise LeaklibError(f"indices {bad} out of range for {ds.name} (0..{len(ds) - 1})")
        picks = [(i, 0) for i in arg]  # type: ignore[union-attr]
    else:
        if size > len(ds) and not augment:
            raise LeaklibError(
                f"batch size {size} is larger than {ds.name}'s {len(ds)} images; use a smaller batch or "
                "augment=True to fill with flipped/shifted copies"
            )
        if kind == "random":
            pool = torch.randperm(len(ds), generator=g).tolist()
            picks = _fill(pool, size, f"{ds.name} pattern random")
        else:
            picks = []
            for c, n in sorted(_plan(ds, kind, arg, size, augment, g).items()):
                members = torch.nonzero(ds.labels == c).flatten()
                pool = members[torch.randperm(len(members), generator=g)].tolist()
                picks += _fill(pool, n, f"{ds.name} {_class_name(ds, c)}")
        picks.sort()

    idx = torch.tensor([i for i, _ in picks], dtype=torch.int64)
    images01 = torch.stack(
        [apply_variant(ds.uint8(i), _VARIANTS[v]) for i, v in picks]
    ).float().div(255.0)
    return Batch(
        images=ds.normalization.normalize(images01),
        labels=ds.labels[idx].clone(),
        normalization=ds.normalization,
        indices=idx,
        augmented=any(v > 0 for _, v in picks),
        dataset=ds.name,
        num_classes=ds.num_classes,
        pattern=pattern,
        seed=seed,
        augmentations=tuple(describe(_VARIANTS[v]) for _, v in picks),
    )
