"""Verify samples: each by its kind (math answers, or code run against its tests in the sandbox).

  rdistill verify --samples runs/gen                     # a generation store, either format
  rdistill verify math --input samples.jsonl --out verified.jsonl
  rdistill verify code --input samples.jsonl --out verified.jsonl --tests-field gold
  rdistill verify auto --input mixed.jsonl --out verified.jsonl   # route rows by their `kind`
  rdistill verify --samples runs/gen --ray --address 10.0.0.1:6379  # Ray actors, many machines

`--samples DIR` writes keyed verdict records (`verification/verdicts.py`) to DIR/verdicts.jsonl
beside the shards, appended and fsynced as they finish: Ctrl-C keeps them and a rerun verifies
only the samples without one. A rerun with other verifier options is refused (`--redo`
verifies everything again). The format check is on by default there. A shard or verdicts
file in DIR that another run made (its rows' `made_by` is not the manifest's) is refused,
naming the file and row, before anything is verified. The samples stream from the shards, so
memory holds the work in flight, not the store.

`--ray [ACTORS]` runs the same verifiers in Ray actors (`verification/ray_verify.py`), on the
cluster at `--address` or a local Ray: the driver streams the samples to them and is the one
writer of the verdicts, so a killed or preempted job resumes the same way, and a dead actor's
batch is sent again to a live one. Each node checks its own sandbox before it runs code.

`--input FILE` writes each input row plus `verdict` ({correct, reason, extracted, details}) to
`--out`, renamed into place at the end; verdicts that finished before an interruption are
kept in a hidden journal beside `--out`, and the same command resumes from it. Bad input (a
line that is not JSON, a missing field, a value of the wrong type, a row of another kind)
stops the run before anything is written, naming the file, line and field.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

HELP = "verify samples (a generation store, or a JSONL file) per kind; write verdicts"

logger = logging.getLogger(__name__)


def add_format_arguments(p: argparse.ArgumentParser, default: bool | None, help: str) -> None:
    """The format policy flags `verify` and `eval` share: `--[no-]check-format`, `--no-think`."""
    p.add_argument(
        "--check-format", action=argparse.BooleanOptionalAction, default=default, help=help
    )
    p.add_argument(
        "--no-think",
        action="store_true",
        help="format: no think block required (a model that answers without reasoning)",
    )


def add_ray_arguments(p: argparse.ArgumentParser, help: str) -> None:
    """`--ray [ACTORS]` and `--address`, as `rdistill verify` and `rdistill eval` take them."""
    p.add_argument("--ray", nargs="?", type=int, const=0, default=None, metavar="ACTORS", help=help)
    p.add_argument(
        "--address",
        "--ray-address",
        dest="address",
        default=None,
        help="--ray: the cluster to join (`ray start --head` prints it; default: a local Ray)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "kind",
        nargs="?",
        choices=["math", "code", "auto"],
        default="auto",
        help="what to verify; auto (the default) routes each sample by its kind",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--samples", type=Path, help="a generation store (`rdistill generate --out`)")
    src.add_argument("--input", type=Path, help="a JSONL file of rows")
    p.add_argument("--out", type=Path, help="--input only: output JSONL file")
    p.add_argument("--completion-field", default="completion", help="model output field")
    p.add_argument("--gold-field", default="gold", help="math: gold answer field")
    p.add_argument(
        "--tests-field", default="gold", help="code: tests field (dict, or a JSON string)"
    )
    p.add_argument("--kind-field", default="kind", help="--input: field naming a row's kind")
    p.add_argument("--finish-field", default="finish_reason", help="finish reason field")
    p.add_argument("--verdict-field", default="verdict", help="field the verdict is written to")
    add_format_arguments(
        p,
        None,
        "also require the format check to pass (default: on for --samples, off for --input)",
    )
    p.add_argument("--include-think", action="store_true", help="read answers inside think too")
    p.add_argument(
        "--unboxed",
        choices=("markers", "math_verify", "refuse"),
        default="markers",
        help="math answers without a box: only answer markers (####, 'The answer is'; the "
        "default), also math-verify's LaTeX and expression extraction, or refuse (a box "
        "only). The format check demands a box under refuse alone",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel workers (default: CPUs); under --ray, each actor's CPUs and workers (1)",
    )
    add_ray_arguments(
        p,
        "verify in Ray actors across the cluster's machines (default: one actor per "
        "--workers CPUs of the cluster); the driver writes every verdict, so it resumes alike",
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds per item / test case")
    p.add_argument(
        "--redo", action="store_true", help="verify again every sample (options changed)"
    )
    p.add_argument(
        "--allow-weak-sandbox",
        action="store_true",
        help="run code even where the sandbox lacks bubblewrap (then a program can write the "
        "host's /tmp, read world-readable files and see host processes; refused by default)",
    )


def _options(args: argparse.Namespace, check_format: bool, kind: str | None = None):
    from reasoning_distill.errors import ConfigError
    from reasoning_distill.verification import VerifyOptions

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.timeout is not None and not args.timeout > 0:
        raise ConfigError(
            f"--timeout must be a positive number of seconds, got {args.timeout}: a zero or "
            "negative limit would mark every row as a timeout"
        )
    kw: dict[str, Any] = {}
    if args.timeout is not None:
        kw = {"math_timeout_s": args.timeout, "code_timeout_s": args.timeout}
    return VerifyOptions(
        check_format=check_format,
        require_think=not args.no_think,
        include_think=args.include_think,
        unboxed=args.unboxed,
        **kw,
    )


def ray_grader_of(args: argparse.Namespace) -> Any:
    """The Ray grader `--ray` asks for, else None (the local verifiers); `rdistill eval`'s too."""
    from reasoning_distill.errors import ConfigError

    if args.ray is None:
        if args.address is not None:
            raise ConfigError("--address is the Ray cluster of --ray: add --ray")
        return None
    if args.ray < 0:
        raise ConfigError(f"--ray must be a number of actors >= 1 (or none), got {args.ray}")
    from reasoning_distill.generation.ray_job import connect
    from reasoning_distill.verification.ray_verify import ray_grader
    from reasoning_distill.verifiers.sandbox_policy import allowed_by_env

    connect(args.address)  # a missing ray or an unreachable cluster, before any work
    return ray_grader(
        address=args.address,
        num_actors=args.ray or None,
        actor_num_cpus=args.workers or 1,
        # each node checks its own sandbox; the opt-in travels with the job
        allow_weak_sandbox=getattr(args, "allow_weak_sandbox", False) or allowed_by_env(),
    )


