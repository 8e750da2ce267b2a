"""``leaklib data``: list the datasets and whether they are available; download the ones that can be."""

from __future__ import annotations

import argparse

from ..data import dataset_info, list_datasets, load_dataset
from ..data.registry import DATASETS, DEBIAN_PACKAGES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="list and download datasets", description=__doc__)
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    lister = sub.add_parser("list", help="show every dataset: available?, images, shape, classes, source")
    lister.add_argument("--root", default=None, help="data root (default: $LEAKLIB_DATA or ~/.cache/leaklib/data)")
    lister.add_argument("--split", default=None, help="split to inspect where a dataset has it: train or test (default test; ImageNet: val)")
    lister.set_defaults(func=run_list)

    needs = sub.add_parser("needs", help="which datasets the notebooks' profiles use, and which are missing here")
    needs.add_argument("--profile", action="append", default=None, metavar="P",
                       help="smoke, quick or paper (repeatable; default: smoke and quick, what ./run_all.sh runs)")
    needs.add_argument("--missing", action="store_true", help="only the datasets that cannot be loaded now")
    needs.add_argument("--tsv", action="store_true",
                       help="machine-readable lines: dataset, Debian package or -, notebooks (comma-separated)")
    needs.add_argument("--root", default=None, help="data root (default: $LEAKLIB_DATA or ~/.cache/leaklib/data)")
    needs.add_argument("--notebooks-dir", default="notebooks", help=argparse.SUPPRESS)
    needs.set_defaults(func=run_needs)

    fetch = sub.add_parser("download", help="download CIFAR-10/100 or Fashion-MNIST into the data root")
    fetch.add_argument("name", choices=["cifar10", "cifar100", "fashion-mnist"])
    fetch.add_argument("--root", default=None, help="data root (default: $LEAKLIB_DATA or ~/.cache/leaklib/data)")
    fetch.set_defaults(func=run_download)


def run_list(args: argparse.Namespace) -> int:
    rows = [("dataset", "split", "available", "images", "shape", "classes", "source")]
    notes = []
    for name in list_datasets():
        split = args.split if args.split in DATASETS[name][1] else None  # sets without that split: default
        info = dataset_info(name, args.root, split=split)
        shape = "x".join(map(str, info.image_shape)) if info.image_shape else "-"
        rows.append((
            name, info.split, "yes" if info.available else "no",
            str(info.num_images) if info.num_images is not None else "-",
            shape, str(info.num_classes) if info.num_classes is not None else "-", info.source,
        ))
        if info.note:
            notes.append(f"  {name}: {info.note}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    if notes:
        print("\nnot available:")
        print("\n".join(notes))
    return 0


def run_download(args: argparse.Namespace) -> int:
    for split in ("train", "test"):
        ds = load_dataset(args.name, args.root, split=split, download=True)
        print(f"{args.name} {split}: {len(ds)} images in {ds.source}")
    return 0


def run_needs(args: argparse.Namespace) -> int:
    from ..notebooks import data_needs, missing_data

    profiles = args.profile or ["smoke", "quick"]
    missing = {name: package for name, package, _ in missing_data(profiles, args.notebooks_dir, args.root)}
    for name, users in data_needs(profiles, args.notebooks_dir).items():
        if args.missing and name not in missing:
            continue
        package = DEBIAN_PACKAGES.get(name)
        if args.tsv:
            print(f"{name}\t{package or '-'}\t{','.join(users)}")
        else:
            state = "missing" if name in missing else "available"
            print(f"{name:<16} {state:<9} {('Debian ' + package) if package else '':<30} {', '.join(users)}")
    return 0
