"""Verify generated samples, each by its kind: the format check, then the answer (math) or the
tests (code, sandboxed).

This joins the generation records to the verifiers room. `iter_verdicts` yields verdicts as
they finish (math in chunks, code program by program); `verify_into` writes them to a
`VerdictStore` as they come, skipping the keys the store already holds, so an interrupted run
keeps everything that finished and a rerun resumes. `verify_store` does that for a generation
store folder, streaming its samples from the shards (`iter_store`), so its memory is the work
in flight and the keys, not the store. `verify_samples` is the in-memory form (one `Verdict` per sample, in order).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.generation.parsing import prompt_opens_think
from reasoning_distill.progress import Progress, Task, ensure
from reasoning_distill.records import Sample
from reasoning_distill.verification.verdicts import Key, VerdictRecord, VerdictStore, iter_records

logger = logging.getLogger(__name__)

KINDS = ("math", "code")
# Math verdicts are written this many at a time: a kill loses at most one chunk's grading.
MATH_CHUNK = 256
# Items a local run grades at a time from a stream: what it holds in flight (20 KB traces).
WINDOW = 2048
# Rule verdicts of math (and every batch a judge sees) are appended this many at a time.
APPEND_BATCH = 64
# A verdict the format check decided carries details[DECIDED_BY] == "format".
DECIDED_BY = "decided_by"


@dataclass(frozen=True)
class VerifyOptions:
    """What a verdict depends on (stored in the verdicts' manifest, so a change is noticed)."""

    check_format: bool = True
    require_think: bool = True
    include_think: bool = False
    # "markers": a box, else the answer markers (####, "The answer is"); "math_verify" also
    # asks math-verify's LaTeX and expression extraction when there is no box; "refuse": a
    # box only. The format check demands a box in "refuse" alone: in the other modes an
    # unboxed answer counts, and the format check must not reject what the reading accepts.
    unboxed: str = "markers"
    math_timeout_s: float = 10.0
    code_timeout_s: float = 6.0

    def __post_init__(self) -> None:
        from reasoning_distill.verifiers.math_extract import UNBOXED_MODES

        if self.unboxed not in UNBOXED_MODES:
            raise ConfigError(
                f"unboxed must be one of {', '.join(UNBOXED_MODES)}, got {self.unboxed!r}"
            )
        for name in ("math_timeout_s", "code_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{name} must be a number of seconds, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"{name} must be a positive number of seconds, got {value!r}: a zero or "
                    "negative limit would mark every row as a timeout"
                )

    def config(self) -> dict[str, Any]:
        # format_rules 2: a math answer needs a box only under unboxed="refuse" (1 demanded
        # one always); verdicts made under other rules are redone, not mixed in.
        return {"verify_options": asdict(self), "verdict_record_version": 1, "format_rules": 2}

    @property
    def math_answer_format(self) -> str:
        """The format check's answer rule for math (`check_format`'s `answer`)."""
        return "boxed" if self.unboxed == "refuse" else "math"

    def verifier_name(self, kind: str) -> str:
        return f"{kind}+format" if self.check_format else kind


@dataclass
class Item:
    """One thing to verify: `kind` picks the verifier, `gold` is an answer or a tests dict."""

    key: tuple[str, int]
    kind: str
    completion: Any
    gold: Any
    finish_reason: str | None = None
    program_text: Any = None  # code: where the program is (default: the completion)
    think_opened: bool = False  # the prompt opened the think block the completion continues


_OWN = object()


def item_of(sample: Sample, *, kind: str | None = None, gold: Any = _OWN) -> Item:
    """The item to verify for a stored sample: its kind (else its problem meta's) and its
    gold, unless `kind` / `gold` are given (a benchmark's problem decides both)."""
    kind = kind or sample.kind or str((sample.meta or {}).get("kind") or "")
    return Item(
        key=sample.key,
        kind=kind,
        completion=sample.completion,
        gold=sample.gold if gold is _OWN else gold,
        finish_reason=sample.finish_reason,
        program_text=(sample.answer or sample.completion) if kind == "code" else None,
        think_opened=prompt_opens_think(sample.prompt or ""),
    )


def bad_input(kind: str, completion: Any, gold: Any) -> str | None:
    """Why an item cannot be verified as given (a value of the wrong type), or None.

    Nothing is coerced into text: a list or an object where an answer belongs would
    otherwise become a string that may even match.
    """
    if not isinstance(completion, str):
        return f"completion must be a string, got {type(completion).__name__}"
    if kind == "math":
        if isinstance(gold, bool) or not isinstance(gold, (str, int, float)):
            return f"math gold must be a string or a number, got {type(gold).__name__}"
        if isinstance(gold, str) and not gold.strip():
            return "math gold is empty"
    elif kind == "code":
        from reasoning_distill.verifiers.code import check_tests

        return check_tests(gold)
    return None


def _gold_text(gold: Any) -> str:
    if isinstance(gold, float) and gold.is_integer():
        return str(int(gold))
    return str(gold)


def iter_verdicts(
    items: Sequence[Item],
    options: VerifyOptions | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    *,
    task: Task | None = None,
) -> Iterator[tuple[Item, Any]]:
    """(`item`, `Verdict`) as each finishes; an item of an unknown kind is an `InputError`.

    Items of the wrong type get a `bad_input` / `bad_tests` verdict (never coerced). `task`
    (an open progress task) is advanced instead of opening one of `progress`'s own.
    """
    from reasoning_distill.verifiers import Verdict, all_of, check_format, verify_math_batch
    from reasoning_distill.verifiers.code import iter_verify_code
    from reasoning_distill.verifiers.verdict import BAD_INPUT, BAD_TESTS

    options = options or VerifyOptions()
    for it in items:
        if it.kind not in KINDS:
            raise InputError(
                f"sample {it.key[0]}#{it.key[1]}: kind must be 'math' or 'code', got "
                f"{it.kind!r} (set the problem's kind when generating)"
            )

    def finish(it: Item, answer: Any) -> Any:
        if not options.check_format or not isinstance(it.completion, str):
            return answer
        fmt = check_format(
            it.completion,
            it.finish_reason,
            require_think=options.require_think,
            think_opened=it.think_opened,
            answer=options.math_answer_format if it.kind == "math" else "code",
        )
        verdict = all_of([fmt, answer])
        if not fmt.correct:
            verdict.details[DECIDED_BY] = "format"
        return verdict

    ready: list[Item] = []
    for it in items:
        why = bad_input(it.kind, it.completion, it.gold)
        if why:
            reason = (
                BAD_TESTS if it.kind == "code" and isinstance(it.completion, str) else BAD_INPUT
            )
            yield it, Verdict.fail(reason, None, error=why)
        else:
            ready.append(it)
    maths = [it for it in ready if it.kind == "math"]
    codes = [it for it in ready if it.kind == "code"]
    with _task(progress, task, len(ready)) as task:
        for start in range(0, len(maths), MATH_CHUNK):
            chunk = maths[start : start + MATH_CHUNK]
            out = verify_math_batch(
                [it.completion for it in chunk],
                [_gold_text(it.gold) for it in chunk],
                workers=workers,
                timeout_s=options.math_timeout_s,
                include_think=options.include_think,
                unboxed=options.unboxed,
            )
            for it, v in zip(chunk, out, strict=True):
                yield it, finish(it, v)
            task.advance(len(chunk))
        programs = [
            it.program_text if it.program_text is not None else it.completion for it in codes
        ]
        for i, v in iter_verify_code(
            programs,
            [it.gold for it in codes],
            workers,
            timeout_s=options.code_timeout_s,
            include_think=options.include_think,
        ):
            yield codes[i], finish(codes[i], v)
            task.advance(1)


@contextlib.contextmanager
def _task(progress: Progress | None, task: Task | None, total: int | None) -> Iterator[Task]:
    if task is not None:
        yield task
    else:
        with ensure(progress).task("verify", total) as opened:
            yield opened


def grade_local(
    items: Iterable[Item], options: VerifyOptions, workers: int | None, task: Task
) -> Iterator[tuple[Item, Any]]:
    """`iter_verdicts` over `items` a window of `WINDOW` at a time, so a stream of items is
    graded holding only the window in flight."""
    window: list[Item] = []
    for it in items:
        window.append(it)
        if len(window) >= WINDOW:
            yield from iter_verdicts(window, options, workers, task=task)
            window = []
    if window:
        yield from iter_verdicts(window, options, workers, task=task)


# How a run grades its items: (items, options, workers, task) -> (item, verdict) as they finish.
Grader = Callable[[Iterable[Item], VerifyOptions, "int | None", Task], Iterator[tuple[Item, Any]]]


def verify_samples(
    samples: Sequence[Sample],
    golds: Sequence[Any] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    options: VerifyOptions | None = None,
) -> list[Any]:
    """One `Verdict` per sample, in order.

    `golds` defaults to each sample's own `gold`; a sample's `kind` ("math" or "code") picks
    the verifier. A sample fails the format check (unclosed think block, truncated) before its
    answer is looked at.
    """
    golds = list(golds) if golds is not None else [s.gold for s in samples]
    if len(golds) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(golds)} golds")
    items = [item_of(s, gold=g) for s, g in zip(samples, golds, strict=True)]
    index = {id(it): i for i, it in enumerate(items)}
    out: list[Any] = [None] * len(items)
    for it, v in iter_verdicts(items, options, workers, progress):
        out[index[id(it)]] = v
    return out


