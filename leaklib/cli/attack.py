"""``leaklib attack``: reconstruct dataset images from a simulated client's update and score them.

Example (Inverting Gradients, single image, untrained ResNet20-4, known labels)::

    leaklib attack --dataset cifar10-sample --indices 0 --model resnet20-4 --setting fedsgd \
        --labels known --method ig --iterations 500 --tv 1e-4 --out runs/ig0

Writes DIR/result.json (aligned mean PSNR/SSIM/MSE, label accuracy, per-image numbers, the full config,
seed and versions), DIR/reconstruction.png (ground truth over reconstruction) and DIR/reconstruction.pt.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

from ..attack import FEDAVG_MODES, INITS, LR_SCHEDULES, METHODS, OPTIMIZERS, AttackConfig
from ..errors import LeaklibError, check_positive, check_seed
from ..experiments import Experiment
from ..fl import BN_MODES, SETTINGS
from ..io import ensure_writable_dir, save_figure, save_torch, write_json
from ..locks import locked_command
from ..runtime import MAX_THREADS


class FedAvgOnly(argparse.Action):
    """Store an option that only FedAvg uses, and note that it was given (see :func:`refuse_fedavg_only`)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.fedavg_only_given = [*getattr(namespace, "fedavg_only_given", []), option_string]


def refuse_fedavg_only(args: argparse.Namespace) -> None:
    """Raise if FedAvg-only options were given with ``--setting fedsgd`` (they would be ignored)."""
    given = sorted(set(getattr(args, "fedavg_only_given", [])))
    if args.setting != "fedavg" and given:
        verb, it = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise LeaklibError(f"{', '.join(given)} only {verb} to --setting fedavg (FedSGD would ignore {it}); "
                           f"drop {it} or add --setting fedavg")


# Each flag below defaults to None, "not given": a setting has one default, in AttackConfig.preset(--method)
# or in Experiment, and a flag changes it only when it is on the command line.
CONFIG_FLAGS = {  # argparse dest -> the AttackConfig field it sets
    "iterations": "iterations", "restarts": "restarts", "tv": "tv", "lr": "lr", "lr_schedule": "lr_schedule",
    "scales": "scales", "optimizer": "optimizer", "init": "init", "bn_prior": "bn_prior", "model_mode": "bn_mode",
    "fedavg_attack": "fedavg", "checkpoint_every": "checkpoint_every",
}
EXPERIMENT_FLAGS = ("dataset", "indices", "model", "checkpoint", "setting", "epochs", "local_batch", "local_lr",
                    "labels")  # argparse dest = the Experiment field it sets


