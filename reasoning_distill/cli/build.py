"""Build a `messages`-format SFT dataset: from a recipe, or from verified JSONL rows.

  rdistill build data_recipes/recipes/gsm8k_r1.yaml --dry-run          # the plan, no model
  rdistill build data_recipes/recipes/gsm8k_r1.yaml [--out DIR]        # every stage, resumable
  rdistill build RECIPE.yaml --rebuild                                 # redo changed stages
  rdistill build --samples runs/gen --out data/v --k 2 --choose shortest  # a verified store
  rdistill build --input verified.jsonl --out data/verified            # verified rows only
  rdistill build --input verified.jsonl --out data/all --keep all      # every row
  rdistill build --input verified.jsonl --out data/ans --answer-only   # no reasoning

A recipe runs source -> dedupe -> decontaminate -> generate -> verify -> select -> write;
a rerun redoes only what is missing, and a changed recipe is refused unless --rebuild.
Relative paths in a recipe resolve against --root (default: the current folder). `--input`
rows come from `rdistill verify` (rows with a `verdict`). Either way the dataset folder is
swapped in atomically with a README.md card, and only a dataset folder this command wrote is
ever replaced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build an SFT dataset (messages format, with a card) from verified records"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("recipe", nargs="?", type=Path, help="a recipe YAML (or a shipped one's name)")
    p.add_argument("--input", type=Path, help="JSONL from `rdistill verify` (instead of a recipe)")
    p.add_argument(
        "--samples", type=Path, help="a generation store verified by `rdistill verify --samples`"
    )
    p.add_argument("--out", type=Path, help="dataset folder (recipe: default output.dir)")
    p.add_argument("--work", type=Path, help="recipe: work folder (default: OUT.work)")
    p.add_argument("--root", type=Path, default=None, help="recipe: base of relative paths")
    p.add_argument("--dry-run", action="store_true", help="recipe: print the plan, load no model")
    p.add_argument("--rebuild", action="store_true", help="recipe: redo stages the edit affects")
    p.add_argument("--workers", type=int, default=None, help="verification workers")
    p.add_argument("--keep", choices=["verified", "all"], default="verified")
    p.add_argument("--answer-only", action="store_true", help="drop the reasoning")
    p.add_argument("--verdict-field", default="verdict")
    sel = p.add_argument_group("--samples: selection (a recipe's `select` section)")
    sel.add_argument("--k", type=int, default=None, help="at most k traces per problem")
    sel.add_argument("--choose", choices=["shortest", "random", "all"], default="all")
    sel.add_argument("--seed", type=int, default=0, help="for --choose random")
    sel.add_argument("--max-tokens", type=int, default=None, help="drop longer traces")
    sel.add_argument("--min-pass-rate", type=float, default=0.0)
    sel.add_argument("--max-pass-rate", type=float, default=1.0)
    p.add_argument("--title", default=None, help="dataset card title")
    p.add_argument(
        "--allow-weak-sandbox",
        action="store_true",
        help="recipe: verify code even where the sandbox lacks bubblewrap (refused by default; "
        "the recipe key verify.code.allow_weak_sandbox says the same)",
    )


def main(args: argparse.Namespace) -> int:
    from reasoning_distill.errors import ConfigError

    given = [x for x in (args.recipe, args.input, args.samples) if x is not None]
    if len(given) != 1:
        raise ConfigError(
            "give one of: a recipe file, --samples DIR (a verified generation store) or "
            "--input FILE (rows from `rdistill verify`)"
        )
    _check_selection_flags(args)
    if args.recipe is not None:
        return _main_recipe(args)
    if args.samples is not None:
        return _main_samples(args)
    if args.out is None:
        raise ConfigError("--input needs --out (the dataset folder to write)")
    return _main_input(args)


def _check_selection_flags(args: argparse.Namespace) -> None:
    """Refuse out-of-range `--samples` selection flags, naming the flag, before any read."""
    from reasoning_distill.errors import refuse_out_of_range

    k, tokens, lo, hi = args.k, args.max_tokens, args.min_pass_rate, args.max_pass_rate
    refuse_out_of_range(
        [
            ("--k", k, k is None or k >= 1, ">= 1"),
            ("--max-tokens", tokens, tokens is None or tokens >= 1, ">= 1"),
            ("--min-pass-rate", lo, 0 <= lo <= 1, "in [0, 1]"),
            ("--max-pass-rate", hi, 0 <= hi <= 1, "in [0, 1]"),
            ("--min-pass-rate", lo, lo <= hi, f"<= --max-pass-rate ({hi})"),
        ]
    )


def _refuse_selection_flags_with_a_recipe(args: argparse.Namespace) -> None:
    """A recipe selects by its `select` section: a `--samples` flag given with it would be
    silently ignored, so it is refused, naming the recipe key to edit."""
    from reasoning_distill.errors import ConfigError

    given = {
        "--k": args.k is not None,
        "--max-tokens": args.max_tokens is not None,
        "--min-pass-rate": args.min_pass_rate != 0.0,
        "--max-pass-rate": args.max_pass_rate != 1.0,
        "--choose": args.choose != "all",
    }
    flags = [f for f, on in given.items() if on]
    if flags:
        raise ConfigError(
            f"{', '.join(flags)}: selection flags apply to --samples; with a recipe, set its "
            "`select` section (select.k, select.max_tokens, select.pass_rate, select.choose)"
        )


def _main_recipe(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.data_recipes.pipeline import run_recipe
    from reasoning_distill.data_recipes.recipe import find_recipe, load_recipe
    from reasoning_distill.errors import ConfigError

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    _refuse_selection_flags_with_a_recipe(args)
    path = find_recipe(args.recipe)
    recipe = load_recipe(path)
    root = args.root or Path.cwd()
    if not args.dry_run:
        _require_sandbox(args, recipe, path)
    run = run_recipe(
        recipe,
        root=root,
        out=args.out,
        work=args.work,
        dry_run=args.dry_run,
        rebuild=args.rebuild,
        progress=None if args.dry_run else RichProgress(),
        workers=args.workers,
        recipe_text=path.read_text(encoding="utf-8"),
    )
    console = Console()
    if args.dry_run:
        console.print(f"[bold]plan for {recipe.name}[/bold] (nothing was run)")
        print(json.dumps(run.plan, indent=2, default=str))  # plain: JSON a tool can read
        est = run.plan.get("estimate")
        if est:
            disk = ", ".join(f"{k} {v}" for k, v in est["disk (at most)"].items())
            console.print(
                f"[bold]estimate[/bold] ({est['note']}): {est['traces']} traces; disk at most "
                f"{disk}",
                highlight=False,
            )
            for stage, t in est["time"].items():
                console.print(f"  {stage}: {t}", highlight=False)
        return 0
    w = run.stats["write"]
    console.print(
        f"{recipe.name}: {w['rows']} rows from {w['samples']} samples of {w['problems']} "
        f"problems -> {run.out}"
    )
    return 0


def _require_sandbox(args: argparse.Namespace, recipe, path: Path) -> None:
    """Before anything runs: code sources need bubblewrap, or an opt-in for weaker isolation
    (--allow-weak-sandbox, `verify.code.allow_weak_sandbox: true` on every code source, or
    the environment variable). A source with a per-row `kind` field may hold code."""
    code = [
        s.name
        for s in recipe.sources
        if s.kind == "code" or (s.toy is not None and s.toy.kind == "code") or s.fields.kind
    ]
    if not code:
        return
    from reasoning_distill.verifiers.sandbox_policy import require_isolation

    allow = args.allow_weak_sandbox or all(
        recipe.verify_for(name).code.allow_weak_sandbox for name in code
    )
    require_isolation(allow, f"the code of source(s) {', '.join(code)} of {path}")


def _main_samples(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reasoning_distill.data_recipes.dataset import build_dataset
    from reasoning_distill.data_recipes.select import SelectPolicy
    from reasoning_distill.errors import ConfigError

    if args.out is None:
        raise ConfigError("--samples needs --out (the dataset folder to write)")
    policy = SelectPolicy(
        keep=args.keep,
        k=args.k,
        choose=args.choose,
        seed=args.seed,
        min_pass_rate=args.min_pass_rate,
        max_pass_rate=args.max_pass_rate,
        max_tokens=args.max_tokens,
    )
    card = {"title": args.title} if args.title else None
    result = build_dataset(args.samples, args.out, policy, answer_only=args.answer_only, card=card)
    Console().print(
        f"kept {result.rows} of {result.stats['samples']} samples -> {args.out}"
        f" (rejected: {result.stats['rejected'] or 'none'})"
    )
    return 0


def _main_input(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reasoning_distill.data_recipes.verified_rows import build_from_rows

    kept, total = build_from_rows(
        args.input,
        args.out,
        keep=args.keep,
        verdict_field=args.verdict_field,
        answer_only=args.answer_only,
        title=args.title,
    )
    Console().print(f"kept {kept} of {total} rows -> {args.out}")
    return 0
