"""The generation job on the real transformers engine and the tiny model."""

from __future__ import annotations

import json
import math

import pytest

from reasoning_distill.generation.engine import Completion, GenerationResult, SamplingParams
from reasoning_distill.generation.job import run_generation
from reasoning_distill.generation.samples import results_to_samples
from reasoning_distill.generation.spec import JobSpec, problems_hash
from reasoning_distill.generation.store import ManifestMismatchError, Store, load_samples
from reasoning_distill.generation.summary import summarize_lengths
from reasoning_distill.records import Problem

PARAMS = SamplingParams(n=2, max_tokens=12, seed=3)
SPEC = JobSpec("hf", "tiny", PARAMS)


def problems(k: int = 5) -> list[Problem]:
    return [Problem(id=f"p{i}", prompt=f"What is {i} * 3?", gold=str(3 * i)) for i in range(k)]


def test_job_writes_every_sample_with_its_record(hf_engine, tmp_path):
    summary = run_generation(problems(), hf_engine, PARAMS, tmp_path, chunk_size=2)
    samples = load_samples(tmp_path)
    assert sorted(s.key for s in samples) == [(f"p{i}", k) for i in range(5) for k in range(2)]
    assert summary.expected == summary.samples == summary.generated_now == 10
    assert summary.already_done == 0
    s = samples[0]
    assert s.prompt.endswith("<|im_start|>assistant\n") and "What is" in s.prompt
    assert s.messages == [
        {"role": "user", "content": s.prompt.split("\n")[1].removesuffix("<|im_end|>")}
    ]
    assert s.engine == "hf" and s.model == str(hf_engine.model)
    assert s.sampling == PARAMS.to_dict() and s.gold is not None and s.kind == "math"
    assert s.finish_reason in ("stop", "length") and 1 <= s.completion_tokens <= 12
    assert s.prompt_tokens > 5 and s.elapsed_s >= 0
    # The summary agrees with the records on disk.
    lengths = [x.completion_tokens for x in samples]
    trunc = sum(x.finish_reason == "length" for x in samples)
    assert summary.truncated == trunc
    assert summary.truncated_share == pytest.approx(trunc / 10)
    assert summary.mean_completion_tokens == pytest.approx(sum(lengths) / 10)
    assert summary.completion_tokens_now == sum(lengths)
    manifest = Store(tmp_path).manifest()
    assert manifest["identity"]["input_hash"] == problems_hash(problems())
    assert manifest["identity"]["sampling"]["temperature"] == 0.6


def test_resume_generates_only_the_missing_samples(hf_engine, tmp_path):
    run_generation(problems(), hf_engine, PARAMS, tmp_path, chunk_size=5)
    shard = Store(tmp_path).shards()[0]
    lines = shard.read_bytes().split(b"\n")[:-1]
    kept, dropped = lines[:6], lines[6:]
    # A job that died after six samples: drop the rest from disk.
    shard.write_bytes(b"".join(line + b"\n" for line in kept))
    summary = run_generation(problems(), hf_engine, PARAMS, tmp_path, chunk_size=5)
    assert summary.generated_now == len(dropped) == 4 and summary.already_done == 6
    samples = load_samples(tmp_path)
    assert len(samples) == 10 and len({s.key for s in samples}) == 10
    rows = [json.loads(line) for line in kept]
    # Each row is the sample plus what made it (the store's provenance stamp).
    made_by = json.loads((tmp_path / "manifest.json").read_text())["provenance"]
    assert {r.pop("made_by") for r in rows} == {made_by}
    assert rows == [s.to_dict() for s in samples[:6]]
    # A third run has nothing left to do.
    again = run_generation(problems(), hf_engine, PARAMS, tmp_path)
    assert again.generated_now == 0 and again.samples == 10


