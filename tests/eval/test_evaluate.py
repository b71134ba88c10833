"""evaluate_model on a real tiny model: manifest, content-keyed cache, resume, re-scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reasoning_distill.eval import evaluate as ev
from reasoning_distill.eval.benchmarks import load_benchmark
from reasoning_distill.eval.evaluate import EvalProtocol, evaluate_model

from reasoning_distill.generation.engine import SamplingParams


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from reasoning_distill.toy.models import make_tiny_model

    return make_tiny_model(
        tmp_path_factory.mktemp("m") / "tiny", ["The answer is \\boxed{4}. <think></think>"] * 20
    )


@pytest.fixture(scope="module")
def engine(tiny):
    from reasoning_distill.generation.hf_engine import HFEngine

    e = HFEngine(str(tiny), batch_size=16)
    yield e
    e.close()


class Counting:
    """A real engine that counts the samples it is asked for and can stop after some calls."""

    def __init__(self, inner, fail_after: int | None = None):
        self.inner, self.fail_after = inner, fail_after
        self.name, self.model, self.tokenizer = inner.name, inner.model, inner.tokenizer
        self.calls = self.samples = 0

    def generate(self, requests, params, progress=None):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.samples += sum(len(r.indices(params.n)) for r in requests)
        return self.inner.generate(requests, params)

    def close(self) -> None:
        pass


PROTOCOL = EvalProtocol(SamplingParams(n=2, max_tokens=6, seed=3), max_tokens=6)


def _benchmarks(limit: int = 20) -> dict:
    return {"toy_math": load_benchmark("toy_math", limit=limit)}


def test_results_envelope_and_manifest(engine, tiny, tmp_path):
    plain = evaluate_model(engine, _benchmarks(4), PROTOCOL, tmp_path / "m", name="m")
    assert len(plain["toy_math"]) == 4 and all(len(v) == 2 for v in plain["toy_math"].values())
    env = json.loads((tmp_path / "m" / "results.json").read_text())
    assert env["format"] == "rdistill-eval-results" and env["model"]["name"] == "m"
    m = env["manifest"]
    assert m["model"]["kind"] == "local" and len(m["model"]["sha256"]) == 64
    assert m["engine"]["name"] == "hf" and m["engine"]["version"].startswith("transformers ")
    # The engine's own defaults are recorded, not only the options given.
    assert (
        m["engine"]["options"]["dtype"] == "float32" and m["engine"]["options"]["device"] == "cpu"
    )
    assert m["engine"]["options"]["batch_size"] == 16  # as built, not the constructor default
    assert m["sampling"] == {
        "n": 2, "temperature": 0.6, "top_p": 0.95, "top_k": -1, "min_p": 0.0, "stop": [],
        "seed": 3,
    }  # fmt: skip
    assert m["chat_template"]["text"] and len(m["chat_template"]["sha256"]) == 64
    assert m["verifier"]["version"] and m["verifier"]["math_verify"]
    assert {"torch", "transformers", "math-verify", "reasoning-distill"} <= set(m["software"])
    b = m["benchmarks"]["toy_math"]
    assert b["id"] == "toy_math" and b["version"].startswith("toy-") and b["n_problems"] == 4
    assert b["max_tokens"] == 6 and b["prompt_template"]["text"] == "{problem}"
    assert len(b["data_sha256"]) == 64
    metrics = env["benchmarks"]["toy_math"]["metrics"]
    assert {"pass@1", "pass@2", "maj@1", "maj@2", "length"} <= set(metrics)
    assert metrics["pass@1"]["ci_method"] in ("clt", "wilson_eff")
    row = env["benchmarks"]["toy_math"]["problems"][0]
    assert set(row) == {
        "id",
        "correct",
        "reasons",
        "format_decided",
        "answers",
        "tokens",
        "finish",
        "meta",
    }
    # Every sample says whether the format check decided it, and the metrics count them.
    assert len(row["format_decided"]) == len(row["correct"])
    decided = metrics["format_decided"]
    assert decided["of"] == 4 * len(row["correct"])
    assert decided["count"] == sum(decided["by_reason"].values())


def test_interrupted_eval_resumes_without_regenerating(engine, tmp_path):
    first = Counting(engine, fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(first, _benchmarks(), PROTOCOL, tmp_path / "m")
    assert first.samples == 32  # one chunk of 16 prompts x 2 samples was finished and kept
    assert not (tmp_path / "m" / "results.json").exists()
    second = Counting(engine)
    evaluate_model(second, _benchmarks(), PROTOCOL, tmp_path / "m")
    assert second.samples == 40 - 32
    third = Counting(engine)
    evaluate_model(third, _benchmarks(), PROTOCOL, tmp_path / "m")
    assert third.calls == 0


def test_changed_scorer_regenerates_nothing(engine, tmp_path, monkeypatch):
    evaluate_model(Counting(engine), _benchmarks(6), PROTOCOL, tmp_path / "m")
    before = json.loads((tmp_path / "m" / "results.json").read_text())
    old = before["manifest"]["verifier"]["version"]
    monkeypatch.setattr(ev, "SCORING_VERSION", ev.SCORING_VERSION + 1)
    again = Counting(engine)
    evaluate_model(again, _benchmarks(6), PROTOCOL, tmp_path / "m")
    after = json.loads((tmp_path / "m" / "results.json").read_text())
    assert again.calls == 0
    new = after["manifest"]["verifier"]["version"]
    assert new != old
    caches = {p.stem: p for p in (tmp_path / "m" / "generations").glob("*/verdicts-*.jsonl")}
    assert set(caches) == {f"verdicts-{old}", f"verdicts-{new}"}
    rows = [json.loads(line) for line in caches[f"verdicts-{new}"].read_text().splitlines()]
    assert len(rows) == 12  # every sample re-scored once, in the shared verdict record format
    assert {"problem_id", "sample_index", "kind", "correct", "reason", "verifier"} <= set(rows[0])
    # A larger --limit generates only the new problems' samples.
    more = Counting(engine)
    evaluate_model(more, _benchmarks(8), PROTOCOL, tmp_path / "m")
    assert more.samples == 4


def test_other_sampling_does_not_reuse_samples(engine, tmp_path):
    evaluate_model(Counting(engine), _benchmarks(2), PROTOCOL, tmp_path / "m")
    other = Counting(engine)
    evaluate_model(
        other,
        _benchmarks(2),
        EvalProtocol(SamplingParams(n=2, max_tokens=6, seed=4), max_tokens=6),
        tmp_path / "m",
    )
    assert other.samples == 4


def test_a_moved_model_folder_is_evaluated_not_refused(engine, tiny, tmp_path):
    import shutil

    from reasoning_distill.generation.hf_engine import HFEngine

    evaluate_model(Counting(engine), _benchmarks(2), PROTOCOL, tmp_path / "m")
    moved = shutil.copytree(tiny, tmp_path / "moved")
    other = HFEngine(str(moved), batch_size=16)
    try:
        evaluate_model(Counting(other), _benchmarks(2), PROTOCOL, tmp_path / "m")
    finally:
        other.close()
    env = json.loads((tmp_path / "m" / "results.json").read_text())
    assert env["model"]["path"] == str(moved)


def _answers_store(folder: Path, answers: dict[str, list[str]], gold: dict[str, str]) -> None:
    from reasoning_distill.generation.store import Store
    from reasoning_distill.records import Sample

    with Store.open(folder, {"model": "fixed"}) as store:
        store.append(
            Sample(problem_id=key, sample_index=i, seed=i, prompt=key,
                   messages=[{"role": "user", "content": key}],
                   completion=f"<think>\nwork\n</think>\n\\boxed{{{a}}}", reasoning="work",
                   answer=f"\\boxed{{{a}}}", finish_reason="stop", prompt_tokens=3,
                   completion_tokens=10 + i, engine="none", model="fixed", sampling={},
                   kind="math", gold=gold[key])
            for key, row in answers.items() for i, a in enumerate(row)
        )  # fmt: skip


def test_a_corrected_gold_is_verified_again_and_its_verdicts_not_stored(tmp_path):
    """Scoring from a store (eval's own path): a sample made for one gold and scored against
    a corrected one is verified against the new gold and that verdict is returned, not
    stored; two problems with one prompt share its samples; a missing sample is named."""
    from reasoning_distill.records import Problem

    folder = tmp_path / "gen"
    _answers_store(folder, {"k1": ["4", "5"], "k2": ["7", "7"]}, {"k1": "4", "k2": "7"})
    protocol = EvalProtocol(SamplingParams(n=2))

    def score(golds: dict[str, str], keys=("k1", "k2")) -> list[dict]:
        problems = [Problem(pid, "", g, "math", "adhoc") for pid, g in golds.items()]
        run = ev.BenchmarkRun("adhoc", problems, 100)
        rows = ev.stored_rows(run, folder, list(keys), 2)
        verdicts = ev.verify_rows(run, folder, rows, ev.verifier_config(),
                                  protocol.verify_options, 1, None, None)  # fmt: skip
        return ev.scored_records(run, rows, verdicts)

    def stored() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in folder.glob("verdicts-*.jsonl")}

    first = score({"a": "4", "b": "7"})
    assert [r["correct"] for r in first] == [[True, False], [True, True]]
    assert [r["tokens"] for r in first] == [[10, 11], [10, 11]]
    assert [r["answers"] for r in first] == [["4", "5"], ["7", "7"]]
    written = json.loads(json.dumps(first, default=ev.json_default))  # as results.json has it
    assert written == [dict(r) for r in first]
    assert list(written[0]) == ["id", "correct", "reasons", "format_decided", "answers",
                                "tokens", "finish", "meta"]  # fmt: skip
    assert written[0]["finish"] == ["stop", "stop"] and written[0]["meta"] == {}
    kept = stored()
    assert [v.count(b"\n") for v in kept.values()] == [4]
    assert [r["correct"] for r in score({"a": "5", "b": "7"})] == [[False, True], [True, True]]
    assert stored() == kept  # the corrected gold's verdicts are not stored
    assert score({"a": "4", "b": "7"}) == first
    # two problems under one prompt key share its samples and verdicts (the first problem's
    # gold judges them, as verify_rows documents)
    both = score({"a": "4", "a2": "5"}, keys=("k1", "k1"))
    assert [r["correct"] for r in both] == [[True, False], [True, False]]
    assert [r["id"] for r in both] == ["a", "a2"]
    with pytest.raises(ev.IncompleteEvaluation, match="has 0 of 2 samples"):
        score({"a": "4", "c": "1"}, keys=("k1", "k3"))