def _tests_of(value: Any, where: str, field: str) -> Any:
    from reasoning_distill.errors import InputError
    from reasoning_distill.verifiers.code import TestsError, parse_tests

    def with_kind(tests: Any) -> Any:
        if not isinstance(tests, dict) or "kind" not in tests:
            raise InputError(f"{where}: field {field!r} must be a tests dict with a 'kind'")
        return tests

    try:
        return parse_tests(value, with_kind)
    except TestsError as e:
        why = f" is not a tests dict or JSON ({e})" if e.not_json else f": {e}"
        raise InputError(f"{where}: field {field!r}{why}") from None


def read_items(args: argparse.Namespace) -> tuple[list[dict], list[Any]]:
    """Rows of --input and the items to verify; every error names the file, line and field."""
    from reasoning_distill.errors import InputError
    from reasoning_distill.jsonl import JSONLError, iter_jsonl
    from reasoning_distill.verification.runner import Item, bad_input

    path = args.input
    rows, items = [], []
    try:
        for lineno, row in iter_jsonl(path):
            where = f"{path}:{lineno}"
            kind = args.kind
            row_kind = row.get(args.kind_field)
            if kind == "auto":
                if row_kind not in ("math", "code"):
                    raise InputError(
                        f"{where}: field {args.kind_field!r} must be 'math' or 'code' to route "
                        f"the row (got {row_kind!r}); or name the kind: `rdistill verify math`"
                    )
                kind = row_kind
            elif row_kind is not None and row_kind != kind:
                raise InputError(
                    f"{where}: the row's {args.kind_field!r} is {row_kind!r} but this is "
                    f"`verify {kind}`: use `rdistill verify auto` to verify each row by its kind"
                )
            gold_field = args.gold_field if kind == "math" else args.tests_field
            for field in (args.completion_field, gold_field):
                if field not in row:
                    raise InputError(f"{where}: missing field {field!r}")
            gold = row[gold_field]
            if kind == "code":
                gold = _tests_of(gold, where, gold_field)
            completion = row[args.completion_field]
            why = bad_input(kind, completion, gold)
            if why:
                field = args.completion_field if "completion" in why else gold_field
                raise InputError(f"{where}: field {field!r}: {why}")
            finish = row.get(args.finish_field)
            if finish is not None and not isinstance(finish, str):
                raise InputError(f"{where}: field {args.finish_field!r} must be a string")
            rows.append(row)
            items.append(Item((str(len(items)), 0), kind, completion, gold, finish))
    except JSONLError as e:
        raise InputError(str(e)) from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return rows, items


