"""The HTTP engine against a real `vllm serve` on the tiny model: resume, retries, a crash."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from reasoning_distill.generation.engine import (
    GenerationRequest,
    PartialResultsError,
    SamplingParams,
)
from reasoning_distill.generation.job import run_generation
from reasoning_distill.generation.openai_engine import OpenAIEngine
from reasoning_distill.generation.store import Store, load_samples
from reasoning_distill.records import Problem
from tests.generation.servers import FlakyProxy, VLLMServer, free_port

PARAMS = SamplingParams(n=2, max_tokens=16, seed=5)


def wait_until(condition, timeout: float = 120) -> bool:
    """Wait for `condition()` to hold (polled), at most `timeout` seconds; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_quiet(proxy, still: float = 2.0, timeout: float = 120) -> bool:
    """Wait until `proxy` forwards nothing and counts no new request for `still` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = proxy.seen, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if proxy.seen != seen or proxy.inflight:
            seen, since = proxy.seen, time.monotonic()
        elif time.monotonic() - since >= still:
            return True
    return False


def problems(k: int) -> list[Problem]:
    return [Problem(id=f"h{i}", prompt=f"What is {i} - 1?", gold=str(i - 1)) for i in range(k)]


def test_unreachable_server_fails_fast_with_a_clear_message():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(
        ConnectionError, match=rf"cannot reach the OpenAI-compatible server at {url}"
    ):
        OpenAIEngine("m", base_url=url)


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("vllm")
    # The deepseek_r1 parser moves everything before </think> into `reasoning_content`.
    srv = VLLMServer(
        tiny_model_dir,
        tmp_path_factory.mktemp("vllm") / "server.log",
        ("--reasoning-parser", "deepseek_r1"),
    )
    srv.start()
    yield srv
    srv.kill()


@pytest.mark.vllm
@pytest.mark.slow
def test_job_over_http_with_reasoning_content_seeds_and_logprobs(server, tiny_model_dir, tmp_path):
    engine = OpenAIEngine(str(tiny_model_dir), base_url=server.base_url, concurrency=4)
    summary = run_generation(problems(3), engine, PARAMS, tmp_path / "a", chunk_size=2)
    assert summary.samples == 6 and engine.retries_done == 0
    samples = load_samples(tmp_path / "a")
    for s in samples:
        assert s.engine == "openai" and s.prompt_tokens > 0 and 1 <= s.completion_tokens <= 16
        # The server split the reasoning out; the record keeps both parts and a re-parseable text.
        assert s.meta["reasoning_content"] and s.reasoning is not None
        assert s.completion.startswith("<think>\n")
    # A sample's seed fixes it: asking again for one sample gives the same text.
    s0 = samples[0]
    req = GenerationRequest(s0.problem_id, messages=s0.messages, sample_indices=[s0.sample_index])
    [again] = engine.generate([req], PARAMS)
    assert again.completions[0].reasoning_content.strip() == s0.reasoning
    lp = SamplingParams(n=1, max_tokens=4, seed=5, logprobs=2)
    [res] = engine.generate([GenerationRequest("x", messages=s0.messages)], lp)
    assert len(res.completions[0].logprobs) == res.completions[0].completion_tokens
    assert all(
        1 <= len(d) <= 3 and all(v <= 0 for v in d.values()) for d in res.completions[0].logprobs
    )


@pytest.mark.vllm
@pytest.mark.slow
def test_errors_that_retrying_cannot_fix_fail_at_once(server):
    engine = OpenAIEngine("no-such-model", base_url=server.base_url, max_retries=5)
    with pytest.raises(PartialResultsError, match="HTTP 404") as e:
        engine.generate(
            [GenerationRequest("x", messages=[{"role": "user", "content": "hi"}])], PARAMS
        )
    assert e.value.results == [] and engine.retries_done == 0


@pytest.mark.vllm
@pytest.mark.slow
def test_server_answering_429_and_503_for_a_while(server, tiny_model_dir, tmp_path):
    with FlakyProxy(server.base_url.removesuffix("/v1"), failures=8, statuses=(429, 503)) as proxy:
        engine = OpenAIEngine(
            str(tiny_model_dir),
            base_url=proxy.base_url,
            concurrency=4,
            backoff_base=0.05,
            max_retries=6,
        )
        summary = run_generation(problems(3), engine, PARAMS, tmp_path)
    assert proxy.failed == {429: 4, 503: 4}
    assert engine.retries_done == 8
    assert summary.samples == 6 and len({s.key for s in load_samples(tmp_path)}) == 6


@pytest.mark.vllm
@pytest.mark.slow
def test_server_killed_and_restarted_mid_job(server, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    engine = OpenAIEngine(
        str(tiny_model_dir),
        base_url=server.base_url,
        concurrency=2,
        max_retries=100,
        backoff_base=0.2,
        backoff_max=4,
    )
    killed = threading.Event()

    def crash_and_restart() -> None:
        # Once some samples are on disk, kill the server outright; once the engine has met
        # the dead server (a retry), bring it back.
        wait_until(lambda: Store(out).shards() and Store(out).done_keys(), timeout=600)
        server.kill()
        killed.set()
        wait_until(lambda: engine.retries_done > 0)
        server.start(wait=False)

    t = threading.Thread(target=crash_and_restart, daemon=True)
    t.start()
    # flush_s=0: every finished sample is written at once, so the kill lands mid-job.
    summary = run_generation(problems(20), engine, PARAMS, out, flush_s=0)
    t.join(timeout=5)
    server.wait_ready()  # leave the module's server up for later tests
    assert killed.is_set() and engine.retries_done > 0
    keys = [s.key for s in load_samples(out)]
    assert summary.samples == 40 and len(keys) == len(set(keys)) == 40


@pytest.mark.vllm
@pytest.mark.slow
def test_stream_keeps_the_concurrency_limit_and_stops_when_the_caller_does(server, tiny_model_dir):
    reqs = [GenerationRequest(p.id, messages=p.messages()) for p in problems(10)]
    params = SamplingParams(n=2, max_tokens=24, seed=9)
    with FlakyProxy(server.base_url.removesuffix("/v1"), failures=0) as proxy:
        engine = OpenAIEngine(str(tiny_model_dir), base_url=proxy.base_url, concurrency=3)
        got = [
            (r.request_id, r.completions[0].index)
            for part in engine.stream(reqs, params)
            for r in part
        ]
        assert sorted(got) == sorted((r.request_id, k) for r in reqs for k in range(2))
        assert proxy.max_inflight == 3  # a fixed pool: never more, and kept full
        # A caller that stops after the first samples: what is in flight is cancelled, nothing
        # more is sent, and the engine's thread is gone.
        proxy.seen = 0
        stream = engine.stream(reqs, params)
        first = next(stream)
        stream.close()
        assert not [t for t in threading.enumerate() if t.name == "openai-engine"]
        # Requests sent just before the close may still be in the proxy's accept queue: wait
        # until it has forwarded none and seen none new for a while; at most the pool's three
        # were in flight, and one request of ours is the only one it sees after that.
        assert wait_quiet(proxy)
        sent = proxy.seen
        assert first and sent < len(got)
        httpx.get(f"{proxy.base_url}/models", timeout=60)
        assert proxy.seen == sent + 1
