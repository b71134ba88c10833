"""build_dataset streams: its rows equal the old listing path's on a store written out of key
order; the card counts and names rows without a think block and truncated rows."""

from __future__ import annotations

import random

from reasoning_distill.data_recipes.dataset import build_dataset, dataset_row
from reasoning_distill.data_recipes.select import SelectPolicy, select_samples

from reasoning_distill.generation.store import Store
from reasoning_distill.records import Sample
from reasoning_distill.verification import VerdictRecord, VerdictStore, read_verdicts


def _sample(pid: str, i: int, *, think: bool = True, finish: str = "stop") -> Sample:
    reasoning = f"work {pid} {i} " * (i + 1)
    completion = f"<think>\n{reasoning}\n</think>\n\n\\boxed{{{i}}}" if think else f"{i}"
    return Sample(
        problem_id=pid, sample_index=i, seed=i, prompt="",
        messages=[{"role": "user", "content": f"Solve {pid}."}],
        completion=completion, reasoning=reasoning if think else None,
        answer=f"\\boxed{{{i}}}" if think else f"{i}", finish_reason=finish, prompt_tokens=5,
        completion_tokens=7 + 3 * i, engine="hf", model="tiny", sampling={"temperature": 0.6},
        kind="math", meta={"source": "s2" if pid.endswith("3") else "s1"},
    )  # fmt: skip


def _store(tmp_path, fmt="jsonl", samples=None):
    samples = samples or [_sample(f"p{j}", i) for j in range(12) for i in range(4)]
    random.Random(0).shuffle(samples)  # shard order is not key order
    gen = tmp_path / f"gen-{fmt}"
    for w, part in enumerate((samples[:20], samples[20:])):
        with Store.open(gen, {"model": "tiny"}, writer_id=str(w), format=fmt) as st:
            st.append(part[:7])
            st.append(part[7:])
    right = {s.key: (int(s.problem_id[1:]) * 7 + s.sample_index * 3) % 10 < 7 for s in samples}
    with VerdictStore.open(gen, {"test": 1}) as vs:
        vs.append(
            VerdictRecord(*s.key, "math", right[s.key], "ok" if right[s.key] else "wrong_answer",
                          verifier="math")
            for s in samples
        )  # fmt: skip
    return gen


def _old_rows(gen, policy):
    """What the build wrote before it streamed: every sample listed in key order."""
    samples = sorted(Store(gen).read(), key=lambda s: s.key)
    verdicts = read_verdicts(gen)
    sel = select_samples(samples, verdicts, policy)
    return [dataset_row(s, r, sel.pass_rate.get(s.problem_id), False) for s, r in sel.chosen]


def test_rows_and_order_equal_the_listing_path(tmp_path):
    from datasets import Dataset, load_from_disk

    for fmt in ("jsonl", "parquet"):
        gen = _store(tmp_path, fmt)
        for policy in (
            SelectPolicy(),
            SelectPolicy(keep="all", k=2, choose="shortest"),
            SelectPolicy(k=1, choose="random", seed=3, min_pass_rate=0.2, max_pass_rate=0.9),
        ):
            out = tmp_path / f"ds-{fmt}"
            result = build_dataset(gen, out, policy)
            want = _old_rows(gen, policy)
            ds = load_from_disk(str(out))
            assert result.rows == len(want) == len(ds) > 0
            assert ds.to_list() == want
            assert Dataset.from_parquet(str(next((out / "data").glob("*.parquet")))).to_list() == (
                want
            )
            assert ds.features == Dataset.from_list(want).features
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary


def test_card_counts_and_names_rows_without_think_and_truncated(tmp_path):
    from datasets import load_from_disk

    samples = [_sample(f"p{j}", i) for j in range(4) for i in range(2)]
    samples[1] = _sample("p0", 1, think=False)
    samples[2] = _sample("p1", 0, finish="length")
    gen = _store(tmp_path, samples=samples)
    out = tmp_path / "ds"
    result = build_dataset(gen, out, SelectPolicy(keep="all"))
    card = (out / "README.md").read_text()
    assert result.stats["rows_without_think"] == 1 and result.stats["rows_truncated"] == 1
    assert "except 1 rows without a think block" in card
    assert "**1 rows without a think block**" in card and "p0#1" in card
    assert "**1 rows truncated**" in card and "p1#0" in card
    ds = load_from_disk(str(out))
    by_key = {(r["problem_id"], r["sample_index"]): r for r in ds}
    assert by_key[("p1", 0)]["finish_reason"] == "length"
    assert by_key[("p0", 0)]["finish_reason"] == "stop"
    assert "<think>" not in by_key[("p0", 1)]["messages"][-1]["content"]


def test_a_clean_card_promises_the_think_format_alone(tmp_path):
    gen = _store(tmp_path, samples=[_sample("p0", i) for i in range(3)])
    build_dataset(gen, tmp_path / "ds", SelectPolicy(keep="all"))
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "Rows outside the format" not in card and "without a think block" not in card