@dataclass
class Verified:
    """What `verify_into` did: the records made now by key (as written, judged ones included),
    how many were written, and how many items were skipped because the store had their key."""

    records: dict[Key, VerdictRecord] = field(default_factory=dict)
    written: int = 0
    skipped: int = 0


def verify_into(
    store: VerdictStore,
    items: Iterable[Item],
    options: VerifyOptions | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    judge: Callable[[list[VerdictRecord]], list[VerdictRecord]] | None = None,
    gold_changed: Callable[[Item], bool] | None = None,
    verifier: Callable[[str], str] | None = None,
    grade: Grader | None = None,
    total: int | None = None,
    keep_records: bool = True,
) -> Verified:
    """Verify the items whose key `store` has no verdict for, appending each verdict as it
    finishes: an interrupted run keeps what finished, and a rerun verifies only the rest.

    `items` may be a stream (a generator over a store's shards): it is read as the work goes,
    and only the work in flight is held (`WINDOW` items locally). A key given twice is
    verified once (its first item). Rule verdicts are appended code by code and math
    `APPEND_BATCH` at a time (a pending batch is written when the run is interrupted).
    Options:
    - `judge`: called on each batch of `APPEND_BATCH` records before it is written, returns
      the records to write (some decided by an LLM judge); an interrupted run writes no
      batch the judge has not seen;
    - `gold_changed`: an item for which it holds was made for another gold than the one it is
      verified against now: it is verified even when the store has its key, and its verdict
      is returned but not stored (the stored verdict belongs to the sample's own gold);
    - `verifier`: the name a record carries for a kind (default `options.verifier_name`);
    - `grade`: what grades the items (default `grade_local`; `ray_verify.ray_grader` runs
      the same verifiers in Ray actors across machines);
    - `total`: how many items a stream will ask to verify, for the progress bar;
    - `keep_records=False`: the stored records are not kept in `Verified.records` (a caller
      that reads them back from the store holds none of a large run's verdicts).
    """
    options = options or VerifyOptions()
    name = verifier or options.verifier_name
    grade = grade or grade_local
    out = Verified()
    # Keys in flight -> whether their verdict is stored (False: the gold changed). Once
    # stored, a key is the store's (`key in store`): a stream of a million items holds the
    # store's keys once, not a second copy.
    keep: dict[Key, bool] = {}
    returned: set[Key] = set()  # verdicts returned, not stored (gold changed): few

    def todo() -> Iterator[Item]:
        for it in items:
            if it.key in keep or it.key in returned:
                continue  # a key given twice: its first item is verified
            changed = gold_changed is not None and gold_changed(it)
            if it.key in store and not changed:
                out.skipped += 1
            else:
                keep[it.key] = not changed
                yield it

    if isinstance(items, Sequence):  # a list in hand: count what is left, as before
        stream: Iterable[Item] = list(todo())
        total = len(stream)
    else:
        stream = todo()
    pending: list[VerdictRecord] = []

    def flush() -> None:
        batch = list(pending)
        pending.clear()
        if judge is not None:
            batch = judge(batch)
        out.written += store.append(batch)
        for r in batch:
            keep.pop(r.key, None)  # the store has it now
        if keep_records:
            out.records.update((r.key, r) for r in batch)

    try:
        with ensure(progress).task("verify", total) as task:
            for it, v in grade(stream, options, workers, task):
                rec = VerdictRecord.of(it.key, it.kind, v, name(it.kind))
                if not keep[it.key]:
                    del keep[it.key]
                    returned.add(rec.key)
                    out.records[rec.key] = rec
                    continue
                pending.append(rec)
                if len(pending) >= APPEND_BATCH or (judge is None and it.kind == "code"):
                    flush()
        if pending:
            flush()
    except BaseException:
        if pending and judge is None:
            flush()
        raise
    return out