def test_changed_parameters_are_refused_and_nothing_is_touched(hf_engine, tmp_path):
    run_generation(problems(2), hf_engine, PARAMS, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = SamplingParams(n=2, max_tokens=12, seed=3, temperature=0.9)
    with pytest.raises(
        ManifestMismatchError, match=r"sampling.temperature: 0.6 in the folder, 0.9 now"
    ):
        run_generation(problems(2), hf_engine, other, tmp_path)
    with pytest.raises(ManifestMismatchError, match="input_hash"):
        run_generation(problems(3), hf_engine, PARAMS, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_duplicate_problem_ids_are_refused(hf_engine, tmp_path):
    ps = problems(2) + [Problem(id="p1", prompt="again", gold=None)]
    with pytest.raises(ValueError, match="duplicated: 'p1'"):
        run_generation(ps, hf_engine, PARAMS, tmp_path)
    assert not (tmp_path / "manifest.json").exists()


def test_template_that_opens_think_in_the_prompt(tiny_model_think_open_dir, tmp_path):
    from reasoning_distill.generation.hf_engine import HFEngine

    with HFEngine(tiny_model_think_open_dir, batch_size=8) as engine:
        run_generation(problems(2), engine, PARAMS, tmp_path)
    for s in load_samples(tmp_path):
        assert s.prompt.endswith("<think>\n")
        # The completion starts inside the think block: all of it is reasoning until </think>.
        assert s.reasoning is not None
        if "</think>" not in s.completion:
            assert s.answer == "" and not s.think_closed


def _result(text: str, **kw) -> GenerationResult:
    return GenerationResult(
        "p0", "prompt", 4, [Completion(0, text, "stop", 7, **kw)], elapsed_s=2.0
    )


@pytest.mark.parametrize(
    ("text", "reasoning_content", "reasoning", "answer", "closed"),
    [
        (
            "<think>\nadd them</think>\n\nThe answer is 5.",
            None,
            "add them",
            "The answer is 5.",
            True,
        ),
        ("<think>still thinking", None, "still thinking", "", False),
        ("No think block, 5.", None, None, "No think block, 5.", False),
        ("The answer is 5.", "add them", "add them", "The answer is 5.", True),
    ],
)
def test_results_to_samples_parses_reasoning(text, reasoning_content, reasoning, answer, closed):
    res = _result(text, reasoning_content=reasoning_content)
    [s] = results_to_samples([res], {"p0": problems(1)[0]}, SPEC)
    assert (s.reasoning, s.answer, s.think_closed) == (reasoning, answer, closed)
    assert s.elapsed_s == pytest.approx(2.0)
    if reasoning_content is not None:
        assert (
            s.completion.startswith("<think>\nadd them\n</think>") and s.meta["reasoning_content"]
        )


def test_summarize_lengths_p95_is_nearest_rank():
    stats = summarize_lengths(list(range(1, 101)), truncated=5)
    assert stats["p95_completion_tokens"] == 95
    assert stats["truncated_share"] == 0.05 and math.isclose(stats["mean_completion_tokens"], 50.5)
    assert summarize_lengths([], 0)["p95_completion_tokens"] == 0.0


def test_template_without_generation_prompt_is_refused_before_the_weights_load(tmp_path):
    from reasoning_distill.generation.hf_engine import HFEngine
    from tests.generation import tiny_model

    model = tiny_model.build(tmp_path / "nogen", template=tiny_model.CHATML_NO_GEN)
    # The weights are unreadable: the template alone must be enough to refuse.
    (model / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="adds no generation prompt"):
        HFEngine(model)


def test_the_inputs_other_columns_travel_with_each_sample():
    p = Problem(id="p0", prompt="What is 2 + 3?", gold="5", source="gsm8k", meta={"level": 3})
    [s] = results_to_samples([_result("5")], {"p0": p}, SPEC)
    assert s.meta["source"] == "gsm8k" and s.meta["problem"] == {"level": 3}
    assert (s.engine, s.model) == ("hf", "tiny")
    [bare] = results_to_samples([_result("5")], {"p0": problems(1)[0]}, SPEC)
    assert "problem" not in bare.meta
