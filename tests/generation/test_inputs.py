"""Loading problems: JSONL, JSON, local datasets, field mapping, missing fields."""

from __future__ import annotations

import json

import pytest

from reasoning_distill.generation.inputs import InputError, load_problems


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_with_default_fields(tmp_path):
    f = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "problem": "2+2?", "answer": "4", "level": 3}])
    [p] = load_problems(f).problems
    assert (p.id, p.prompt, p.gold, p.meta, p.source) == ("1", "2+2?", "4", {"level": 3}, str(f))


def test_missing_prompt_rows_are_reported_and_stop_by_default(tmp_path):
    rows = [{"id": i, "problem": f"q{i}"} for i in range(30)]
    for i in (3, 7, 25):
        del rows[i]["problem"]
    rows[10]["problem"] = "  "
    f = write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(InputError) as e:
        load_problems(f)
    # Row numbers are 1-based file lines.
    assert "field 'problem' missing or empty: rows 4, 8, 11, 26" in str(e.value)
    assert str(f) in str(e.value) and "--on-missing skip" in str(e.value)
    loaded = load_problems(f, on_missing="skip")
    assert len(loaded.problems) == 26 and loaded.skipped == {
        "field 'problem' missing or empty": [4, 8, 11, 26]
    }


def test_field_mapping_and_row_ids(tmp_path):
    f = write_jsonl(tmp_path / "p.jsonl", [{"question": "a?", "solution": "1"}, {"question": "b?"}])
    loaded = load_problems(f, id_field=None, prompt_field="question", gold_field="solution")
    assert [(p.id, p.prompt, p.gold) for p in loaded.problems] == [
        ("row-1", "a?", "1"),
        ("row-2", "b?", None),
    ]
    with pytest.raises(
        InputError, match="fields present in the input: \\['question', 'solution'\\]"
    ):
        load_problems(f)


def test_bad_json_names_the_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": 1, "problem": "x"}\n{oops\n')
    with pytest.raises(InputError, match=r"p.jsonl:2: not valid JSON"):
        load_problems(f)
    with pytest.raises(InputError, match="no such file"):
        load_problems(tmp_path / "absent.jsonl")


def test_json_list_and_local_dataset_folder(tmp_path):
    import datasets

    f = tmp_path / "p.json"
    f.write_text(json.dumps([{"id": "a", "problem": "x"}]))
    assert [p.id for p in load_problems(f).problems] == ["a"]
    ds = datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_list(
                [{"uid": "u1", "q": "x?", "a": "1"}, {"uid": "u2", "q": "y?", "a": "2"}]
            )
        }
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    loaded = load_problems(
        tmp_path / "ds", id_field="uid", prompt_field="q", gold_field="a", split="test"
    )
    assert [(p.id, p.gold) for p in loaded.problems] == [("u1", "1"), ("u2", "2")]
    with pytest.raises(InputError, match="no split 'train'"):
        load_problems(tmp_path / "ds", id_field="uid", prompt_field="q")


def test_limit(tmp_path):
    f = write_jsonl(tmp_path / "p.jsonl", [{"id": i, "problem": "x"} for i in range(10)])
    assert len(load_problems(f, limit=3).problems) == 3
