"""Decontamination: find training problems that are (or contain) benchmark problems.

A text is contaminated by a benchmark problem when one of these holds, strongest first:
- `exact`: the same text after stripping outer whitespace;
- `normalised`: the same words after `text.words` (case, spacing, punctuation, LaTeX
  spacing, thousands separators and decimal zeros do not count);
- `ngram-N`: the text shares word N-grams (N in `ngram_sizes`, 8 and 13 by default)
  covering at least `min_coverage` of the benchmark problem's own N-grams.

Fewer false positives than one set of 8-grams (open-r1's `decontaminate.py`), no fewer true
hits: N-grams that occur in `stock_df` or more problems of one benchmark are stock phrases
("how much money does she have left") and are not evidence, and one shared N-gram is not
enough: the overlap must cover a share of the benchmark problem. A planted benchmark problem,
however re-spaced, re-cased or re-formatted, shares all its N-grams and is found. Problems too
short to have an N-gram are still found by the two full-text matches.

Cost: one pass over the texts' smallest-N n-grams with set lookups (as open-r1's), and the
coverage count only for texts with a candidate n-gram.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reasoning_distill.data_recipes.text import ngrams, words

logger = logging.getLogger(__name__)

_STRENGTH = {"exact": 3, "normalised": 2}


@dataclass(frozen=True)
class ContaminationHit:
    """Text `index` matches problem `benchmark_id` of `benchmark` (how: `kind`)."""

    index: int
    benchmark: str
    benchmark_id: str
    kind: str  # "exact" | "normalised" | "ngram-N"
    coverage: float = 1.0  # share of the benchmark problem's N-grams found in the text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _strength(kind: str) -> float:
    if kind in _STRENGTH:
        return _STRENGTH[kind]
    return 1 + int(kind.split("-")[1]) / 1000


def benchmark_texts(name: str, data_dir: str | Path | None = None) -> list[tuple[str, str]]:
    """(problem id, problem text) of a registered benchmark, from `data_dir` or its source."""
    from reasoning_distill.eval.benchmarks import (
        BenchmarkUnavailable,
        get_benchmark,
        load_benchmark,
    )

    try:
        problems = load_benchmark(name, path=data_dir)
    except BenchmarkUnavailable as e:
        cause = e.__cause__ or e
        raise BenchmarkUnavailable(
            f"decontaminate.benchmarks: cannot load {name!r} from the Hugging Face Hub "
            f"({type(cause).__name__}: {str(cause)[:200]}); set decontaminate.data_dir in the "
            f"recipe to a folder holding {get_benchmark(name).local_file} (as in "
            "../shared/benchmarks/), or drop the benchmark"
        ) from None
    return [(p.id, str(p.meta.get("question") or p.prompt)) for p in problems]


class Index:
    """Benchmark problems, ready to match texts against (build with `build_index`).

    Only the smallest N has posting lists (stock phrases removed); larger N-grams of a
    benchmark problem are computed when a text first shares a smallest-N n-gram with it.
    """

    def __init__(
        self, items: dict[str, Sequence[tuple[str, str]]], sizes: Sequence[int], stock_df: int
    ) -> None:
        self.docs: list[tuple[str, str]] = []  # (benchmark, problem id) per global doc number
        self.words: list[list[str]] = []
        self.exact: dict[str, list[int]] = defaultdict(list)
        self.norm: dict[str, list[int]] = defaultdict(list)
        self.sizes = sorted(set(sizes))
        self.grams: dict[str, list[int]] = defaultdict(list)  # smallest N only
        self.totals: list[int] = []
        self._larger: dict[tuple[int, int], set[str]] = {}
        for name, rows in items.items():
            start = len(self.docs)
            for pid, text in rows:
                doc = len(self.docs)
                self.docs.append((name, pid))
                self.exact[text.strip()].append(doc)
                w = words(text)
                self.words.append(w)
                self.norm[" ".join(w)].append(doc)
            if not self.sizes:
                continue
            per_doc = [set(ngrams(w, self.sizes[0])) for w in self.words[start:]]
            # stock phrases: common across this benchmark's own problems
            df = Counter(g for grams in per_doc for g in grams)
            for i, grams in enumerate(per_doc):
                kept = [g for g in grams if df[g] < stock_df]
                self.totals.append(len(kept))
                for g in kept:
                    self.grams[g].append(start + i)

    def larger(self, doc: int, n: int) -> set[str]:
        key = (doc, n)
        if key not in self._larger:
            self._larger[key] = set(ngrams(self.words[doc], n))
        return self._larger[key]


def build_index(
    items: dict[str, Sequence[tuple[str, str]]],
    ngram_sizes: Sequence[int] = (8, 13),
    stock_df: int = 3,
) -> Index:
    """An index of benchmark problems given as {benchmark: [(problem id, text), ...]}."""
    return Index(items, ngram_sizes, stock_df)


def find_contamination(
    texts: list[str],
    benchmarks: list[str],
    data_dir: str | Path | None = None,
    ngram_sizes: Sequence[int] = (8, 13),
    *,
    min_coverage: float = 0.5,
    stock_df: int = 3,
) -> list[ContaminationHit]:
    """Hits of `texts` against the named registered benchmarks, one per (text, benchmark
    problem), the strongest kind only, ordered by text index.

    `data_dir` is a folder of local benchmark files named as in `../shared/benchmarks/`
    (without it the benchmarks load from their public sources).
    """
    index = build_index(
        {b: benchmark_texts(b, data_dir) for b in benchmarks}, ngram_sizes, stock_df
    )
    return match_texts(texts, index, min_coverage)


def match_texts(
    texts: Sequence[str], index: Index, min_coverage: float = 0.5
) -> list[ContaminationHit]:
    """The hits of `texts` against `index` (see `find_contamination`)."""
    if not 0 < min_coverage <= 1:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    best: dict[tuple[int, int], tuple[str, float]] = {}

    def offer(t: int, doc: int, kind: str, cov: float) -> None:
        old = best.get((t, doc))
        if old is None or _strength(kind) > _strength(old[0]):
            best[(t, doc)] = (kind, cov)

    sizes = index.sizes
    first = index.grams
    for t, text in enumerate(texts):
        for doc in index.exact.get(text.strip(), ()):
            offer(t, doc, "exact", 1.0)
        w = words(text)
        for doc in index.norm.get(" ".join(w), ()):
            offer(t, doc, "normalised", 1.0)
        if not sizes or len(w) < sizes[0]:
            continue
        small = ngrams(w, sizes[0])
        if first.keys().isdisjoint(small):
            continue
        counts: Counter = Counter()
        for g in set(small):
            for doc in first.get(g, ()):
                counts[doc] += 1
        for doc, c in counts.items():
            if index.totals[doc] and c / index.totals[doc] >= min_coverage:
                offer(t, doc, f"ngram-{sizes[0]}", c / index.totals[doc])
        for n in sizes[1:]:
            if len(w) < n:
                break
            grams = set(ngrams(w, n))
            for doc in counts:
                theirs = index.larger(doc, n)
                if theirs:
                    cov = len(grams & theirs) / len(theirs)
                    if cov >= min_coverage:
                        offer(t, doc, f"ngram-{n}", cov)
    hits = [
        ContaminationHit(t, *index.docs[doc], kind, round(cov, 4))
        for (t, doc), (kind, cov) in best.items()
    ]
    return sorted(hits, key=lambda h: (h.index, h.benchmark, h.benchmark_id))
