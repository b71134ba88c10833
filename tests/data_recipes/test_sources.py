"""Recipe sources: local files and `save_to_disk` folders, field mapping, slicing, a seeded
shuffle, weighted mixing, typed errors; publishing refuses clearly when offline."""

from __future__ import annotations

import json

import pytest
from reasoning_distill.data_recipes.recipe import parse_recipe
from reasoning_distill.data_recipes.sources import load_sources

from reasoning_distill.errors import ConfigError, InputError

BASE = """\
name: t
teacher: {model: m}
output: {dir: out}
"""


def _recipe(sources: str, extra: str = ""):
    return parse_recipe(BASE + extra + "sources:\n" + sources, "r.yaml")


@pytest.fixture
def files(tmp_path):
    from datasets import Dataset

    rows = [{"q": f"What is {i} + {i}?", "a": str(2 * i), "n": i} for i in range(10)]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = [
        {"text": f"Print {i}.", "io": json.dumps({"inputs": [""], "outputs": [f"{i}\n"]})}
        for i in range(6)
    ]
    Dataset.from_list(code).save_to_disk(str(tmp_path / "code_ds"))
    return tmp_path


def test_mapping_slicing_shuffle_and_saved_datasets(files):
    r = _recipe(
        "  - name: m\n    path: m.jsonl\n    fields: {problem: q, answer: a, id: n}\n"
        "    offset: 2\n    limit: 5\n    shuffle: true\n    seed: 4\n"
        "  - name: c\n    path: code_ds\n    kind: code\n"
        "    fields: {problem: text, tests: io, tests_format: apps, id: null}\n"
    )
    problems, counts = load_sources(r, files)
    assert counts == {"m": {"loaded": 5}, "c": {"loaded": 6}}
    maths = [p for p in problems if p.source == "m"]
    again = [p.id for p in load_sources(r, files)[0] if p.source == "m"]
    assert [p.id for p in maths] == again  # the seeded shuffle is the same every time
    assert [p.id for p in maths] != [f"m-{i}" for i in range(2, 7)]  # and it did shuffle
    p = maths[0]
    assert p.prompt.startswith(p.meta["question"]) and "\\boxed{}" in p.prompt
    assert p.gold == str(2 * int(p.id.split("-")[1]))
    c = next(p for p in problems if p.source == "c")
    assert c.kind == "code" and c.gold == {
        "kind": "stdio",
        "cases": [{"input": "", "output": "0\n"}],
    }


def test_weighted_mix(files):
    r = _recipe(
        "  - name: m\n    path: m.jsonl\n    fields: {problem: q, answer: a, id: n}\n    weight: 3\n"
        "  - name: c\n    path: code_ds\n    kind: code\n    weight: 1\n"
        "    fields: {problem: text, tests: io, tests_format: apps, id: null}\n",
        extra="mix_total: 8\n",
    )
    problems, counts = load_sources(r, files)
    assert (counts["m"]["mixed"], counts["c"]["mixed"]) == (6, 2)
    assert len(problems) == 8
    too_many = r.model_copy(update={"mix_total": 40})
    with pytest.raises(ConfigError, match="weight asks for"):
        load_sources(too_many, files)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ("{problem: nope, answer: a, id: n}", "row 1: field 'nope' missing"),
        ("{problem: q, answer: zz, id: n}", "missing field 'zz'"),
        ("{problem: q, answer: a, id: q2}", "field 'q2' missing or not a string/integer id"),
    ],
)
def test_bad_rows_name_the_source_row_and_field(files, fields, needle):
    r = _recipe(f"  - name: m\n    path: m.jsonl\n    fields: {fields}\n")
    with pytest.raises(InputError, match=needle):
        load_sources(r, files)


def test_missing_local_file_and_unreachable_hub_id(files, monkeypatch):
    with pytest.raises(InputError, match="no such file"):
        load_sources(_recipe("  - name: m\n    path: nope.jsonl\n"), files)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(InputError, match="cannot load no-such/dataset"):
        load_sources(_recipe("  - name: h\n    hf: {id: no-such/dataset}\n"), files)


def test_push_to_hub_offline_is_one_clear_error(tmp_path, monkeypatch):
    from reasoning_distill.data_recipes.hub import push_dataset
    from reasoning_distill.data_recipes.recipe import PushToHub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE is set"):
        push_dataset(tmp_path, PushToHub(repo_id="me/ds"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="no Hugging Face token"):
        push_dataset(tmp_path, PushToHub(repo_id="me/ds"))
