"""Engine options and sampling parameters from plain values (a CLI's flags, a recipe's fields).

`engine_opts` names the engine options as the chosen engine's constructor names them;
`sampling_params` is the one place a `SamplingParams` is built from a mapping. Both take
plain mappings, so the CLI passes `vars(args)` and a recipe its own fields. Nothing heavy is
imported here (the CLI imports this module to build its parser).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reasoning_distill.generation.engine import SamplingParams

ENGINES = ("hf", "vllm", "openai")

# Sampling fields as `SamplingParams` and the sampling flags name them.
SAMPLING_FIELDS = ("n", "temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "seed")

# Per engine: constructor keyword <- option name (the flag's name, `--batch-size` is batch_size).
_ENGINE_KEYWORDS: dict[str, dict[str, str]] = {
    "hf": {"batch_size": "batch_size", "dtype": "dtype", "data_parallel": "data_parallel"},
    "vllm": {
        "dtype": "dtype",
        "data_parallel_size": "data_parallel",
        "tensor_parallel_size": "tensor_parallel",
        "max_model_len": "max_model_len",
        "gpu_memory_utilization": "gpu_memory_utilization",
        "enforce_eager": "enforce_eager",
    },
    "openai": {
        "base_url": "base_url",
        "api_key_env": "api_key_env",
        "concurrency": "concurrency",
        "timeout": "request_timeout",
        "max_retries": "max_retries",
    },
}


def engine_opts(engine: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of `engine`, keyed as its constructor names them (None where not given).

    `options` holds the option values by flag name (`data_parallel`, `request_timeout`...);
    options of other engines are ignored. An engine other than hf or vllm gets the HTTP
    engine's options.
    """
    keywords = _ENGINE_KEYWORDS.get(engine, _ENGINE_KEYWORDS["openai"])
    return {keyword: options.get(name) for keyword, name in keywords.items()}


def sampling_params(values: Mapping[str, Any], **extra: Any) -> SamplingParams:
    """A `SamplingParams` from the sampling fields of `values` (others are ignored), and
    `extra` fields (`logprobs`, or an override of one of them). A field `values` lacks takes
    the `SamplingParams` default; a bad value raises a `ConfigError` naming the field."""
    fields = {name: values[name] for name in SAMPLING_FIELDS if name in values}
    fields.update(extra)
    if "stop" in fields:
        fields["stop"] = tuple(fields["stop"])
    return SamplingParams(**fields)