@dataclass
class VerifyRun:
    """What `verify_store` did: how many were verified now, how many were already there."""

    verdicts_path: Path
    total: int
    already: int
    verified: int
    by_kind: dict[str, dict[str, Any]]


@dataclass
class StoreSurvey:
    """What a generation store holds, counted in one streaming pass that checks every row."""

    total: int = 0
    kinds: Counter = field(default_factory=Counter)


def survey_store(samples_dir: str | Path) -> StoreSurvey:
    """Count a store's samples by kind, reading (and checking) every row, holding none: a
    corrupt or foreign shard is an `InputError` before anything is verified."""
    out = StoreSurvey()
    for s in iter_store(samples_dir):
        out.total += 1
        out.kinds[item_of(s).kind] += 1
    return out


def verify_store(
    samples_dir: str | Path,
    options: VerifyOptions | None = None,
    *,
    redo: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    survey: StoreSurvey | None = None,
    grade: Grader | None = None,
) -> VerifyRun:
    """Verify every sample of a generation store, each by its kind, into keyed verdicts beside
    its shards (`verdicts.jsonl`); a rerun verifies only the keys without a verdict.

    The samples stream from the shards (after one checking pass, `survey_store`, unless the
    caller made it: `survey`), so memory holds the work in flight and the keys, whatever the
    store's size. A verifier configuration other than the stored one is refused
    (`ConfigError`) unless `redo`. Interrupted, it keeps every verdict that finished.
    `grade` is `verify_into`'s (e.g. Ray actors).
    """
    options = options or VerifyOptions()
    survey = survey or survey_store(samples_dir)
    with VerdictStore.open(samples_dir, options.config(), redo=redo) as store:
        left = max(0, survey.total - len(store))
        run = verify_into(
            store,
            (item_of(s) for s in iter_store(samples_dir)),
            options,
            workers=workers,
            progress=progress,
            grade=grade,
            total=left,
            keep_records=False,
        )
        path = store.path
    counts: dict[str, Counter] = {kind: Counter() for kind in KINDS}
    for rec in iter_records(path):  # checked against the manifest as the store opened
        counts.setdefault(rec.kind, Counter())[rec.reason] += 1
    by_kind = {kind: _yield_of(c) for kind, c in counts.items() if kind in KINDS}
    return VerifyRun(path, survey.total, run.skipped, run.written, by_kind)


