"""``leaklib train``: train a zoo model on a dataset; resumable; the weights land where ``trained=True`` looks."""

from __future__ import annotations

import argparse

from ..models import PADDINGS
from ..models.checkpoint import DEFAULT_TRAIN_EPOCHS
from ..train import TRAINABLE_DATASETS, TrainConfig, train


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a model (resumes from its last epoch checkpoint)",
                              description=__doc__)
    p.add_argument("--model", required=True, help="model name, e.g. resnet20-4 (see: leaklib models list)")
    p.add_argument("--dataset", required=True, choices=TRAINABLE_DATASETS)
    p.add_argument("--epochs", type=int, default=DEFAULT_TRAIN_EPOCHS)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.1; 0.01 for lenet-zhu)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--padding", choices=PADDINGS, default="zeros")
    p.add_argument("--no-augment", action="store_true", help="no random crops and flips")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--root", default=None, help="data root (default: $LEAKLIB_DATA or ~/.cache/leaklib/data)")
    p.add_argument("--download", action="store_true", help="download the dataset if missing (needs internet)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = TrainConfig(
        model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, seed=args.seed, padding=args.padding, augment=not args.no_augment,
    )
    result = train(config, device=args.device, root=args.root, download=True if args.download else None,
                   progress=not args.quiet)
    if result.resumed_from:
        print(f"resumed at epoch {result.resumed_from} from {result.checkpoint}")
    print(f"{config.model} on {config.dataset}: {result.epochs} epochs, test accuracy {result.test_accuracy:.4f}")
    print(f"weights: {result.weights}")
    return 0
