"""Train a model of the zoo on a dataset: the trained networks of Inverting Gradients, Sec. 5.

The papers attack *trained* networks as well as untrained ones (trained ResNets give lower PSNR yet
recognisable images). This is a plain, standard CIFAR recipe: SGD with Nesterov momentum 0.9, weight decay
5e-4, batch 128, learning rate 0.1 (0.01 for the sigmoid LeNet) divided by 10 at 3/8, 5/8 and 7/8 of the epochs, random crops (pad 4)
and horizontal flips. After every epoch a resumable checkpoint (model, optimizer, epoch, generator state)
is written atomically; a rerun continues from it. The final weights go to the cache where
``leaklib.models.build(name, trained=True)`` finds them.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import LeaklibError, check_choice, check_positive, check_seed
from .io import save_torch
from .models import build, default_lr
from .models.checkpoint import DEFAULT_TRAIN_EPOCHS, cache_dir, read_torch, save_trained, trained_path
from .runtime import provenance, resolve_device

TRAINABLE_DATASETS = ("cifar10", "cifar100", "fashion-mnist")
CHECKPOINT_FORMAT = "leaklib-train-checkpoint"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained weights (a resumed run must use the same values)."""

    model: str
    dataset: str
    epochs: int = DEFAULT_TRAIN_EPOCHS
    batch_size: int = 128
    lr: float | None = None  # None: the model family's default (leaklib.models.default_lr)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    padding: str = "zeros"
    augment: bool = True

    def resolved(self) -> TrainConfig:
        """This config with ``lr`` filled in from the model's default."""
        return self if self.lr is not None else dataclasses.replace(self, lr=default_lr(self.model))

    def __post_init__(self) -> None:
        self.check(resolved=False)

    def check(self, resolved: bool = True) -> None:
        """Raise :class:`LeaklibError` on a setting that cannot work (every number finite and in range).

        ``resolved=False`` allows ``lr=None`` (the model's default, filled in by :meth:`resolved`).
        """
        check_choice("dataset", self.dataset, TRAINABLE_DATASETS)
        check_positive("epochs", self.epochs)
        check_positive("batch_size", self.batch_size)
        if resolved or self.lr is not None:
            check_positive("lr", self.lr, integer=False)
        check_positive("momentum", self.momentum, allow_zero=True, integer=False)
        if self.momentum >= 1:
            raise LeaklibError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        check_positive("weight_decay", self.weight_decay, allow_zero=True, integer=False)
        check_seed("seed", self.seed)


@dataclass
class TrainResult:
    """Where the weights went and how the run went."""

    weights: Path
    checkpoint: Path
    epochs: int
    resumed_from: int
    test_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


def lr_at(epoch: int, epochs: int, lr: float) -> float:
    """Step schedule: ``lr`` divided by 10 at 3/8, 5/8 and 7/8 of ``epochs`` (a pure function, so resumable)."""
    return lr * 0.1 ** sum(epoch >= m * epochs for m in (3 / 8, 5 / 8, 7 / 8))


def run_checkpoint_path(config: TrainConfig) -> Path:
    """The per-run resumable checkpoint (one per model, dataset, padding and seed)."""
    tag = config.model if config.padding == "zeros" else f"{config.model}-{config.padding}"
    return cache_dir() / "runs" / config.dataset / f"{tag}-seed{config.seed}.ckpt.pt"


