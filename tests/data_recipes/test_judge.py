"""The LLM-judge fallback, through the real OpenAI-compatible engine against a real HTTP
server on 127.0.0.1 (a small grader answering the chat-completions protocol)."""

from __future__ import annotations

import json
import re

import pytest
from reasoning_distill.data_recipes.judge import judge_records, parse_judgement
from reasoning_distill.data_recipes.recipe import JudgeOptions

from reasoning_distill.records import Sample
from reasoning_distill.verification import VerdictRecord
from tests.loopback import JSONHandler, serving


class _Grader(JSONHandler):
    """Says CORRECT when the reference answer's digits end the student's answer."""

    def do_GET(self):
        self.send_body({"data": [{"id": "grader"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        user = body["messages"][-1]["content"]
        gold = re.search(r"Reference answer: (.*)", user).group(1).strip()
        answer = user.rsplit("Student's final answer:\n", 1)[1]
        digits = re.findall(r"\d+", answer)
        said = "CORRECT" if digits and digits[-1] == gold else "INCORRECT"
        self.send_body({"choices": [{"message": {"content": said}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1}})  # fmt: skip


@pytest.fixture
def grader():
    with serving(_Grader, "/v1") as url:
        yield url


def _sample(pid: str, answer: str) -> Sample:
    return Sample(
        problem_id=pid, sample_index=0, seed=0, prompt="", messages=[], completion=answer,
        reasoning=None, answer=answer, finish_reason="stop", prompt_tokens=1,
        completion_tokens=1, engine="hf", model="m", sampling={}, gold="42", kind="math",
        meta={"problem": {"question": "What is 6 times 7?"}},
    )  # fmt: skip


def test_parse_judgement():
    assert parse_judgement("CORRECT") is True
    assert parse_judgement("The answer is incorrect.") is False
    assert parse_judgement("I think INCORRECT... no wait, CORRECT") is True
    assert parse_judgement("maybe") is None


def test_unparseable_answers_go_to_the_judge_and_are_marked_judged(grader):
    samples = [_sample("a", "forty-two, i.e. 42"), _sample("b", "it is 41"), _sample("c", "x")]
    records = [
        VerdictRecord("a", 0, "math", False, "unparseable_answer", verifier="math"),
        VerdictRecord("b", 0, "math", False, "unparseable_answer", verifier="math"),
        VerdictRecord("c", 0, "math", False, "wrong_answer", verifier="math"),
    ]
    judge = JudgeOptions(model="grader", base_url=grader, on_reasons=["unparseable_answer"])
    out = judge_records(records, samples, judge)
    assert [(r.correct, r.reason, r.judged) for r in out] == [
        (True, "ok", True),
        (False, "wrong_answer", True),
        (False, "wrong_answer", False),  # not a reason sent to the judge: left as it was
    ]
    assert out[0].details["rule_reason"] == "unparseable_answer" and out[0].verifier == "math+judge"
