"""Decontamination of 100,000 problems against every registered benchmark with a local file,
side by side with open-r1's approach on the same inputs.

  .venv/bin/python benchmarks/bench_decontam.py [--n 100000] [--data-dir ../shared/benchmarks]

open-r1 (`scripts/decontaminate.py`): lower-case, collapse whitespace, and flag a text when
any of its word 8-grams is in one Python set of the benchmarks' 8-grams. Ours:
`reasoning_distill.data_recipes.find_contamination` (exact, normalised text, 8- and 13-gram
coverage with stock phrases ignored).

The inputs are synthetic so the truth is known: `planted` benchmark problems (verbatim,
re-spaced, re-cased, thousands separators added), and unrelated problems, a share of which
end with a question opening with 8 words that several GSM8K test questions open with
("How much money does he make in ..."), the way unrelated GSM8K train questions share one
stock 8-gram with a test question.
Prints the time of each, true hits and false positives, and both hit lists' differences.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["Tom", "Ana", "Li", "Sam", "Mia", "Ben", "Noor", "Ivan", "Zoe", "Raj"]
ITEMS = ["apples", "coins", "books", "stamps", "cards", "shells", "pencils", "tickets"]
VERBS = ["buys", "finds", "sells", "gives away", "collects", "loses", "wins", "orders"]


# ---- open-r1's decontaminate.py, as written there
def normalize_string(text: str) -> str:
    text = text.lower().strip()
    return " ".join(text.split())


def word_ngrams(text: str, n: int) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def openr1(texts: list[str], bench: dict[str, list[tuple[str, str]]], n: int = 8) -> set[int]:
    lookup: set[str] = set()
    for rows in bench.values():
        for _, doc in rows:
            lookup.update(word_ngrams(normalize_string(doc), n))
    return {
        i
        for i, t in enumerate(texts)
        if any(g in lookup for g in word_ngrams(normalize_string(t), n))
    }


# ---- inputs
def stock_questions(bench: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Final question sentences of GSM8K problems that several problems share the start of."""
    last = [re.split(r"(?<=[.!?])\s+", t.strip())[-1] for _, t in bench.get("gsm8k", [])]
    starts = collections.Counter(" ".join(q.lower().split()[:6]) for q in last)
    return [q for q in last if starts[" ".join(q.lower().split()[:6])] >= 3 and len(q.split()) >= 8]


def unrelated(rng: random.Random, stock: list[str]) -> str:
    a, b, c = rng.randint(2, 90), rng.randint(2, 90), rng.randint(2, 9)
    name, item, verb = rng.choice(NAMES), rng.choice(ITEMS), rng.choice(VERBS)
    first = f"{name} has {a} {item} and {verb} {b} more on day {c} of the {rng.choice(['fair', 'trip', 'week'])}."
    if stock and rng.random() < 0.05:
        # a stock opening of 8 words shared with benchmark questions, then our own ending
        return first + " " + " ".join(rng.choice(stock).split()[:8]) + f" {item} by the end?"
    return first + f" How many {item} does {name} have after {c} days?"


def plant(rng: random.Random, text: str) -> str:
    how = rng.randrange(4)
    if how == 1:
        return "\n ".join(text.split(" "))
    if how == 2:
        return text.upper()
    if how == 3:
        return re.sub(r"\b(\d)(\d{3})\b", r"\1,\2", text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--planted", type=int, default=300)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "benchmarks"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from reasoning_distill.data_recipes.decontam import benchmark_texts, build_index, match_texts
    from reasoning_distill.eval.benchmarks import get_benchmark, list_benchmarks

    data = Path(a.data_dir)
    if not data.is_dir():
        print(f"{data}: no benchmark files; pass --data-dir")
        return 2
    names = [b for b in list_benchmarks() if (data / get_benchmark(b).local_file).exists()]
    bench = {b: benchmark_texts(b, data) for b in names}
    rng = random.Random(a.seed)
    pool = [(b, pid, t) for b, rows in bench.items() for pid, t in rows if len(t.split()) >= 8]
    planted = rng.sample(pool, a.planted)
    stock = stock_questions(bench)
    rows = [(unrelated(rng, stock), False) for _ in range(a.n - a.planted)]
    rows += [(plant(rng, t), True) for _, _, t in planted]
    rng.shuffle(rows)
    texts = [t for t, _ in rows]
    truth = {i for i, (_, is_planted) in enumerate(rows) if is_planted}
    print(f"{len(texts)} texts ({len(truth)} planted), benchmarks: {', '.join(names)} "
          f"({sum(map(len, bench.values()))} problems); stock questions: {len(stock)}")  # fmt: skip

    t0 = time.perf_counter()
    theirs = openr1(texts, bench)
    t_theirs = time.perf_counter() - t0
    t0 = time.perf_counter()
    hits = match_texts(texts, build_index(bench, (8, 13)))
    t_ours = time.perf_counter() - t0
    ours = {h.index for h in hits}
    kinds = collections.Counter(h.kind for h in hits)

    def row(name: str, found: set[int], secs: float) -> str:
        tp, fp = len(found & truth), len(found - truth)
        return f"{name:<28} {secs:8.2f} {tp:>9} {len(truth) - tp:>7} {fp:>9} {fp / max(1, len(texts) - len(truth)):>8.3%}"

    print(
        f"\n{'method':<28} {'time_s':>8} {'true_hits':>9} {'missed':>7} {'false_pos':>9} {'fp_rate':>8}"
    )
    print(row("open-r1 (one 8-gram set)", theirs, t_theirs))
    print(row("ours (exact/norm/8,13-gram)", ours, t_ours))
    print(
        f"\ntime ratio ours / open-r1: {t_ours / t_theirs:.2f}x (aim: <= 3x); our hit kinds: {dict(kinds)}"
    )
    only_theirs, only_ours = sorted(theirs - ours), sorted(ours - theirs)
    print(
        f"\nflagged by open-r1 only: {len(only_theirs)} ({sum(i in truth for i in only_theirs)} true)"
    )
    for i in only_theirs[:5]:
        print(f"  [{i}] {'TRUE ' if i in truth else 'false'} {texts[i][:110]!r}")
    print(f"flagged by ours only: {len(only_ours)} ({sum(i in truth for i in only_ours)} true)")
    for i in only_ours[:5]:
        print(f"  [{i}] {'TRUE ' if i in truth else 'false'} {texts[i][:110]!r}")
    fps = sorted(ours - truth)
    print(f"our false positives: {len(fps)}")
    for h in [h for h in hits if h.index in fps][:5]:
        print(
            f"  [{h.index}] {h.kind} {h.benchmark}:{h.benchmark_id} cov={h.coverage} {texts[h.index][:110]!r}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
