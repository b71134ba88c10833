"""The offline vLLM teacher (real vllm-cpu): a cache built through `teacher_cache.main
--teacher_engine vllm` holds the transformers teacher's top-k, resumes without starting an
engine (with either engine), and bad settings are refused before any model loads.

One vLLM engine for the module (the first build); starting one takes about 20 s on 2 cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os

import numpy as np
import pytest

from reasoning_distill.errors import ConfigError, InputError

K = 8
# Largest |vLLM - transformers| log-prob measured on this model in float32: 2.9e-6 nats (520
# positions, k = 8, vLLM's CPU kernels against transformers' eager attention). The bound
# leaves 30x for other CPUs' summation orders, and is still far below anything a loss sees
# (the 8-bit codec's step is 0.1 nats).
TOL = 1e-4


def _argv(vllm_teacher_dir, data, out, *extra: str) -> list[str]:
    return [
        "--teacher", str(vllm_teacher_dir), "--dataset_name", str(data), "--output_dir", str(out),
        "--top_k", str(K), "--bits", "32", *extra,
    ]  # fmt: skip


VLLM_OPTS = ("--teacher_engine", "vllm", "--dtype", "float32", "--max_model_len", "256",
             "--enforce_eager")  # fmt: skip


def _run(argv: list[str]) -> dict:
    from reasoning_distill.training.scripts.cache import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return json.loads(buf.getvalue().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def vllm_cache(vllm_teacher_dir, train_rows, tmp_path_factory):
    """(folder, rows, data file, first run's summary): the module's one vLLM engine."""
    pytest.importorskip("vllm")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    rows = train_rows[:6]
    base = tmp_path_factory.mktemp("vllm_cache")
    data = base / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = base / "cache"
    with _engine_starts() as starts:
        first = _run(_argv(vllm_teacher_dir, data, out, *VLLM_OPTS))
    assert len(starts) == 1  # the log line the resume test looks for
    return out, rows, data, first


@contextlib.contextmanager
def _engine_starts():
    """The vLLM teacher's "starting vLLM" log records while the block runs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda r: records.append(r) if "starting vLLM" in r.getMessage() else None
    log = logging.getLogger("reasoning_distill.training.teachers.vllm_offline")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_cache_holds_the_transformers_topk(vllm_cache, vllm_teacher_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoning_distill.training.teachers.cache import TopKCache, tokenize_messages
    from reasoning_distill.training.teachers.local import HFTeacher

    folder, rows, _, first = vllm_cache
    assert first["sequences"] == len(rows) and first["skipped"] == 0
    tok = AutoTokenizer.from_pretrained(vllm_teacher_dir)
    model = AutoModelForCausalLM.from_pretrained(vllm_teacher_dir, attn_implementation="eager")
    cache = TopKCache.open(folder)
    assert cache.identity["teacher"] == str(vllm_teacher_dir) and cache.identity["k"] == K
    seqs = [tokenize_messages(tok, r["messages"], None) for r in rows]
    # k + 1 from transformers: the (k + 1)-th log-prob tells a near-tie at the k-th rank
    local = HFTeacher(model, k=K + 1).score([s for s, _ in seqs])
    rows_seen = exact = 0
    for (ids, pos), ref in zip(seqs, local, strict=True):
        topk, covered = cache.lookup(ids)
        assert covered[pos].all() and covered.sum() == len(pos)
        for t in pos:
            rows_seen += 1
            got = dict(zip(topk.ids[t].tolist(), topk.logprobs[t].tolist(), strict=True))
            want = dict(zip(ref.ids[t, :K].tolist(), ref.logprobs[t, :K].tolist(), strict=True))
            tied = ref.logprobs[t, K - 1] - ref.logprobs[t, K] < TOL
            if not tied:
                assert set(got) == set(want), f"position {t}"
                exact += 1
            for tok_id in set(got) & set(want):
                assert got[tok_id] == pytest.approx(want[tok_id], abs=TOL)
            # the tail of the k best (transformers' k + 1 columns hold one token more)
            want_tail = np.log1p(-np.exp(ref.logprobs[t, :K].astype(np.float64)).sum())
            assert np.exp(topk.tail[t]) == pytest.approx(np.exp(want_tail), abs=TOL)
    assert rows_seen > 200 and exact >= 0.95 * rows_seen  # ties are rare: the check is real


@pytest.mark.vllm
@pytest.mark.slow
def test_second_run_skips_everything_and_starts_no_engine(vllm_cache, vllm_teacher_dir):
    folder, rows, data, _ = vllm_cache
    shards = sorted(p.name for p in folder.iterdir())
    with _engine_starts() as starts:
        again = _run(_argv(vllm_teacher_dir, data, folder, *VLLM_OPTS))
    assert again["sequences"] == 0 and again["skipped"] == len(rows)
    assert starts == []  # a finished cache starts no engine
    assert sorted(p.name for p in folder.iterdir()) == shards
    # The engine is not part of the identity: the transformers teacher resumes it too.
    hf = _run(_argv(vllm_teacher_dir, data, folder))
    assert hf["sequences"] == 0 and hf["skipped"] == len(rows)


def test_settings_the_vllm_teacher_refuses_before_loading(vllm_teacher_dir, tmp_path):
    from reasoning_distill.training.teachers.vllm_offline import VLLMTeacher

    with pytest.raises(ConfigError, match="max_logprobs = 8"):
        VLLMTeacher(vllm_teacher_dir, k=16, max_logprobs=8)  # k above the engine's max
    with pytest.raises(ConfigError, match="temperature must be 1.0"):
        VLLMTeacher(vllm_teacher_dir, k=4, temperature=2.0)
    with pytest.raises(ConfigError, match="k must be >= 1"):
        VLLMTeacher(vllm_teacher_dir, k=0)
    with pytest.raises(ConfigError, match="gpu_memory_utilization must be in"):
        VLLMTeacher(vllm_teacher_dir, k=4, gpu_memory_utilization=1.5)
    with pytest.raises(ConfigError, match="returns logits"):
        VLLMTeacher(vllm_teacher_dir, k=4, logprobs_mode="raw_logits")
    teacher = VLLMTeacher(vllm_teacher_dir, k=16, max_logprobs=-1)  # -1: up to the vocabulary
    assert teacher.llm_kwargs["max_logprobs"] == -1 and teacher._llm is None  # nothing started


def test_command_line_refusals(vllm_teacher_dir, tmp_path):
    from reasoning_distill.training.scripts.cache import main

    data = tmp_path / "train.jsonl"
    data.write_text("")
    base = ["--dataset_name", str(data), "--output_dir", str(tmp_path / "c")]
    with pytest.raises(ConfigError, match="is an option of the vLLM teacher"):
        main(["--teacher", str(vllm_teacher_dir), "--max_model_len", "64", *base])
    with pytest.raises(ConfigError, match="already vLLM"):
        main(["--teacher_url", "http://127.0.0.1:1/v1", "--teacher_name", "t",
              "--tokenizer", str(vllm_teacher_dir), "--teacher_engine", "vllm", *base])  # fmt: skip
    with pytest.raises(InputError, match="config.json missing"):
        main(["--teacher", str(tmp_path / "none"), "--teacher_engine", "vllm", *base])
    assert not (tmp_path / "c").exists()


@pytest.mark.vllm
def test_command_line_refuses_a_temperature_vllm_cannot_apply(vllm_teacher_dir, tmp_path):
    from reasoning_distill.training.scripts.cache import main

    data = tmp_path / "train.jsonl"
    data.write_text("")
    with pytest.raises(ConfigError, match="temperature"):
        main(["--teacher", str(vllm_teacher_dir), "--teacher_engine", "vllm", "--temperature", "2",
              "--dataset_name", str(data), "--output_dir", str(tmp_path / "c")])  # fmt: skip
    assert not (tmp_path / "c").exists()


@pytest.mark.vllm
def test_both_forms_of_vllm_prompt_logprobs_read_the_same():
    """vLLM's flat form lists the prompt's own token a second time when it is in the top-k;
    the list form is one dict per position. Both give the k best, once each."""
    from vllm.logprobs import FlatLogprobs, Logprob

    from reasoning_distill.training.teachers.served import topk_from_entries
    from reasoning_distill.training.teachers.vllm_offline import _entry_pairs

    flat = FlatLogprobs(
        start_indices=[0, 0, 3],
        end_indices=[0, 3, 6],
        token_ids=[5, 7, 5, 2, 9, 4],  # position 1: prompt token 5 again; 2: token 4 below
        logprobs=[-0.1, -3.0, -0.1, -0.5, -1.5, -6.0],
        ranks=[1, 2, 1, 1, 2, 9],
        decoded_tokens=[None] * 6,
    )
    listed = [None, {5: Logprob(-0.1, 1), 7: Logprob(-3.0, 2)},
              {2: Logprob(-0.5, 1), 9: Logprob(-1.5, 2), 4: Logprob(-6.0, 9)}]  # fmt: skip
    for form in (flat, listed):
        topk = topk_from_entries(_entry_pairs(form), 3, k=2)
        assert topk.ids.tolist() == [[5, 7], [2, 9]]
        assert np.allclose(np.exp(topk.tail), [1 - np.exp(-0.1) - np.exp(-3.0),
                                               1 - np.exp(-0.5) - np.exp(-1.5)], atol=1e-6)  # fmt: skip


@pytest.mark.vllm
def test_lengths_and_engine_settings_vllm_refuses_fail_clearly(vllm_teacher_dir):
    """Both before any engine process starts: a sequence longer than the max_model_len asked
    for, and a max_model_len above the model's context (vLLM's own check, as a ConfigError)."""
    from reasoning_distill.training.teachers.vllm_offline import VLLMTeacher

    short = VLLMTeacher(vllm_teacher_dir, k=4, dtype="float32", max_model_len=16)
    with pytest.raises(InputError, match="a sequence of 16 tokens .* max_model_len 16"):
        short.score([list(range(8)), list(range(16))])
    assert short._llm is None and short.score([]) == []
    with pytest.raises(ConfigError, match="vLLM refused the teacher .*max_model_len"):
        VLLMTeacher(vllm_teacher_dir, k=4, dtype="float32", max_model_len=100_000).score(
            [[1, 2, 3]]
        )


@pytest.mark.vllm
@pytest.mark.slow
def test_k_above_the_vocabulary_is_every_token_and_no_tail(vllm_teacher_dir, train_rows):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoning_distill.training.teachers.cache import tokenize_messages
    from reasoning_distill.training.teachers.local import HFTeacher
    from reasoning_distill.training.teachers.vllm_offline import VLLMTeacher

    tok = AutoTokenizer.from_pretrained(vllm_teacher_dir)
    model = AutoModelForCausalLM.from_pretrained(vllm_teacher_dir, attn_implementation="eager")
    vocab = model.config.vocab_size
    ids, _ = tokenize_messages(tok, train_rows[0]["messages"], None)
    teacher = VLLMTeacher(
        vllm_teacher_dir, k=vocab + 50, max_logprobs=-1, dtype="float32", max_model_len=256,
        enforce_eager=True,
    )  # fmt: skip
    try:
        (got,) = teacher.score([ids])
    finally:
        teacher.close()
    (want,) = HFTeacher(model, k=vocab + 50).score([ids])
    assert got.ids.shape == want.ids.shape == (len(ids) - 1, vocab)
    assert np.isneginf(got.tail).all()  # every token is listed: no mass is left outside
    for t in range(len(got)):
        order = np.argsort(got.ids[t])
        ref = np.argsort(want.ids[t])
        assert (got.ids[t][order] == want.ids[t][ref]).all()
        np.testing.assert_allclose(got.logprobs[t][order], want.logprobs[t][ref], atol=TOL)