def augment(x01: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random crop after ``pad`` pixels of zero padding, and random horizontal flip, per image."""
    n, _, h, w = x01.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x01.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x01.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x01.device)
    padded = F.pad(x01, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h, device=x01.device))[:, :, None]  # (n, h, 1)
    cols = dx[:, None] + torch.arange(w, device=x01.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=x01.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def _all_uint8(ds: Any) -> tuple[Tensor, Tensor]:
    images = torch.stack([ds.uint8(i) for i in range(len(ds))])
    return images, ds.labels.clone()


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, labels: Tensor, normalization: Any, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on uint8 images."""
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        x = normalization.normalize(images[i : i + batch_size].float().div(255))
        correct += (model(x).argmax(1) == labels[i : i + batch_size]).sum().item()
    return correct / max(len(images), 1)


def _resume(path: Path, config: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer,
            gen: torch.Generator) -> tuple[int, list[dict[str, float]]]:
    """Load a run checkpoint written by :func:`train`; returns (epochs done, history)."""
    state = read_torch(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise LeaklibError(f"{str(path)!r} is not a leaklib training checkpoint; delete it to start afresh")
    missing = [k for k in ("config", "epoch", "model", "optimizer", "generator", "history") if k not in state]
    if missing or not isinstance(state["config"], dict) or not isinstance(state["epoch"], int):
        raise LeaklibError(f"training checkpoint {str(path)!r} is incomplete (missing {missing or 'nothing'}, or "
                           "wrong types); delete it to start afresh")
    saved = dict(state["config"])
    for key, value in dataclasses.asdict(config).items():
        if key != "epochs" and saved.get(key) != value:
            raise LeaklibError(
                f"checkpoint {str(path)!r} was made with {key}={saved.get(key)!r}, not {value!r}; "
                "rerun with the same settings or delete it"
            )
    if state["epoch"] > config.epochs:
        raise LeaklibError(f"checkpoint {str(path)!r} has {state['epoch']} epochs done, more than --epochs {config.epochs}")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    return int(state["epoch"]), list(state["history"])


def _check_finite(model: nn.Module, loss: float, epoch: int, ckpt_path: Path) -> None:
    """Stop a diverged run before it saves anything: the epoch's loss and every weight must be finite."""
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if math.isfinite(loss) and not bad:
        return
    what = f"loss {loss}" if not math.isfinite(loss) else f"{len(bad)} weight tensors with NaN/inf (e.g. {bad[0]})"
    kept = f"; the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 and ckpt_path.is_file() else ""
    raise LeaklibError(f"training diverged in epoch {epoch} ({what}); nothing was saved for it{kept}; "
                       "try a smaller --lr")


def train(
    config: TrainConfig,
    *,
    device: str = "auto",
    root: str | Path | None = None,
    download: bool | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset``'s training split, resuming from an earlier checkpoint."""
    from tqdm.auto import tqdm

    from .data import load_dataset

    config = config.resolved()
    config.check()
    dev = resolve_device(device)
    train_ds = load_dataset(config.dataset, root, split="train", download=download)
    test_ds = load_dataset(config.dataset, root, split="test", download=download)
    images, labels = (t.to(dev) for t in _all_uint8(train_ds))
    test_images, test_labels = (t.to(dev) for t in _all_uint8(test_ds))
    norm = train_ds.normalization

    model = build(config.model, train_ds.num_classes, padding=config.padding, seed=config.seed,
                  dataset=config.dataset, image_shape=train_ds.image_shape).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    gen = torch.Generator().manual_seed(config.seed)  # all randomness of the run: shuffling and augmentation
    ckpt_path = run_checkpoint_path(config)
    start, history = (0, [])
    if ckpt_path.is_file():
        start, history = _resume(ckpt_path, config, model, opt, gen)

    n = len(images)
    steps = math.ceil(n / config.batch_size)
    for epoch in range(start, config.epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch, config.epochs, config.lr)
        model.train()
        order = torch.randperm(n, generator=gen).to(dev)
        total_loss = torch.zeros((), device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        t0 = time.perf_counter()
        bar = tqdm(range(steps), desc=f"{config.model} epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False, mininterval=0.5 if sys.stderr.isatty() else 30)
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            x01 = images[idx].float().div(255)
            if config.augment:
                x01 = augment(x01, gen)
            y = labels[idx]
            logits = model(norm.normalize(x01))
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.detach() * len(idx)  # kept on the device: no sync per step
            correct += (logits.argmax(1) == y).sum()
            if progress and step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        _check_finite(model, total_loss.item() / n, epoch + 1, ckpt_path)
        history.append({"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "loss": total_loss.item() / n,
                        "train_accuracy": correct.item() / n, "seconds": time.perf_counter() - t0})
        save_torch({
            "format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(config), "epoch": epoch + 1,
            "model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
            "history": history,
        }, ckpt_path)
        if progress:
            h = history[-1]
            tqdm.write(f"epoch {epoch + 1}/{config.epochs}: loss {h['loss']:.4f}, "
                       f"train accuracy {h['train_accuracy']:.4f}, {h['seconds']:.1f} s")

    accuracy = evaluate(model, test_images, test_labels, norm)
    meta = {
        "name": config.model, "dataset": config.dataset, "num_classes": train_ds.num_classes,
        "image_shape": list(train_ds.image_shape), "padding": config.padding, "config": dataclasses.asdict(config),
        "epochs_done": len(history), "test_accuracy": accuracy, "provenance": provenance(dev, config.seed),
    }
    weights = save_trained(model.cpu(), trained_path(config.model, config.dataset, config.padding), meta)
    return TrainResult(weights, ckpt_path, config.epochs, start, accuracy, history)
