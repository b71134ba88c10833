"""The command lines the CLI tests share: small, fast, on the tiny model."""

from __future__ import annotations


def small_sampling(seed: int) -> list[str]:
    """2 samples of at most 8 tokens per problem, seeded."""
    return ["--n", "2", "--max-tokens", "8", "--seed", str(seed)]


def generate_argv(model, inp, out, *extra: str, seed: int = 1) -> list[str]:
    """`generate` with `small_sampling`, `extra` flags appended."""
    return [
        "generate",
        *("--model", str(model), "--input", str(inp), "--out", str(out)),
        *small_sampling(seed),
        *("--batch-size", "8"),
        *extra,
    ]
