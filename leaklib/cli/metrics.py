"""``leaklib metrics baselines``: how trivial reconstructions (mean colour, blur) score against each image."""

from __future__ import annotations

import argparse
import statistics

from ..leakage import UPSAMPLING, dataset_baselines

COLUMNS = (("psnr_mean_baseline", "PSNR mean"), ("psnr_blur_baseline", "PSNR blur"),
           ("ssim_mean_baseline", "SSIM mean"), ("ssim_blur_baseline", "SSIM blur"))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("metrics", help="measure the leakage baselines of images", description=__doc__)
    sub = parser.add_subparsers(dest="metrics_command", metavar="ACTION", required=True)
    base = sub.add_parser(
        "baselines", help="per image: PSNR and SSIM of its mean-colour and blur baselines",
        description="Scores, against each image, its own mean colour as a flat image and its blur (the image "
        "averaged over BLOCK x BLOCK pixel blocks, scaled back up): what a reconstruction must beat to leak.",
    )
    base.add_argument("--dataset", required=True, help="dataset name (leaklib data list), e.g. cifar10-sample")
    base.add_argument("--indices", type=int, nargs="+", help="images to score (default: all of a small set)")
    base.add_argument("--block", type=int, default=4, help="blur block size in pixels (default 4)")
    base.add_argument("--upsample", choices=UPSAMPLING, default="nearest",
                      help="how the block means are scaled back up (default nearest: the blocks stay)")
    base.add_argument("--root", default=None, help="data root (default: $LEAKLIB_DATA or ~/.cache/leaklib/data)")
    base.set_defaults(func=run_baselines)


def run_baselines(args: argparse.Namespace) -> int:
    rows = dataset_baselines(args.dataset, args.indices, block=args.block, upsample=args.upsample, root=args.root)
    print(f"{args.dataset}: mean-colour baseline and {args.block}x{args.block}-pixel-block blur "
          f"({args.upsample} upsampling); PSNR in dB")
    width = max(len("class"), *(len(r.class_name) for r in rows))
    print(f"{'index':>5}  {'class':<{width}}  " + "  ".join(f"{title:>9}" for _, title in COLUMNS))
    fmt = ("{:9.2f}", "{:9.2f}", "{:9.3f}", "{:9.3f}")
    for r in rows:
        cells = "  ".join(f.format(getattr(r, key)) for f, (key, _) in zip(fmt, COLUMNS, strict=True))
        print(f"{r.index:>5}  {r.class_name:<{width}}  {cells}")
    for name, stat in (("min", min), ("mean", statistics.fmean), ("max", max)):
        cells = "  ".join(f.format(stat(getattr(r, key) for r in rows)) for f, (key, _) in zip(fmt, COLUMNS, strict=True))
        print(f"{name:>5}  {'':<{width}}  {cells}")
    return 0
