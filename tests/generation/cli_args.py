"""The `rdistill generate` command line the CLI tests share: small, fast, on the tiny model."""

from __future__ import annotations


def generate_argv(model, inp, out, *extra: str, seed: int = 1) -> list[str]:
    """`generate` with 2 samples of at most 8 tokens per problem, `extra` flags appended."""
    return [
        "generate",
        "--model",
        str(model),
        "--input",
        str(inp),
        "--out",
        str(out),
        "--n",
        "2",
        "--max-tokens",
        "8",
        "--seed",
        str(seed),
        "--batch-size",
        "8",
        *extra,
    ]
