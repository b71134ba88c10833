"""Math verification throughput: `verify_math_batch` vs a serial loop of plain math-verify.

Both grade the same N pairs (default 5,000) in one run: gold answers from
../shared/benchmarks (GSM8K, MATH-500, AIME, AMC; synthetic integers and fractions when that
folder is absent) written into realistic completions, half right and half wrong, with a few
pathological inputs and 2% answers with several parts (`3, 5, 7`; `(1, 2), (2, 4)`; the
right ones boxed one part at a time, in reverse order) mixed in. Prints wall times, the
ratio, hangs (items that ran past the deadline) and how often the two agree.

  python benchmarks/bench_verify_math.py [--n 5000] [--workers N] [--timeout 6]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from fractions import Fraction
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
PATHOLOGICAL = [
    r"\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    r"\boxed{9^{9^{9^{9}}}}",
    r"\boxed{(10^{100})!}",
    r"\boxed{\frac{1}{7}^{10^{8}}}",
    r"\boxed{10^{10^{10}} + 1}",
]


def _golds() -> list[tuple[str, str]]:
    out = []
    for name, q in [
        ("gsm8k_test.jsonl", "question"),
        ("math500_test.jsonl", "problem"),
        ("aime2024.jsonl", "problem"),
        ("aime2025.jsonl", "problem"),
        ("amc2023.jsonl", "problem"),
    ]:
        path = SHARED / name
        if path.is_file():
            for line in path.read_text().splitlines():
                r = json.loads(line)
                out.append((r[q][:400], str(r["answer"])))
    if not out:  # no shared data: synthetic toy answers
        rng = random.Random(0)
        for i in range(2000):
            a, b = rng.randint(-50, 500), rng.randint(2, 30)
            out.append((f"problem {i}", str(a) if i % 2 else f"\\frac{{{a}}}{{{b}}}"))
    return out


# a gold that is a plain list of values, `1,-2` or `3, 5, 7` (no brackets, no thousands)
_FLAT_LIST_RE = re.compile(r"^[^()\[\]{}\\,]+(?:,\s*[^()\[\]{}\\,]+)+$")


def _wrong(gold: str) -> str:
    try:
        return str(Fraction(gold.replace(",", "")) + 1)
    except ValueError:
        return f"{gold} + 1"


def make_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    golds = _golds()
    comps, gs = [], []
    for i in range(n):
        q, g = golds[i % len(golds)]
        right = rng.random() < 0.5
        pairs = i % 100 == 75
        if i % 50 == 25:  # 2% golds with several parts: roots, or a set of pairs
            a, b, c = rng.sample(range(-20, 40), 3)
            g = f"({a}, {b}), ({b}, {c})" if pairs else f"{a}, {b}, {c}"
        if i % 1000 == 999:
            ans = PATHOLOGICAL[(i // 1000) % len(PATHOLOGICAL)]
        elif right and _FLAT_LIST_RE.match(g) and not re.search(r"\d,\d{3}(?!\d)", g):
            # an answer with several parts (`3, 5, 7`), boxed one part at a time, reversed
            ans = " and ".join(f"\\boxed{{{p.strip()}}}" for p in reversed(g.split(",")))
        elif right and pairs:
            ans = " and ".join(f"\\boxed{{{p}}}" for p in reversed(re.findall(r"\([^()]*\)", g)))
        else:
            ans = f"\\boxed{{{g if right else _wrong(g)}}}"
        comps.append(
            f"<think>\n{q}\nLet me think step by step. First 3 + 4 = 7, then 7 * 2 = 14.\n"
            f"Hmm, wait, check again.\n</think>\n\nSo the final answer is {ans}."
        )
        gs.append(g)
    return comps, gs


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--timeout", type=float, default=6.0, help="per-item deadline (ours)")
    args = p.parse_args()

    import logging

    logging.disable(logging.WARNING)  # math-verify warns on every timeout
    from math_verify import parse, verify
    from reasoning_distill.verifiers import close_math_workers, verify_math_batch

    comps, golds = make_pairs(args.n)
    n_path = sum(i % 1000 == 999 for i in range(args.n))
    n_parts = sum(" and \\boxed" in c for c in comps)
    print(
        f"{args.n} pairs, {n_path} pathological, {n_parts} with parts boxed one at a time, "
        f"{args.workers} workers, {os.cpu_count()} CPUs"
    )

    # warm both: worker start-up (imports) is paid once per process, not per batch
    verify_math_batch(comps[:50], golds[:50], workers=args.workers, timeout_s=args.timeout)
    verify(parse(golds[0]), parse(comps[0]))

    t0 = time.perf_counter()
    ours = verify_math_batch(comps, golds, workers=args.workers, timeout_s=args.timeout)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    base, item_s = [], []
    for c, g in zip(comps, golds, strict=True):
        t1 = time.perf_counter()
        try:
            base.append(bool(verify(parse(g), parse(c))))
        except Exception:
            base.append(False)
        item_s.append(time.perf_counter() - t1)
    t_base = time.perf_counter() - t0
    slowest = max(item_s)

    # the same without the pathological items, so they do not dominate the ratio
    clean = [i for i in range(args.n) if i % 1000 != 999]
    close_math_workers()  # fresh workers: no caches left from the first run
    verify_math_batch(["\\boxed{1}"] * 50, ["1"] * 50, workers=args.workers)
    t0 = time.perf_counter()
    verify_math_batch(
        [comps[i] for i in clean],
        [golds[i] for i in clean],
        workers=args.workers,
        timeout_s=args.timeout,
    )
    t_ours_clean = time.perf_counter() - t0
    t_base_clean = sum(item_s[i] for i in clean)

    timeouts = sum(v.reason == "timeout" for v in ours)
    agree = sum(v.correct == b for v, b in zip(ours, base, strict=True))
    only_ours = sum(v.correct and not b for v, b in zip(ours, base, strict=True))
    only_base = sum(b and not v.correct for v, b in zip(ours, base, strict=True))
    print(
        f"plain math-verify, serial : {t_base:8.2f} s  ({args.n / t_base:7.1f} items/s, slowest item {slowest:.1f} s)"
    )
    print(f"verify_math_batch         : {t_ours:8.2f} s  ({args.n / t_ours:7.1f} items/s)")
    print(f"speed-up                  : {t_base / t_ours:8.2f} x")
    print(
        f"without the {n_path} pathological: plain {t_base_clean:.2f} s, ours {t_ours_clean:.2f} s, "
        f"speed-up {t_base_clean / t_ours_clean:.2f} x"
    )
    print(
        f"hangs (items past the {args.timeout:.0f} s deadline, returned as timeout verdicts): {timeouts}"
    )
    print(
        f"agreement: {agree}/{args.n}; correct only in ours: {only_ours}; only in plain: {only_base}"
    )
    print(f"ours correct: {sum(v.correct for v in ours)}, plain correct: {sum(base)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
