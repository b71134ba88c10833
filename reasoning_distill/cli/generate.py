"""Sample reasoning traces from a teacher into a resumable output folder.

Each sample becomes one record (problem id, sample index, seed, prompt, completion, parsed
reasoning and answer, finish reason, token counts, engine, model, sampling, timing) in
append-only shards under --out with a manifest. Rerunning the same command after a crash
produces only the missing samples; rerunning with other settings into the same folder is
refused. A math problem is asked as `rdistill eval` asks it, to put its final answer within
\\boxed{} (`--prompt-template`, `generation.prompts`); the manifest states the template and
the dtype the engine sampled in.

  rdistill generate --model M --input problems.jsonl --out DIR --n 4 --engine hf \\
      --max-tokens 2048 --temperature 0.6 --top-p 0.95 --seed 0
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from reasoning_distill.cli.engine_options import (
    add_engine_arguments,
    add_sampling_arguments,
    engine_opts,
    sampling_params,
)

HELP = "sample reasoning traces from a teacher (hf, vllm or an OpenAI-compatible server)"

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    g = p.add_argument_group("what to sample")
    g.add_argument("--model", required=True, help="model folder or hub id (served name for openai)")
    g.add_argument(
        "--input",
        required=True,
        help=".jsonl/.json/.parquet/.csv file, local dataset folder (saved or data files) or hub id",
    )
    g.add_argument("--out", required=True, help="output folder (created; resumed if it exists)")
    g.add_argument("--system", default=None, help="system prompt added to every problem")
    g.add_argument(
        "--prompt-template",
        default="auto",
        help="how each problem is asked: auto (math: 'boxed', code: 'plain'), boxed (the "
        "question, then 'Please reason step by step, and put your final answer within "
        "\\boxed{}.', as rdistill eval asks it), plain (the question alone), or a template's "
        "text holding {problem}; stated in the manifest",
    )

    g = p.add_argument_group("input fields")
    g.add_argument("--id-field", default="id", help="id field; '' numbers rows as row-<n>")
    g.add_argument("--prompt-field", default="problem")
    g.add_argument("--gold-field", default="answer", help="reference answer field ('' for none)")
    g.add_argument("--split", default="train", help="dataset split (datasets and hub ids)")
    g.add_argument("--kind", default="math", choices=("math", "code"))
    g.add_argument(
        "--on-missing",
        choices=("stop", "skip"),
        default="stop",
        help="rows lacking the prompt or id: stop with their row numbers, or skip them (reported)",
    )
    g.add_argument("--limit", type=int, default=None, help="use only the first N problems")

    g = add_sampling_arguments(p)
    g.add_argument("--logprobs", type=int, default=None, help="keep top-k logprobs per token")
    g.add_argument(
        "--think-in-prompt",
        choices=("auto", "yes", "no"),
        default="auto",
        help="does the chat template open <think> in the prompt (auto: detect from the prompt)",
    )

    g = p.add_argument_group("job")
    g.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="hf (and every engine under --ray): problems per committed chunk, a kill loses at "
        "most one; default hf: sized to the work (a batch, and on a CPU about 32k completion "
        "tokens, each chunk logged as it is written), vllm 1024, openai 256 under --ray. "
        "Without --ray, vllm and openai stream: samples are written every 2 s as they finish",
    )
    g.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    g.add_argument(
        "--ray",
        type=int,
        default=0,
        metavar="ACTORS",
        help="run on Ray with this many engine actors",
    )
    g.add_argument(
        "--ray-address", default=None, help="Ray cluster address (default: start a local one)"
    )

    add_engine_arguments(p)


def _check_job_arguments(args: argparse.Namespace) -> None:
    from reasoning_distill.errors import refuse_out_of_range

    chunk, limit = args.chunk_size, args.limit
    refuse_out_of_range(
        [
            ("--chunk-size", chunk, chunk is None or chunk >= 1, ">= 1"),
            ("--limit", limit, limit is None or limit >= 1, ">= 1"),
            ("--ray", args.ray, args.ray >= 0, ">= 0 (0: no Ray)"),
        ]
    )


def main(args: argparse.Namespace) -> int:
    """Check every argument, the input and the output folder, then load the engine and run."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from reasoning_distill.cli.engine_options import check_engine_arguments
    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.errors import InputError, UserError
    from reasoning_distill.generation.factory import make_engine
    from reasoning_distill.generation.inputs import load_problems
    from reasoning_distill.generation.job import chunk_problems, run_job
    from reasoning_distill.generation.prompts import apply_template, resolve_template
    from reasoning_distill.generation.spec import JobSpec

    err = Console(stderr=True, soft_wrap=True)
    params = sampling_params(args, logprobs=args.logprobs)
    check_engine_arguments(args)
    _check_job_arguments(args)
    loaded = load_problems(
        args.input,
        id_field=args.id_field or None,
        prompt_field=args.prompt_field,
        gold_field=args.gold_field or None,
        split=args.split,
        kind=args.kind,
        on_missing=args.on_missing,
        limit=args.limit,
    )
    if loaded.n_skipped:
        err.print(f"skipped {loaded.n_skipped} input rows (see the warning above)")
    if not loaded.problems:
        raise InputError(f"{args.input}: no usable problems")
    template = resolve_template(args.prompt_template, args.kind)
    problems = apply_template(loaded.problems, template)
    spec = JobSpec.for_problems(
        problems,
        args.engine,
        str(args.model),
        params,
        system=args.system,
        format=args.format,
        prompt_template=template,
    )
    # Every check of the output folder before the engine loads: a teacher can take minutes.
    spec.preflight(args.out)
    think = {"auto": None, "yes": True, "no": False}[args.think_in_prompt]
    if args.chunk_size is None and args.ray:
        # A Ray batch is a number of problems; the local job sizes its own chunks.
        ray_chunk = {"vllm": 1024, "openai": 256}
        args.chunk_size = ray_chunk.get(args.engine) or chunk_problems(params)
    try:
        if args.ray:
            from reasoning_distill.generation.ray_job import run_ray_job

            summary = run_ray_job(
                spec,
                problems,
                engine_opts(args),
                args.out,
                num_actors=args.ray,
                chunk_size=args.chunk_size,
                think_in_prompt=think,
                address=args.ray_address,
            )
        else:
            engine = make_engine(args.engine, args.model, **engine_opts(args))
            try:
                summary = run_job(
                    spec,
                    problems,
                    engine,
                    args.out,
                    progress=RichProgress(),
                    chunk_size=args.chunk_size,
                    think_in_prompt=think,
                )
            finally:
                engine.close()
    except UserError:
        raise  # one line from the CLI's main (a folder locked by another job, say)
    except (ConnectionError, RuntimeError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}\n{escape(_kept(args.out))}", highlight=False)
        return 1

    table = Table(title=f"generation summary: {args.out}", show_header=False)
    rows = [
        ("samples in folder", f"{summary.samples} of {summary.expected}"),
        ("generated now", f"{summary.generated_now} ({summary.already_done} were already done)"),
        ("truncated (hit max tokens)", f"{summary.truncated} ({summary.truncated_share:.1%})"),
        (
            "completion tokens mean / p95",
            f"{summary.mean_completion_tokens:.1f} / {summary.p95_completion_tokens:.0f}",
        ),
        ("throughput now", f"{summary.tokens_per_s:,.0f} tokens/s over {summary.elapsed_s:.1f} s"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    Console(file=sys.stdout).print(table)
    return 0 if summary.samples == summary.expected else 1


def _kept(out: str) -> str:
    """What a failed run left in `out`: samples to resume from, or nothing at all (the
    engine failed before the folder was made, or before its first sample)."""
    from reasoning_distill.generation.store import MANIFEST, Store

    if not (Path(out) / MANIFEST).is_file():
        return f"Nothing was written ({out} was not created); fix the cause and rerun."
    try:
        stored = len(Store(out).done_keys())
    except Exception:  # a folder this run could not read back: do not promise a count
        return f"Samples written so far are kept in {out}; rerun to resume."
    if not stored:
        return f"No sample was written to {out} yet; rerun to start again."
    return f"{stored} samples written so far are kept in {out}; rerun to resume."
