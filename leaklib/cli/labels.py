"""``leaklib labels``: the label-accuracy table of the label-recovery rules on simulated client updates."""

from __future__ import annotations

import argparse
import inspect

from ..errors import check_seed
from ..fl import BN_MODES, SETTINGS
from ..labels import label_accuracy_table
from .attack import FedAvgOnly, refuse_fedavg_only

# Options default to None, "not given": label_accuracy_table's own defaults stand unless a flag is on the line.
TABLE_FLAGS = ("trained", "setting", "epochs", "local_batch", "local_lr", "batch_size", "pattern", "trials", "rules",
               "seed", "bn", "device")  # argparse dest = label_accuracy_table's keyword


def _default(name: str) -> str:
    return f"default {inspect.signature(label_accuracy_table).parameters[name].default}"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "labels", help="compare label-recovery rules (iDLG, GradInversion, LLG, Geng, iLRG, ...) on client updates",
        description="Each trial draws a batch, lets a FedSGD/FedAvg client compute its update and asks every "
        "rule for the labels; writes OUT/labels.json and OUT/labels.png.",
    )
    p.add_argument("--dataset", required=True, help="dataset name (leaklib data list), e.g. cifar10-sample")
    p.add_argument("--model", required=True, help="model name (leaklib models list), e.g. resnet20-4")
    p.add_argument("--trained", action="store_true", help="use trained weights (else fresh init per trial)")
    p.add_argument("--setting", choices=SETTINGS, help=_default("setting"))
    p.add_argument("--epochs", type=int, action=FedAvgOnly, help=f"FedAvg local epochs ({_default('epochs')})")
    p.add_argument("--local-batch", type=int, action=FedAvgOnly, help="FedAvg local mini-batch (default: whole batch)")
    p.add_argument("--local-lr", type=float, action=FedAvgOnly,
                   help=f"FedAvg local learning rate ({_default('local_lr')})")
    p.add_argument("--batch-size", type=int, help=f"K, the client's number of images ({_default('batch_size')})")
    p.add_argument("--pattern", help="unique | random | dup:N (one label N times, rest distinct) | rep:N (K/N labels, "
                   f"N each) | same | counts:{{c:n,...}} ({_default('pattern')})")
    p.add_argument("--trials", type=int, help=_default("trials"))
    p.add_argument("--rules", help=f"all or a comma-separated list, e.g. geng,yin,best ({_default('rules')})")
    p.add_argument("--bn", choices=BN_MODES, help=f"client's batch-norm mode ({_default('bn')})")
    p.add_argument("--seed", type=int, help=_default("seed"))
    p.add_argument("--device", help=f"cpu | cuda | auto ({_default('device')})")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    refuse_fedavg_only(args)
    if args.seed is not None:
        check_seed("--seed", args.seed)
    given = {name: getattr(args, name) for name in TABLE_FLAGS if getattr(args, name) is not None}
    result = label_accuracy_table(args.dataset, args.model, out=args.out, **given)
    print(f"{'rule':10s} {'accuracy':>9s} {'exact':>6s} {'count err':>9s} {'s/call':>7s}")
    for name, row in result["rules"].items():
        if "skipped" in row:
            print(f"{name:10s} skipped: {row['skipped']}")
        else:
            print(f"{name:10s} {row['label_accuracy']:9.3f} {row['exact_rate']:6.2f} {row['count_error']:9.3f} "
                  f"{row['seconds']:7.3f}")
    print(f"wrote {args.out}/labels.json ({result['config']['augmented_note']})")
    return 0
