"""An LLM judge for math answers the rule-based verifier could not decide.

OpenR1-Math sent the traces math-verify could not parse to an LLM judge; this does the same
through the OpenAI-compatible engine (`generation/openai_engine.py`): the judge sees the
problem, the gold answer and the completion's final answer, and replies `CORRECT` or
`INCORRECT`. Its verdicts are marked `judged: true` and keep the rule verifier's reason in
`details["rule_reason"]`, so a user can always filter them out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from reasoning_distill.verification.verdicts import VerdictRecord

logger = logging.getLogger(__name__)

JUDGE_SYSTEM = (
    "You grade answers to math problems. Compare the student's final answer with the reference "
    "answer: equal values in another form (a fraction and its decimal, reordered terms) are "
    "correct. Reply with exactly one word: CORRECT or INCORRECT."
)
_WORD = re.compile(r"\b(INCORRECT|CORRECT)\b", re.IGNORECASE)


def judge_prompt(problem: str, gold: str, answer: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {
            "role": "user",
            "content": f"Problem:\n{problem}\n\nReference answer: {gold}\n\n"
            f"Student's final answer:\n{answer[-2000:]}",
        },
    ]


def parse_judgement(text: str) -> bool | None:
    """True / False from the judge's reply, None when it said neither."""
    m = _WORD.findall(text or "")
    if not m:
        return None
    return m[-1].upper() == "CORRECT"


def judge_records(
    records: list[VerdictRecord], samples: Sequence[Any], judge: Any, engine: Any = None
) -> list[VerdictRecord]:
    """`records` with those of math samples whose reason is in `judge.on_reasons` decided by
    the judge (`judged: true`); the others unchanged. A judge that cannot be reached leaves
    the rule verdicts as they are (logged), never a guess."""
    if judge is None:
        return records
    by_key = {s.key: s for s in samples}
    todo = [i for i, r in enumerate(records) if r.kind == "math" and r.reason in judge.on_reasons]
    if not todo:
        return records
    from reasoning_distill.generation.engine import GenerationRequest, SamplingParams

    own = engine is None
    if own:
        from reasoning_distill.generation.factory import make_engine

        engine = make_engine(
            "openai",
            judge.model,
            base_url=judge.base_url,
            api_key_env=judge.api_key_env,
            concurrency=judge.concurrency,
        )
    try:
        reqs = []
        for i in todo:
            s = by_key[records[i].key]
            problem = str((s.meta or {}).get("problem", {}).get("question") or s.prompt)
            reqs.append(
                GenerationRequest(
                    request_id=f"{s.problem_id}#{s.sample_index}",
                    messages=judge_prompt(problem, str(s.gold), s.answer or s.completion),
                )
            )
        try:
            results = engine.generate(
                reqs, SamplingParams(n=1, temperature=0.0, top_p=1.0, max_tokens=judge.max_tokens)
            )
        except Exception as e:  # noqa: BLE001 - the rule verdicts stand; say why
            logger.warning("LLM judge %s failed (%s): keeping the rule verdicts", judge.model, e)
            return records
    finally:
        if own:
            engine.close()
    out = list(records)
    for i, res in zip(todo, results, strict=True):
        said = parse_judgement(res.completions[0].text if res.completions else "")
        if said is None:
            continue
        r = records[i]
        out[i] = VerdictRecord(
            problem_id=r.problem_id,
            sample_index=r.sample_index,
            kind=r.kind,
            correct=said,
            reason="ok" if said else "wrong_answer",
            extracted=r.extracted,
            details={**r.details, "rule_reason": r.reason, "judge": judge.model},
            verifier=r.verifier + "+judge",
            judged=True,
        )
    return out