def _main_input(args: argparse.Namespace) -> int:
    from collections import Counter

    from reasoning_distill.atomic import atomic_write_text
    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.errors import ConfigError, InputError, OutputError
    from reasoning_distill.provenance import file_sha256
    from reasoning_distill.verification import VerdictStore, verify_into
    from reasoning_distill.verification.verdicts import iter_records

    if args.out is None:
        raise ConfigError("--input needs --out (the output JSONL file)")
    options = _options(args, bool(args.check_format))
    if not args.input.is_file():
        raise InputError(f"{args.input}: no such file")
    if args.out.is_dir():
        raise OutputError(f"{args.out}: is a folder; --out names the output JSONL file")
    if args.input.resolve() == args.out.resolve():
        raise OutputError("--out must differ from --input (the input is never overwritten)")
    grade = ray_grader_of(args)
    rows, items = read_items(args)
    if grade is None:  # under --ray each node checks its own sandbox
        _require_sandbox(args, sum(it.kind == "code" for it in items), f"rows of {args.input}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = {
        **options.config(),
        "input_sha256": file_sha256(args.input),
        "kind": args.kind,
        "fields": [args.completion_field, args.gold_field, args.tests_field, args.finish_field],
    }
    journal = VerdictStore.open(  # rows of a file, not of a generation folder's run
        args.out.parent, config, redo=True, name=f".{args.out.name}.partial", provenance=False
    )
    try:
        verdicts: dict[int, Any] = {}
        if journal.done_keys():
            for r in iter_records(journal.path):
                verdicts[int(r.problem_id)] = r.verdict()
            logger.info("resuming: %d of %d rows already verified", len(verdicts), len(rows))
        run = verify_into(
            journal,
            items,
            options,
            workers=None if grade else args.workers,
            progress=RichProgress(),
            grade=grade,
        )
        verdicts.update({int(k[0]): r.verdict() for k, r in run.records.items()})
        for i, row in enumerate(rows):
            row[args.verdict_field] = verdicts[i].to_dict()
        import json

        atomic_write_text(args.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    except BaseException:
        journal.close()
        raise
    journal.remove()
    _print_table(
        f"verdicts: {args.input} -> {args.out}", Counter(verdicts[i].reason for i in verdicts)
    )
    return 0


def _print_table(title: str, counts: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    total = sum(counts.values())
    table = Table(title=title)
    table.add_column("reason")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for reason, n in counts.most_common():
        table.add_row(reason, str(n), f"{n / max(1, total):.1%}")
    correct = counts.get("ok", 0)
    table.add_row("[bold]correct", f"[bold]{correct}", f"[bold]{correct / max(1, total):.1%}")
    Console().print(table)


def _main_samples(args: argparse.Namespace) -> int:
    from collections import Counter

    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.errors import ConfigError
    from reasoning_distill.verification import verify_store

    if args.out is not None:
        raise ConfigError("--samples writes verdicts.jsonl beside the shards; drop --out")
    if args.kind != "auto":
        raise ConfigError(
            f"--samples verifies each sample by its own kind; drop the positional {args.kind!r}"
        )
    options = _options(args, True if args.check_format is None else args.check_format)
    from rich.console import Console

    from reasoning_distill.verification import survey_store

    grade = ray_grader_of(args)
    # One streaming pass checks every row and counts the kinds before anything is verified.
    survey = survey_store(args.samples)
    if grade is None:  # under --ray each node checks its own sandbox
        _require_sandbox(args, survey.kinds["code"], f"samples in {args.samples}")
    try:
        run = verify_store(
            args.samples,
            options,
            redo=args.redo,
            workers=None if grade else args.workers,
            progress=RichProgress(),
            survey=survey,
            grade=grade,
        )
    except RuntimeError as e:  # --ray: a batch lost with actor after actor
        if grade is None:
            raise
        from rich.markup import escape

        Console(stderr=True).print(
            f"[red]error:[/red] {escape(str(e))}; the verdicts that finished are kept",
            highlight=False,
        )
        return 1
    Console().print(
        f"{run.verified} samples verified now, {run.already} already had a verdict -> "
        f"{run.verdicts_path}"
    )
    for kind, summary in run.by_kind.items():
        if summary["generated"]:
            _print_table(f"{kind} verdicts ({args.samples})", Counter(summary["by_reason"]))
    return 0


def _require_sandbox(args: argparse.Namespace, n_code: int, where: str) -> None:
    """Refuse code verification under weak isolation unless --allow-weak-sandbox (or env)."""
    if n_code:
        from reasoning_distill.verifiers.sandbox_policy import require_isolation

        require_isolation(args.allow_weak_sandbox, f"the {n_code} code {where}")


def main(args: argparse.Namespace) -> int:
    if args.samples is not None:
        return _main_samples(args)
    return _main_input(args)
