"""Math-Verify's own unit cases as tables (JSON files beside this one, each naming its source):
loading a table, checking its shape, and checking one of our verdicts against the expected one."""

from __future__ import annotations

import json
from pathlib import Path


def load_cases(filename: str) -> list[dict]:
    return json.loads((Path(__file__).parent / filename).read_text())["cases"]


def verdicts_by_id(cases: list[dict], **options) -> dict:
    """Our verdict on every case, by case id (`options` go to `verify_math_batch`)."""
    from reasoning_distill.verifiers import verify_math_batch

    out = verify_math_batch([c["pred"] for c in cases], [c["gold"] for c in cases], **options)
    return dict(zip([c["id"] for c in cases], out, strict=True))


def check_table(cases: list[dict], disagree: dict[str, str], count: int, boxed: bool) -> None:
    """`count` cases with unique ids, every prediction boxed or none, DISAGREE naming cases."""
    assert len(cases) == count and len({c["id"] for c in cases}) == count
    assert all(("boxed" in c["pred"]) == boxed for c in cases)
    assert set(disagree) <= {c["id"] for c in cases}


def check_agrees(case: dict, verdict, disagree: dict[str, str]) -> None:
    """Agrees with Math-Verify, or is listed in DISAGREE and still disagrees (the list stays true)."""
    if case["id"] in disagree:
        assert verdict.correct != case["expected"], f"now agrees, drop it from DISAGREE: {verdict}"
    else:
        assert verdict.correct == case["expected"], verdict