def iter_store(samples_dir: str | Path) -> Iterator[Sample]:
    """The samples of a generation store folder (either format), streamed shard by shard."""
    from reasoning_distill.generation.store import MANIFEST, Store, StoreCorruptError

    path = Path(samples_dir)
    if not path.is_dir():
        raise InputError(f"{path}: no such folder (expected a `rdistill generate --out` folder)")
    if not (path / MANIFEST).exists():
        raise InputError(f"{path}: no {MANIFEST}; not a generation output folder")
    try:
        yield from Store(path).read()
    except StoreCorruptError as e:
        raise InputError(str(e)) from None


def read_store(samples_dir: str | Path) -> list[Sample]:
    """The samples of a generation store folder (either format), in key order, as a list
    (`iter_store` streams them instead)."""
    return sorted(iter_store(samples_dir), key=lambda s: s.key)


def yield_by_reason(verdicts: Iterable[Any]) -> dict[str, Any]:
    """Kept / generated and the count of every rejection reason."""
    return _yield_of(Counter(v.reason for v in verdicts))


def _yield_of(reasons: Counter) -> dict[str, Any]:
    kept = reasons.get("ok", 0)
    n = sum(reasons.values())
    return {
        "generated": n,
        "kept": kept,
        "yield": kept / n if n else 0.0,
        "by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }
