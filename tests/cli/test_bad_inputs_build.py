"""`rdistill build`: bad inputs and faults, each with its exit code, its one-line message and
proof that nothing already written was lost."""

from __future__ import annotations

import json
import os

import pytest
from _verify_rows import write_jsonl

from reasoning_distill.cli.main import main


def _row(i: int, correct) -> dict:
    return {
        "problem_id": f"p{i}",
        "sample_index": 0,
        "messages": [
            {"role": "system", "content": "Think first."},
            {"role": "user", "content": f"Compute {i}+1."},
        ],
        "completion": f"<think>\n{i}+1={i + 1}\n</think>\n\nThe answer is \\boxed{{{i + 1}}}.",
        "verdict": {"correct": correct, "reason": "ok" if correct is True else "wrong_answer"},
    }


def _build(capsys, *args: str) -> tuple[int, str]:
    code = main(["build", *args])
    err = capsys.readouterr().err.strip()
    return code, err


def _tree(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def rows_file(tmp_path):
    return write_jsonl(tmp_path / "verified.jsonl", [_row(i, i % 2 == 0) for i in range(4)])


def test_out_naming_a_folder_of_the_users_files_is_refused_untouched(tmp_path, rows_file, capsys):
    users = tmp_path / "project"
    users.mkdir()
    (users / "notes.txt").write_text("a week of notes")
    (users / "sub").mkdir()
    (users / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = _tree(users)
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(users))
    assert code == 2
    assert str(users) in err and "not written by this command" in err
    assert len(err.splitlines()) == 1
    assert _tree(users) == before


def test_out_holding_the_input_is_refused_and_the_input_kept(tmp_path, rows_file, capsys):
    before = rows_file.read_bytes()
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(tmp_path))
    assert code == 2 and str(tmp_path) in err
    assert rows_file.read_bytes() == before


def test_out_naming_a_file_is_refused(tmp_path, rows_file, capsys):
    target = tmp_path / "x.txt"
    target.write_text("keep me")
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(target))
    assert code == 2 and "x.txt" in err
    assert target.read_text() == "keep me"


def test_out_under_a_file_is_refused_before_reading(tmp_path, rows_file, capsys):
    (tmp_path / "f").write_text("x")
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(tmp_path / "f" / "ds"))
    assert code == 2 and "is a file" in err and len(err.splitlines()) == 1


def test_our_own_dataset_is_replaced_and_stale_temporaries_are_cleaned(tmp_path, rows_file, capsys):
    from datasets import load_from_disk

    out = tmp_path / "ds"
    assert _build(capsys, "--input", str(rows_file), "--out", str(out))[0] == 0
    assert len(load_from_disk(str(out))) == 2
    # what a run killed mid-replace leaves: a temporary and a set-aside old copy (dead pid)
    dead = 4_000_000 + os.getpid()
    for tag in ("tmp", "old"):
        stale = tmp_path / f".ds.{tag}-{dead}"
        stale.mkdir()
        (stale / "state.json").write_text("{}")
    code, _ = _build(capsys, "--input", str(rows_file), "--out", str(out), "--keep", "all")
    assert code == 0
    assert len(load_from_disk(str(out))) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "verified.jsonl"]


def test_system_prompt_reaches_the_dataset(tmp_path, rows_file, capsys):
    from datasets import load_from_disk

    out = tmp_path / "ds"
    assert _build(capsys, "--input", str(rows_file), "--out", str(out))[0] == 0
    roles = [m["role"] for m in load_from_disk(str(out))[0]["messages"]]
    assert roles == ["system", "user", "assistant"]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["verdict"].update(correct="false"), "verdict.correct must be true or false"),
        (lambda r: r["verdict"].update(correct=1), "verdict.correct must be true or false"),
        (lambda r: r.update(completion=["a", "b"]), "field 'completion' must be a string"),
        (lambda r: r.update(messages="hi"), "field 'messages' must be a list"),
        (lambda r: r.pop("verdict"), "missing field 'verdict'"),
        (lambda r: r.pop("messages"), "missing field 'messages'"),
    ],
)
def test_wrongly_typed_rows_name_the_line_and_field(tmp_path, capsys, mutate, needle):
    bad = _row(1, True)
    mutate(bad)
    src = write_jsonl(tmp_path / "in.jsonl", [_row(0, True), bad])
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "ds"))
    assert code == 2, err
    assert f"{src}:2" in err and needle in err
    assert not (tmp_path / "ds").exists()


def test_missing_input_and_bad_json(tmp_path, capsys):
    code, err = _build(
        capsys, "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "d")
    )
    assert code == 2 and "nope.jsonl: no such file" in err
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(_row(1, True)) + "\n{not json\n")
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "d"))
    assert code == 2 and f"{src}:2" in err
    src.write_bytes(b'{"a": "\xff"}\n')
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "d"))
    assert code == 2 and f"{src}:1" in err and "UTF-8" in err


def test_nothing_kept_is_an_error(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [_row(1, False)])
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "ds"))
    assert code == 2 and "no rows" in err
    assert not (tmp_path / "ds").exists()
