"""``leaklib attack``: reconstruct dataset images from a simulated client's update and score them.

Example (Inverting Gradients, single image, untrained ResNet20-4, known labels)::

    leaklib attack --dataset cifar10-sample --indices 0 --model resnet20-4 --setting fedsgd \
        --labels known --method ig --iterations 500 --tv 1e-4 --out runs/ig0

Writes DIR/result.json (aligned mean PSNR/SSIM/MSE, label accuracy, per-image numbers, the full config,
seed and versions), DIR/reconstruction.png (ground truth over reconstruction) and DIR/reconstruction.pt.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ..attack import FEDAVG_MODES, INITS, LR_SCHEDULES, METHODS, OPTIMIZERS, AttackConfig
from ..errors import LeaklibError, check_positive, check_seed
from ..io import ensure_writable_dir, save_figure, save_torch, write_json
from ..locks import locked_command

MAX_THREADS = 256


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


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("attack", help="gradient inversion of a simulated client's update",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="cifar10-sample", help="dataset name (see: leaklib data list)")
    p.add_argument("--indices", type=int, nargs="+", default=[0], help="dataset indices forming the client's batch")
    p.add_argument("--model", default="resnet20-4", help="model name (see: leaklib models list)")
    p.add_argument("--trained", action="store_true", help="use the cached trained weights")
    p.add_argument("--checkpoint", default=None, help="load the model's weights from this file")
    p.add_argument("--setting", choices=("fedsgd", "fedavg"), default="fedsgd")
    p.add_argument("--epochs", type=int, default=1, action=FedAvgOnly, help="FedAvg: local epochs")
    p.add_argument("--local-batch", type=int, default=None, action=FedAvgOnly,
                   help="FedAvg: local batch size (default: all images)")
    p.add_argument("--local-lr", type=float, default=1e-2, action=FedAvgOnly, help="FedAvg: local learning rate")
    p.add_argument("--fedavg-attack", choices=FEDAVG_MODES, default="unroll", action=FedAvgOnly,
                   help="FedAvg: replay local SGD (unroll) or match the pseudo-gradient (Geng et al.)")
    p.add_argument("--labels", default="known", help="known, joint, or a label rule (see leaklib.labels)")
    p.add_argument("--method", choices=METHODS, default="ig",
                   help="ig: Inverting Gradients as published; ig-fast: with leaklib's measured short-budget "
                        "settings (AttackConfig.preset); dlg: DLG/L-BFGS")
    p.add_argument("--iterations", type=int, default=None, help="default: the method's (ig, ig-fast 24000; dlg 6000)")
    p.add_argument("--restarts", type=int, default=1)
    p.add_argument("--tv", type=float, default=None, help="total-variation weight (default: the method's)")
    p.add_argument("--lr", type=float, default=None, help="step size (default: the method's)")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                   help="step decays at the milestones or cosine (default: the method's)")
    p.add_argument("--scales", type=int, default=None,
                   help="optimise the images as a sum of this many resolution levels (default: the method's)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="override the method's optimiser")
    p.add_argument("--init", choices=INITS, default=None, help="dummy images' start (default: the method's)")
    p.add_argument("--bn-prior", type=float, default=0.0, help="batch-norm statistics prior weight")
    p.add_argument("--model-mode", choices=("eval", "train"), default="eval",
                   help="batch norm on running (eval) or batch (train) statistics, for client and attacker")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (1 is fastest on a machine shared with other jobs)")
    p.add_argument("--checkpoint-every", type=int, default=0, help="save DIR/attack.pt every N iterations")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> AttackConfig:
    """The AttackConfig asked for: the method's preset with the given overrides."""
    overrides = {"restarts": args.restarts, "bn_prior": args.bn_prior, "bn_mode": args.model_mode,
                 "fedavg": args.fedavg_attack, "checkpoint_every": args.checkpoint_every}
    for key in ("iterations", "tv", "lr", "lr_schedule", "scales", "optimizer", "init"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    return AttackConfig.preset(args.method, **overrides)


@locked_command("leaklib attack")  # one run per --out folder at a time
def run(args: argparse.Namespace) -> int:
    from ..experiments import Experiment, run_experiment
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
    exp = Experiment(dataset=args.dataset, indices=tuple(args.indices), model=args.model, trained=args.trained,
                     checkpoint=args.checkpoint, model_seed=args.seed, setting=args.setting, epochs=args.epochs,
                     local_batch=args.local_batch, local_lr=args.local_lr, client_bn=args.model_mode,
                     labels=args.labels)
    done = run_experiment(exp, config, device=device, seed=args.seed, progress=not args.quiet,
                          checkpoint_path=Path(out) / "attack.pt" if args.checkpoint_every else None)
    record, batch = done.record, done.batch
    write_json(Path(out) / "result.json", record)
    save_torch({"images": done.attack.images, "labels": done.attack.labels, "true_images": batch.images,
                "true_labels": batch.labels, "permutation": [p["recon_index"] for p in record["per_image"]]},
               Path(out) / "reconstruction.pt")
    fig = reconstruction_grid(batch.images01, done.recon01, psnrs=[p["psnr"] for p in record["per_image"]],
                              labels=batch.labels.tolist(), class_names=done.classes,
                              title=f"{args.method} on {args.model} ({args.setting}, labels {args.labels})")
    save_figure(fig, Path(out) / "reconstruction.png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    psnrs = " ".join(f"{p['psnr']:.2f}" for p in record["per_image"])
    print(f"PSNR {record['psnr']:.2f} dB (per image: {psnrs}), SSIM {record['ssim']:.3f}, "
          f"label accuracy {record['label_accuracy']}, {record['seconds']:.1f} s -> {out}/result.json")
    if not all(v == v for v in done.attack.restart_losses):
        raise LeaklibError("every restart diverged (NaN loss); try a smaller --lr or another --init")
    return 0

