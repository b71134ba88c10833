"""The served teacher against a real vLLM server on 127.0.0.1: the same top-k as the local
model computes, and the cache and the loss built from it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from reasoning_distill.training.teachers.served import (
    ServedTeacher,
    ServedTeacherError,
    parse_prompt_logprobs,
)
from tests.loopback import JSONHandler, closed_port, serving


def test_parse_prompt_logprobs_keeps_the_k_best_and_the_tail():
    entries = [
        None,
        {"5": {"logprob": -0.1}, "7": {"logprob": -3.0}, "9": {"logprob": -9.0}},
        {"1": {"logprob": -0.69}, "2": {"logprob": -0.69}},
        {"3": {"logprob": -0.01}, "4": {"logprob": -5.0}},
    ]
    topk = parse_prompt_logprobs(entries, 4, k=2)
    assert topk.ids.tolist() == [[5, 7], [2, 1], [3, 4]]
    assert np.isclose(np.exp(topk.tail[0]), 1 - np.exp(-0.1) - np.exp(-3.0), rtol=1e-5)
    assert np.isneginf(topk.tail[1])  # rounded values adding up past 1: no tail
    with pytest.raises(ServedTeacherError, match="--max-logprobs 3"):
        parse_prompt_logprobs(entries, 4, k=3)


def test_refuses_temperature_other_than_one():
    from reasoning_distill.errors import ConfigError

    with pytest.raises(ConfigError, match="temperature"):
        ServedTeacher("http://127.0.0.1:1/v1", "m", k=4, temperature=2.0)


class _Replies(JSONHandler):
    """A server on 127.0.0.1 that lists `teacher` and answers each completion with the next
    of `server.replies` (bodies that a vLLM server would never send)."""

    def do_GET(self):
        self.send_body({"data": [{"id": "teacher"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_body(self.server.replies.pop(0))


@contextlib.contextmanager
def replying(*replies):
    with serving(_Replies, "/v1", replies=list(replies)) as url:
        yield url


def test_an_unreachable_server_is_said_at_once():
    url = f"http://127.0.0.1:{closed_port()}/v1"  # released: nothing listens there
    start = time.monotonic()
    with pytest.raises(ServedTeacherError, match="cannot reach the served teacher"):
        ServedTeacher(url, "teacher", k=2).check_reachable()
    assert time.monotonic() - start < 5  # no retries with backoff


def test_a_model_the_server_does_not_serve_is_named():
    with replying() as url, pytest.raises(ServedTeacherError, match="not 'other'"):
        ServedTeacher(url, "other", k=2).check_reachable()
    with replying() as url:
        ServedTeacher(url, "teacher", k=2).check_reachable()


@pytest.mark.parametrize(
    "reply",
    [
        {"choices": [{"text": "!"}]},  # no prompt_logprobs (a server that is not vLLM's)
        {"choices": []},
        {"error": "x"},
        b"not json",
        {"choices": [{"prompt_logprobs": [None, {"5": 0.1}, {"6": {"p": 1}}]}]},
    ],
)
def test_a_malformed_reply_is_a_served_teacher_error(reply):
    from reasoning_distill.errors import UserError

    with replying(reply) as url, pytest.raises(ServedTeacherError) as e:
        ServedTeacher(url, "teacher", k=1, max_retries=0).score([[1, 2, 3]])
    assert isinstance(e.value, UserError)  # the CLI prints it as one line, exit 2
    assert "prompt_logprobs" in str(e.value)


@contextlib.contextmanager
def vllm_server(model_dir, log, max_logprobs: int):
    """`vllm serve` on the model as a process group we own, on 127.0.0.1 only."""
    import httpx

    port = closed_port()
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", "teacher", "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--max-model-len", "256", "--enforce-eager",
        "--max-logprobs", str(max_logprobs),
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    with open(log, "ab") as logf:
        proc = subprocess.Popen(
            cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm server exited; log:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"vllm server not ready; log:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.vllm
@pytest.mark.slow
def test_served_topk_matches_the_local_model_and_builds_a_cache(
    vllm_teacher_dir, train_rows, tmp_path
):
    sharp_teacher_dir = vllm_teacher_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoning_distill.training.losses import shift_labels, topk_distillation_loss
    from reasoning_distill.training.teachers.cache import (
        TopKCache,
        build_topk_cache,
        tokenize_messages,
    )
    from reasoning_distill.training.teachers.local import HFTeacher, stack_topk

    tok = AutoTokenizer.from_pretrained(sharp_teacher_dir)
    model = AutoModelForCausalLM.from_pretrained(sharp_teacher_dir).eval()
    k = 8
    rows = train_rows[:4]
    seqs = [tokenize_messages(tok, r["messages"], None)[0] for r in rows]
    local = HFTeacher(model, k=k).score(seqs)
    with vllm_server(sharp_teacher_dir, tmp_path / "vllm.log", max_logprobs=k) as url:
        served_teacher = ServedTeacher(url, "teacher", k=k, concurrency=2)
        served = served_teacher.score(seqs)
        summary = build_topk_cache(served_teacher, tok, rows, tmp_path / "cache", url)
        with pytest.raises(ServedTeacherError, match="answered 400"):
            ServedTeacher(url, "teacher", k=k + 4).score(seqs[:1])
    assert summary.sequences == 4
    agree = 0
    for a, b in zip(local, served, strict=True):
        assert a.ids.shape == b.ids.shape
        # same top-1 token, and each served log-prob equals the local one for that token
        agree += int((a.ids[:, 0] == b.ids[:, 0]).sum())
        for t in range(len(a)):
            common = set(a.ids[t]) & set(b.ids[t])
            assert len(common) >= k - 1  # near-ties at the k-th rank may swap
            la = dict(zip(a.ids[t].tolist(), a.logprobs[t].tolist(), strict=True))
            lb = dict(zip(b.ids[t].tolist(), b.logprobs[t].tolist(), strict=True))
            for tok_id in common:
                assert lb[tok_id] == pytest.approx(la[tok_id], abs=2e-3)
        np.testing.assert_allclose(np.exp(b.tail), np.exp(a.tail), atol=2e-3)
    assert agree >= 0.98 * sum(len(a) for a in local)
    # the cache built through the server trains the student like the local teacher's top-k
    cache = TopKCache.open(tmp_path / "cache")
    ids, pos = tokenize_messages(tok, rows[0]["messages"], None)
    topk, covered = cache.lookup(ids)
    assert covered[pos].all()
    labels = torch.full((1, len(ids)), -100)
    labels[0, [p + 1 for p in pos]] = torch.tensor([ids[p + 1] for p in pos])
    student_logits = torch.randn(1, len(ids), model.config.vocab_size)
    got = topk_distillation_loss(
        student_logits, *(torch.from_numpy(x) for x in stack_topk([topk], len(ids), k)),
        shift_labels(labels),
    )  # fmt: skip
    ref = topk_distillation_loss(
        student_logits, *(torch.from_numpy(x) for x in stack_topk([local[0]], len(ids), k)),
        shift_labels(labels),
    )  # fmt: skip
    assert got.item() == pytest.approx(ref.item(), rel=2e-2)
