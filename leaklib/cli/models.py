"""``leaklib models list``: the model zoo, with parameter counts, input shapes and trained weights."""

from __future__ import annotations

import argparse

from ..models import cached_weights, model_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the model zoo", description=__doc__)
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lister = sub.add_parser("list", help="each model family: example, parameters, input shape, trained weights")
    lister.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    rows = [("name", "example", "parameters", "input", "trained weights")]
    descriptions = []
    for info in model_table():
        rows.append((info.pattern, info.example, f"{info.parameters:,}", "x".join(map(str, info.input_shape)),
                     info.trained))
        descriptions.append(f"  {info.pattern}: {info.description}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    print("\nfamilies ({..}: one of; [..]: optional; width multiplies every channel count):")
    print("\n".join(descriptions))
    cached = cached_weights()
    if cached:
        print("\ntrained weights in the cache:")
        print("\n".join(f"  {p.parent.name}/{p.name}" for p in cached))
    return 0
