"""The ``leaklib`` command: argument parsing only; every command is a thin call into the library.

Each module in this package that defines ``register(subparsers)`` adds one sub-command; the parser it
registers sets ``func`` to a function taking the parsed arguments and returning an exit code.
A :class:`~leaklib.errors.LeaklibError` (a user mistake) prints one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import LeaklibError


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="leaklib", description="Gradient leakage in federated learning: data, models, attacks, labels."
    )
    parser.add_argument("--version", action="version", version=f"leaklib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except LeaklibError as e:
        print(f"leaklib {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"leaklib {args.command}: interrupted (progress already saved is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
