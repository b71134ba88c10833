"""What every training command shares: TRL's parser over its dataclasses (a recipe's keys as
defaults, flags over them), printing on rank 0 only, and one-line errors when a script runs
as `python -m` (`rdistill` itself prints them through its own entry point)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from reasoning_distill.errors import ConfigError, UserError
from reasoning_distill.redact import redact_urls

CONFIG_HELP = "a YAML recipe: its keys are the defaults, flags given after it override them"


def parse_config_args(
    dataclass_types: list,
    argv: list[str] | None,
    allow_unknown: bool = False,
    prog: str | None = None,
):
    """Parse `argv` (flags, and `--config YAML` as defaults) into `dataclass_types`.

    TRL's parser, with its errors made `ConfigError`s naming the recipe file: an unknown recipe
    key, a missing recipe file or a value `__post_init__` rejects. With `allow_unknown`, keys no
    dataclass knows are returned last (as flag strings) instead of refused.
    """
    from pathlib import Path

    import yaml
    from trl import TrlParser

    argv = list(argv or [])
    where = ""
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv):
            raise ConfigError("--config needs a YAML recipe path")
        path = Path(argv[i + 1])
        if not path.is_file():
            raise ConfigError(f"--config {path}: no such recipe file")
        where = f" (recipe {path})"
    parser = TrlParser(dataclass_types, prog=prog)
    if "-h" in argv or "--help" in argv:  # TRL reads --config itself, before parsing
        parser.add_argument("--config", metavar="RECIPE.yaml", help=CONFIG_HELP)
    try:
        if allow_unknown:
            return parser.parse_args_and_config(
                argv, return_remaining_strings=True, fail_with_unknown_args=False
            )
        return parser.parse_args_and_config(argv)
    except ConfigError as e:
        raise ConfigError(f"{e}{where}") from e
    except (TypeError, ValueError) as e:
        names = option_names(dataclass_types)
        raise ConfigError(f"{_unknown_said_plainly(str(e), names) or e}{where}") from e
    except yaml.YAMLError as e:
        raise ConfigError(
            f"--config {argv[argv.index('--config') + 1]}: not valid YAML ({e})"
        ) from e


# What transformers' HfArgumentParser raises for keys no dataclass has, with its list.
_UNKNOWN = (
    ("Unknown arguments from config file: ", "unknown recipe key"),
    ("Some specified arguments are not used by the HfArgumentParser: ", "unknown option"),
)


def option_names(dataclass_types: list) -> list[str]:
    import dataclasses

    return [f.name for dc in dataclass_types for f in dataclasses.fields(dc)]


def unknown_text(strings: list[str], names: list[str], what: str = "unknown option") -> str:
    """`strings` (flags and their values, as the parser leaves them) as one line naming each
    unknown key, with the nearest known name where one is close."""
    import difflib

    said = []
    for s in strings:
        if not s.startswith("--"):
            continue  # a value
        key = s[2:].split("=", 1)[0].replace("-", "_")
        near = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
        said.append(f"{key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    plural = "s" if len(said) > 1 else ""
    return f"{what}{plural} {', '.join(said)}" if said else f"{what}s {strings}"


def _unknown_said_plainly(message: str, names: list[str]) -> str | None:
    """transformers' unknown-key error (which ends in advice for the code's authors) as
    `unknown_text`; None for any other error."""
    import ast

    for prefix, what in _UNKNOWN:
        if message.startswith(prefix):
            listed = message[len(prefix) :].split("]", 1)[0] + "]"
            try:
                strings = [str(x) for x in ast.literal_eval(listed)]
            except (ValueError, SyntaxError):
                return None
            return unknown_text(strings, names, what)
    return None


def is_main_process() -> bool:
    """Rank 0 (or not distributed): the process that prints."""
    return int(os.environ.get("RANK", "0")) == 0


def print_report(report) -> None:
    """Print the report on rank 0 (entry points only; library code never prints)."""
    if not is_main_process():
        return
    from rich.console import Console

    from reasoning_distill.training.check_view import render_report

    Console(stderr=False, soft_wrap=False).print(render_report(report))


def print_summary(summary: dict[str, Any]) -> None:
    """The command's last line: one JSON object, on rank 0."""
    if is_main_process():
        print(json.dumps(summary))


def run_script(main: Callable[[list[str] | None], int]) -> None:
    """`python -m reasoning_distill.training.scripts.X`: exit with `main`'s code; a user's
    error is one line on stderr and exit 2, as under `rdistill train X`."""
    try:
        code = int(main(sys.argv[1:]) or 0)
    except KeyboardInterrupt:
        print(
            "interrupted; what finished is kept, rerun the same command to resume", file=sys.stderr
        )
        code = 130
    except UserError as e:
        print(f"error: {redact_urls(str(e))}", file=sys.stderr)
        code = 2
    raise SystemExit(code)