def _preset_default(field: str) -> str:
    """``default: the method's: ig 24000, ig-fast 24000, dlg 6000`` (for ``field="iterations"``), for a help text."""
    return "default: the method's: " + ", ".join(f"{m} {getattr(AttackConfig.preset(m), field)}" for m in METHODS)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("attack", help="gradient inversion of a simulated client's update",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    e = Experiment
    p.add_argument("--dataset", help=f"dataset name (see: leaklib data list; default {e.dataset})")
    p.add_argument("--indices", type=int, nargs="+",
                   help=f"dataset indices forming the client's batch (default {' '.join(map(str, e.indices))})")
    p.add_argument("--model", help=f"model name (see: leaklib models list; default {e.model})")
    p.add_argument("--trained", action="store_true", help="use the cached trained weights")
    p.add_argument("--checkpoint", help="load the model's weights from this file")
    p.add_argument("--setting", choices=SETTINGS, help=f"default {e.setting}")
    p.add_argument("--epochs", type=int, action=FedAvgOnly, help=f"FedAvg: local epochs (default {e.epochs})")
    p.add_argument("--local-batch", type=int, action=FedAvgOnly, help="FedAvg: local batch size (default: all images)")
    p.add_argument("--local-lr", type=float, action=FedAvgOnly, help=f"FedAvg: local learning rate (default {e.local_lr})")
    p.add_argument("--fedavg-attack", choices=FEDAVG_MODES, action=FedAvgOnly,
                   help="FedAvg: replay local SGD (unroll) or match the pseudo-gradient (Geng et al.); "
                        + _preset_default("fedavg"))
    p.add_argument("--labels", help=f"known, joint, or a label rule (see leaklib.labels; default {e.labels})")
    p.add_argument("--method", choices=METHODS, default="ig",
                   help="ig: Inverting Gradients as published; ig-fast: with leaklib's measured short-budget "
                        "settings (AttackConfig.preset); dlg: DLG/L-BFGS")
    p.add_argument("--iterations", type=int, help=_preset_default("iterations"))
    p.add_argument("--restarts", type=int, help=_preset_default("restarts"))
    p.add_argument("--tv", type=float, help="total-variation weight; " + _preset_default("tv"))
    p.add_argument("--lr", type=float, help="step size; " + _preset_default("lr"))
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="step decays at the milestones or cosine; " + _preset_default("lr_schedule"))
    p.add_argument("--scales", type=int,
                   help="optimise the images as a sum of this many resolution levels; " + _preset_default("scales"))
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=_preset_default("optimizer"))
    p.add_argument("--init", choices=INITS, help="dummy images' start; " + _preset_default("init"))
    p.add_argument("--bn-prior", type=float, help="batch-norm statistics prior weight; " + _preset_default("bn_prior"))
    p.add_argument("--model-mode", choices=BN_MODES,
                   help="batch norm on running (eval) or batch (train) statistics, for client and attacker; "
                        + _preset_default("bn_mode"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (1 is fastest on a machine shared with other jobs)")
    p.add_argument("--checkpoint-every", type=int, help="save DIR/attack.pt every N iterations (default: never)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> AttackConfig:
    """The AttackConfig asked for: the method's preset with the flags that were given."""
    given = {field: getattr(args, dest) for dest, field in CONFIG_FLAGS.items() if getattr(args, dest) is not None}
    return AttackConfig.preset(args.method, **given)


def experiment_from_args(args: argparse.Namespace, config: AttackConfig) -> Experiment:
    """The Experiment asked for: its defaults with the flags that were given; the client's batch norm is the
    attacker's (``--model-mode``, else the preset's)."""
    given = {name: getattr(args, name) for name in EXPERIMENT_FLAGS if getattr(args, name) is not None}
    return Experiment(**given, trained=args.trained, model_seed=args.seed, client_bn=config.bn_mode)


@locked_command("leaklib attack")  # one run per --out folder at a time
def run(args: argparse.Namespace) -> int:
    from ..experiments import run_experiment
    from ..plots import reconstruction_grid
    from ..runtime import resolve_device

    refuse_fedavg_only(args)
    check_seed("--seed", args.seed)
    if args.threads is not None:
        check_positive("--threads", args.threads, maximum=MAX_THREADS)
    config = config_from_args(args)  # every attack setting checked (AttackConfig.validate) before anything runs
    out = ensure_writable_dir(args.out)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    exp = experiment_from_args(args, config)
    result = run_experiment(exp, config, device=device, seed=args.seed, progress=not args.quiet,
                            checkpoint_path=Path(out) / "attack.pt" if config.checkpoint_every else None)
    record, batch = result.record, result.batch
    write_json(Path(out) / "result.json", record)
    save_torch({"images": result.attack.images, "labels": result.attack.labels, "true_images": batch.images,
                "true_labels": batch.labels, "permutation": [p["recon_index"] for p in record["per_image"]]},
               Path(out) / "reconstruction.pt")
    fig = reconstruction_grid(batch.images01, result.recon01, psnrs=[p["psnr"] for p in record["per_image"]],
                              labels=batch.labels.tolist(), class_names=result.classes,
                              title=f"{config.method} on {exp.model} ({exp.setting}, labels {exp.labels})")
    save_figure(fig, Path(out) / "reconstruction.png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    psnrs = " ".join(f"{p['psnr']:.2f}" for p in record["per_image"])
    print(f"PSNR {record['psnr']:.2f} dB (per image: {psnrs}), SSIM {record['ssim']:.3f}, "
          f"label accuracy {record['label_accuracy']}, {record['seconds']:.1f} s -> {out}/result.json")
    if any(math.isnan(v) for v in result.attack.restart_losses):
        raise LeaklibError("every restart diverged (NaN loss); try a smaller --lr or another --init")
    return 0
