"""Engine and sampling flags, shared by every command that makes an engine.

`rdistill generate`, `rdistill eval` (and the build and on-policy training) call
`add_engine_arguments` and `add_sampling_arguments`, then `engine_opts(args)` and
`sampling_params(args)`, which hand the parsed flags to `generation.options`, so every
engine option is available wherever an engine is made. Only argparse is imported here
(the rest inside the functions), so `--help` stays instant.
"""

from __future__ import annotations

import argparse
from typing import Any

# The engines `generation.factory` builds; spelled here so that building the parser imports
# nothing beyond argparse.
ENGINES = ("hf", "vllm", "openai")


def add_engine_arguments(p: argparse.ArgumentParser, *, default: str = "hf") -> None:
    """`--engine` and the options each engine's constructor takes."""
    g = p.add_argument_group("engine (each engine takes its own options)")
    g.add_argument("--engine", choices=ENGINES, default=default)
    g.add_argument("--batch-size", type=int, default=None, help="hf: sequences per generate call")
    g.add_argument("--dtype", default=None, help="hf/vllm: float32, bfloat16, ...")
    g.add_argument(
        "--data-parallel", type=int, default=None, help="hf/vllm: engine replicas on this machine"
    )
    g.add_argument("--tensor-parallel", type=int, default=None, help="vllm: GPUs per replica")
    g.add_argument("--max-model-len", type=int, default=None, help="vllm: context length")
    g.add_argument("--gpu-memory-utilization", type=float, default=None, help="vllm")
    g.add_argument(
        "--enforce-eager", action="store_true", default=None, help="vllm: no CUDA graphs"
    )
    g.add_argument("--base-url", default=None, help="openai: e.g. http://127.0.0.1:8000/v1")
    g.add_argument(
        "--api-key-env", default=None, help="openai: env variable holding the key (OPENAI_API_KEY)"
    )
    g.add_argument("--concurrency", type=int, default=None, help="openai: requests in flight")
    g.add_argument(
        "--request-timeout", type=float, default=None, help="openai: seconds per request"
    )
    g.add_argument(
        "--max-retries", type=int, default=None, help="openai: retries on 429/5xx/timeouts"
    )


def add_sampling_arguments(
    p: argparse.ArgumentParser,
    *,
    n: int = 1,
    max_tokens: int = 2048,
    seed: int = 0,
    title: str = "sampling (defaults: DeepSeek-R1's settings)",
) -> argparse._ArgumentGroup:
    """Sampling flags; the defaults are R1's evaluation settings (T=0.6, top-p 0.95)."""
    g = p.add_argument_group(title)
    g.add_argument("--n", type=int, default=n, help="samples per problem")
    g.add_argument("--max-tokens", type=int, default=max_tokens)
    g.add_argument("--temperature", type=float, default=0.6)
    g.add_argument("--top-p", type=float, default=0.95)
    g.add_argument("--top-k", type=int, default=-1, help="-1 disables")
    g.add_argument("--min-p", type=float, default=0.0)
    g.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    g.add_argument("--seed", type=int, default=seed, help="base seed; each sample derives its own")
    return g


def engine_opts(args: argparse.Namespace) -> dict[str, Any]:
    """The engine flags, named as the chosen engine's constructor names them."""
    from reasoning_distill.generation import options

    return options.engine_opts(args.engine, vars(args))


def check_engine_arguments(args: argparse.Namespace) -> None:
    """Refuse out-of-range engine flags (a `ConfigError` naming the flag) before any load."""

    def at_least(flag: str, low: float) -> tuple[str, Any, bool, str]:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        return flag, value, value is None or value >= low, f">= {low}"

    checks = [
        at_least("--batch-size", 1),
        at_least("--data-parallel", 1),
        at_least("--tensor-parallel", 1),
        at_least("--max-model-len", 1),
        at_least("--concurrency", 1),
        at_least("--max-retries", 0),
    ]
    timeout = getattr(args, "request_timeout", None)
    checks.append(("--request-timeout", timeout, timeout is None or timeout > 0, "> 0"))
    share = getattr(args, "gpu_memory_utilization", None)
    checks.append(("--gpu-memory-utilization", share, share is None or 0 < share <= 1, "in (0, 1]"))
    from reasoning_distill.errors import refuse_out_of_range

    refuse_out_of_range(checks)


def sampling_params(args: argparse.Namespace, **extra: Any):
    """A `SamplingParams` from the sampling flags (a `ConfigError` naming the flag if bad)."""
    from reasoning_distill.errors import ConfigError
    from reasoning_distill.generation import options

    try:
        return options.sampling_params(vars(args), **extra)
    except ConfigError as e:
        # "max_tokens must be >= 1, got 0" -> "--max-tokens must be >= 1, got 0"
        field, _, rest = str(e).partition(" ")
        raise ConfigError(f"--{field.replace('_', '-')} {rest}") from None
