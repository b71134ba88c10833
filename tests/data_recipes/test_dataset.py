"""build_dataset: selection from a real store plus its verdicts, the messages layout, and a
dataset that TRL's plain SFTTrainer trains on unchanged."""

from __future__ import annotations

import pytest
from reasoning_distill.data_recipes.dataset import build_dataset
from reasoning_distill.data_recipes.select import SelectPolicy

from reasoning_distill.generation.store import Store
from reasoning_distill.records import Sample
from reasoning_distill.verification import VerdictRecord, VerdictStore

SYSTEM = {"role": "system", "content": "You are terse."}


def _sample(pid: str, i: int, tokens: int, source: str = "s1") -> Sample:
    return Sample(
        problem_id=pid, sample_index=i, seed=0, prompt="",
        messages=[SYSTEM, {"role": "user", "content": f"Solve {pid}."}],
        completion=f"<think>\nwork {i}\n</think>\n\n\\boxed{{{i}}}", reasoning=f"work {i}",
        answer=f"\\boxed{{{i}}}", finish_reason="stop", prompt_tokens=5,
        completion_tokens=tokens, engine="hf", model="tiny", sampling={"temperature": 0.6},
        kind="math", meta={"source": source},
    )  # fmt: skip


@pytest.fixture
def store(tmp_path):
    """p1: 3 of 4 right; p2: 4 of 4 right; p3: 0 of 4 right; p4: 1 of 4 right (source s2)."""
    right = {"p1": {0, 1, 3}, "p2": {0, 1, 2, 3}, "p3": set(), "p4": {2}}
    samples = [
        _sample(p, i, tokens=10 * (4 - i) + i, source="s2" if p == "p4" else "s1")
        for p in right
        for i in range(4)
    ]
    gen = tmp_path / "gen"
    with Store.open(gen, {"model": "tiny"}) as st:
        st.append(samples)
    with VerdictStore.open(gen, {"test": 1}) as vs:
        vs.append(
            VerdictRecord(s.problem_id, s.sample_index, "math", s.sample_index in right[s.problem_id],
                          "ok" if s.sample_index in right[s.problem_id] else "wrong_answer", verifier="math")
            for s in samples
        )  # fmt: skip
    return gen


def _keys(result):
    return [(s.problem_id, s.sample_index) for s, _ in result.selection.chosen]


def test_keep_verified_versus_all(store, tmp_path):
    from datasets import load_from_disk

    v = build_dataset(store, tmp_path / "v", SelectPolicy(keep="verified"))
    assert v.rows == 8 and v.selection.rejected == {"wrong_answer": 8}
    a = build_dataset(store, tmp_path / "a", SelectPolicy(keep="all"))
    assert a.rows == 16
    ds = load_from_disk(str(tmp_path / "v"))
    row = ds[0]
    assert row["messages"] == [
        SYSTEM,
        {"role": "user", "content": "Solve p1."},
        {"role": "assistant", "content": "<think>\nwork 0\n</think>\n\n\\boxed{0}"},
    ]
    assert (row["source"], row["verdict"], row["correct"], row["pass_rate"]) == (
        "s1",
        "ok",
        True,
        0.75,
    )
    card = (tmp_path / "v" / "README.md").read_text()
    assert "| s1 | 12 | 7 | 58.3% |" in card and "| s2 | 4 | 1 | 25.0% |" in card
    assert "| wrong_answer | 8 |" in card


def test_k_shortest_random_band_and_max_tokens(store, tmp_path):
    shortest = build_dataset(store, tmp_path / "s", SelectPolicy(k=1, choose="shortest"))
    assert _keys(shortest) == [("p1", 3), ("p2", 3), ("p4", 2)]
    r1 = build_dataset(store, tmp_path / "r1", SelectPolicy(k=2, choose="random", seed=7))
    r2 = build_dataset(store, tmp_path / "r2", SelectPolicy(k=2, choose="random", seed=7))
    assert _keys(r1) == _keys(r2) and len(_keys(r1)) == 5  # seeded: the same draw
    band = build_dataset(store, tmp_path / "b", SelectPolicy(min_pass_rate=0.1, max_pass_rate=0.9))
    assert {p for p, _ in _keys(band)} == {"p1", "p4"}  # always / never solved: dropped
    assert band.selection.problems_dropped["pass rate outside band"] == 2
    short = build_dataset(store, tmp_path / "t", SelectPolicy(max_tokens=25))
    assert all(s.completion_tokens <= 25 for s, _ in short.selection.chosen)
    assert short.selection.rejected["too_many_tokens"] > 0


def test_answer_only_drops_the_reasoning(store, tmp_path):
    from datasets import load_from_disk

    build_dataset(store, tmp_path / "ans", SelectPolicy(), answer_only=True)
    content = load_from_disk(str(tmp_path / "ans"))[0]["messages"][-1]["content"]
    assert content == "<think>\n\n</think>\n\n\\boxed{0}"


def test_verified_selection_without_verdicts_is_a_clear_error(tmp_path):
    from reasoning_distill.errors import InputError

    gen = tmp_path / "gen"
    with Store.open(gen, {"model": "tiny"}) as st:
        st.append([_sample("p1", 0, 3)])
    with pytest.raises(InputError, match="rdistill verify"):
        build_dataset(gen, tmp_path / "ds", SelectPolicy(keep="verified"))
    assert build_dataset(gen, tmp_path / "ds", SelectPolicy(keep="all")).rows == 1


@pytest.mark.slow
def test_the_dataset_trains_with_trls_plain_sft_trainer(store, tmp_path, tiny_teacher):
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    build_dataset(store, tmp_path / "ds", SelectPolicy())
    ds = load_from_disk(str(tmp_path / "ds"))  # as saved: metadata columns and all
    model = AutoModelForCausalLM.from_pretrained(str(tiny_teacher))
    tok = AutoTokenizer.from_pretrained(str(tiny_teacher))
    before = [p.detach().clone() for p in model.parameters()]
    args = SFTConfig(
        output_dir=str(tmp_path / "run"), max_steps=3, per_device_train_batch_size=2,
        learning_rate=1e-2, report_to=[], logging_steps=1, use_cpu=True, max_length=64,
        save_strategy="no",
    )  # fmt: skip
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    out = trainer.train()
    assert out.global_step == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
