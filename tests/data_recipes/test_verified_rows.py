"""`build --input` streams its rows: the same dataset folder as listing them all first."""

import json

import pytest
from datasets import load_from_disk
from reasoning_distill.data_recipes.messages import write_dataset
from reasoning_distill.data_recipes.verified_rows import (
    build_from_rows,
    read_rows,
    to_dataset_rows,
)


def _rows():
    user = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}]
    return [
        {"messages": user, "completion": "<think>\nadd\n</think>\n\n4", "answer": "4",
         "problem_id": "p1", "sample_index": 0, "verdict": {"correct": True}},
        {"messages": user[1:], "completion": "<think>\nx\n</think>\n\n5",
         "problem_id": "p1", "sample_index": 1, "verdict": {"correct": False}},
        {"messages": user[1:], "completion": "<think>\nno id\n</think>\n\n4",
         "verdict": {"correct": True}},
        {"messages": user, "completion": "<think>\nagain\n</think>\n\n4",
         "problem_id": "p2", "sample_index": 3, "verdict": {"correct": True}},
    ]  # fmt: skip


@pytest.mark.parametrize("keep", ["verified", "all"])
@pytest.mark.parametrize("answer_only", [False, True])
def test_streamed_build_equals_the_listed_one(tmp_path, keep, answer_only):
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    kept, total = build_from_rows(
        src, tmp_path / "new", keep=keep, verdict_field="verdict", answer_only=answer_only
    )
    rows, read = read_rows(src, "verdict", keep)  # the listed path, as before streaming
    old_rows = to_dataset_rows(rows, answer_only)
    card = {
        "title": f"reasoning-distill dataset from {src.name}",
        "description": f"Built by `rdistill build` (keep={keep}, answer_only={answer_only}).",
        "source": str(src.resolve()),
        "read": read,
        "kept": len(old_rows),
    }
    write_dataset(old_rows, tmp_path / "old", card)
    assert (kept, total) == (len(old_rows), 4) == ((3 if keep == "verified" else 4), 4)
    new, old = load_from_disk(tmp_path / "new"), load_from_disk(tmp_path / "old")
    assert new.features == old.features
    assert new.to_list() == old.to_list()
    assert [r["messages"] for r in new.to_list()] == [r["messages"] for r in old_rows]
    assert (tmp_path / "new" / "README.md").read_text() == (
        tmp_path / "old" / "README.md"
    ).read_text()
