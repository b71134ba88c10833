"""The arithmetic-trace rows every training test and benchmark trains on (one home).

Imported (as `tests.training.arithmetic`) by the training and GPU tests, and by the benchmarks
(which put this folder on `sys.path`), so they all train on the same kind of data.
"""

from __future__ import annotations

import random


def arithmetic_messages(n: int, seed: int = 0, terms: int = 3) -> list[dict]:
    """`n` chained +/- problems over `terms` numbers with a gold think-block trace each, as
    chat `messages` rows: a user question, then `<think>steps</think>` and a boxed answer."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        nums = [rng.randint(0, 30) for _ in range(terms)]
        ops = [rng.choice("+-") for _ in range(terms - 1)]
        question = " ".join(
            [str(nums[0])] + [f"{op} {x}" for op, x in zip(ops, nums[1:], strict=True)]
        )
        total, steps = nums[0], []
        for op, x in zip(ops, nums[1:], strict=True):
            new = total + x if op == "+" else total - x
            steps.append(f"{total} {op} {x} = {new}.")
            total = new
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is {question}?"},
                    {
                        "role": "assistant",
                        "content": f"<think>\n{' '.join(steps)}\n</think>\n\n"
                        f"The answer is \\boxed{{{total}}}",
                    },
                ]
            }
        )
    return rows
