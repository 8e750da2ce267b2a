"""``leaklib labels``: benchmark the label-recovery rules on simulated client updates (writes labels.json)."""

from __future__ import annotations

import argparse

from ..errors import check_seed
from .attack import FedAvgOnly, refuse_fedavg_only


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "labels", help="compare label-recovery rules (iDLG, GradInversion, LLG, Geng, iLRG, ...) on client updates",
        description="Each trial draws a batch, lets a FedSGD/FedAvg client compute its update and asks every "
        "rule for the labels; writes OUT/labels.json and OUT/labels.png.",
    )
    p.add_argument("--dataset", required=True, help="dataset name (leaklib data list), e.g. cifar10-sample")
    p.add_argument("--model", required=True, help="model name (leaklib models list), e.g. resnet20-4")
    p.add_argument("--trained", action="store_true", help="use trained weights (else fresh init per trial)")
    p.add_argument("--setting", default="fedsgd", choices=["fedsgd", "fedavg"])
    p.add_argument("--epochs", type=int, default=1, action=FedAvgOnly, help="FedAvg local epochs")
    p.add_argument("--local-batch", type=int, default=None, action=FedAvgOnly,
                   help="FedAvg local mini-batch (default: whole batch)")
    p.add_argument("--local-lr", type=float, default=0.01, action=FedAvgOnly, help="FedAvg local learning rate")
    p.add_argument("--batch-size", type=int, default=8, help="K, the client's number of images")
    p.add_argument("--pattern", default="unique", help="unique | random | dup:N (one label N times, rest distinct) | rep:N (K/N labels, N each) | same | counts:{c:n,...}")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--rules", default="all", help="all or a comma-separated list, e.g. geng,yin,best")
    p.add_argument("--bn", default="eval", choices=["eval", "train"], help="client's batch-norm mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..labels import benchmark

    refuse_fedavg_only(args)
    check_seed("--seed", args.seed)
    result = benchmark(
        args.dataset, args.model, trained=args.trained, setting=args.setting, epochs=args.epochs,
        local_batch=args.local_batch, local_lr=args.local_lr, batch_size=args.batch_size, pattern=args.pattern,
        trials=args.trials, rules=args.rules, seed=args.seed, bn=args.bn, device=args.device, out=args.out,
    )
    print(f"{'rule':10s} {'accuracy':>9s} {'exact':>6s} {'count err':>9s} {'s/call':>7s}")
    for name, row in result["rules"].items():
        if "skipped" in row:
            print(f"{name:10s} skipped: {row['skipped']}")
        else:
            print(f"{name:10s} {row['label_accuracy']:9.3f} {row['exact_rate']:6.2f} {row['count_error']:9.3f} "
                  f"{row['seconds']:7.3f}")
    print(f"wrote {args.out}/labels.json ({result['config']['augmented_note']})")
    return 0
