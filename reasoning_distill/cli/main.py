"""`rdistill`: one entry point, one module per subcommand.

Subcommand modules import only argparse-level things at the top, so `rdistill --help` is
instant; torch, vLLM and TRL are imported inside each `main`.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
import traceback

from reasoning_distill.errors import UserError
from reasoning_distill.redact import redact_handlers, redact_urls

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
    """Run one subcommand; a user error is one line on stderr and exit code 2."""
    args = make_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # httpx logs every request's full URL (a --base-url's credentials and ?api_key= with it).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    redact_handlers()  # and no URL anything logs carries its credentials
    try:
        return int(args._main(args) or 0)
    except KeyboardInterrupt:
        _say(args, "interrupted; what finished is kept, rerun the same command to resume")
        return 130
    except UserError as e:
        _say(args, str(e))
        return 2
    except SystemExit as e:
        if isinstance(e.code, str):  # legacy `raise SystemExit("message")`
            _say(args, e.code)
            return 2
        raise
    except OSError as e:
        # A full disk, a read-only folder, a path under a file: the user's to fix, not a bug.
        if e.errno not in _USER_ERRNOS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        _say(args, f"{where}{e.strerror or e}")
        return 2


# ENOSPC, EDQUOT, EROFS, EACCES, EPERM, ENOTDIR, EISDIR, ENOENT, EEXIST, ENAMETOOLONG
_USER_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOENT,
    errno.EEXIST,
    errno.ENAMETOOLONG,
}


def _say(args: argparse.Namespace, message: str) -> None:
    """Print one error line (and the traceback under -v)."""
    if args.verbose:
        print(redact_urls(traceback.format_exc()), end="", file=sys.stderr)
    print(f"rdistill {args.command}: error: {redact_urls(message)}", file=sys.stderr)


def run() -> None:
    raise SystemExit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
