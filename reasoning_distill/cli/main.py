"""`rdistill`: one entry point, one module per subcommand.

Subcommand modules import only argparse-level things at the top, so `rdistill --help` is
instant; torch, vLLM and TRL are imported inside each `main`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS = ("demo", "generate", "verify", "build", "train", "eval", "gap")


def make_parser() -> argparse.ArgumentParser:
    from reasoning_distill import __version__

    parser = argparse.ArgumentParser(
        prog="rdistill",
        description="Distil reasoning models: generate, verify, build, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"rdistill {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"reasoning_distill.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"reasoning_distill.cli.{name}":
                raise
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    return int(args._main(args) or 0)


def run() -> None:
    raise SystemExit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
