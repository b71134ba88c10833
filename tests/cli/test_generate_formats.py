"""`rdistill generate --format parquet`: shards + manifest, exact samples, resume after SIGKILL,
and a folder written in one format refused in the other."""

from __future__ import annotations

import json

import pytest

from reasoning_distill.cli.main import main
from reasoning_distill.generation.prompts import MATH_TEMPLATE, build_prompt
from reasoning_distill.generation.store import Store, load_samples
from tests.generation.child_process import sigkill_when, start_child
from tests.generation.cli_args import generate_argv
from tests.samples import make_sample


def write_problems(path, n):
    rows = [{"id": f"q{i}", "problem": f"What is {i} + 2?", "answer": str(i + 2)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def gen_args(model, inp, out, *extra):
    return generate_argv(model, inp, out, *extra, seed=3)


def parquet_keys(out):
    import pyarrow.parquet as pq

    keys = []
    for shard in sorted(out.glob("samples-*.parquet")):
        table = pq.read_table(shard)
        keys += zip(
            table.column("problem_id").to_pylist(),
            table.column("sample_index").to_pylist(),
            strict=True,
        )
    return keys


def test_parquet_output_through_the_cli(tiny_model_dir, tmp_path, capsys):
    inp = write_problems(tmp_path / "p.jsonl", 4)
    out = tmp_path / "out"
    assert main(gen_args(tiny_model_dir, inp, out, "--format", "parquet", "--chunk-size", "2")) == 0
    assert "8 of 8" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    # Two chunks of two problems: one Parquet file per committed chunk, no JSONL.
    assert names == ["manifest.json", "samples-0-00000.parquet", "samples-0-00001.parquet"]
    assert json.loads((out / "manifest.json").read_text())["format"] == "parquet"
    expected = {(f"q{i}", k) for i in range(4) for k in range(2)}
    keys = parquet_keys(out)
    assert len(keys) == len(set(keys)) and set(keys) == expected
    samples = load_samples(out)
    assert {s.key for s in samples} == expected
    # JSON-encoded columns come back as their structures.
    s = samples[0]
    question = f"What is {s.problem_id[1:]} + 2?"
    assert s.messages[-1] == {"role": "user", "content": build_prompt(question, MATH_TEMPLATE)}
    assert s.sampling["n"] == 2 and s.gold == str(int(s.problem_id[1:]) + 2)

    # Rerun: nothing regenerated, nothing appended.
    assert main(gen_args(tiny_model_dir, inp, out, "--format", "parquet")) == 0
    assert "0 (8 were already done)" in capsys.readouterr().out
    assert len(list(out.glob("samples-*"))) == 2


def test_switching_format_on_a_folder_is_refused_before_the_model_loads(
    tiny_model_dir, tmp_path, capsys
):
    inp = write_problems(tmp_path / "p.jsonl", 2)
    out = tmp_path / "out"
    assert main(gen_args(tiny_model_dir, inp, out, "--format", "parquet")) == 0
    before = {p.name: p.read_bytes() for p in out.glob("samples-*")}
    capsys.readouterr()
    # A model path that does not exist: the refusal must come first (loading a real teacher
    # can take minutes), and it must say which flag resumes the folder.
    missing_model = tmp_path / "no-such-model"
    assert main(gen_args(missing_model, inp, out, "--format", "jsonl")) == 2
    err = capsys.readouterr().err
    assert "holds parquet shards" in err and "--format parquet" in err, err
    assert "does not exist" not in err
    assert {p.name: p.read_bytes() for p in out.glob("samples-*")} == before
    assert main(gen_args(tiny_model_dir, inp, out, "--format", "parquet")) == 0


def sample(pid, reasoning, gold):
    return make_sample(problem_id=pid, seed=1, completion="c", reasoning=reasoning, gold=gold)


def test_parquet_shards_share_one_schema_so_the_folder_loads_as_a_dataset(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    out = tmp_path / "out"
    with Store.open(out, {"x": 1}, format="parquet") as st:
        # A chunk with no reasoning at all used to become a `null` column.
        st.append([sample("a", None, None)])
        st.append([sample("b", "why", 3)])
        st.append([sample("c", "so", {"tests": [1]})])
    ds = datasets.load_dataset("parquet", data_files=str(out / "samples-*.parquet"), split="train")
    assert ds["reasoning"] == [None, "why", "so"]
    assert [s.gold for s in load_samples(out)] == [None, 3, {"tests": [1]}]


@pytest.mark.slow
def test_parquet_run_killed_mid_way_resumes_without_duplicates(tiny_model_dir, tmp_path):
    n_problems = 12
    inp = write_problems(tmp_path / "p.jsonl", n_problems)
    out = tmp_path / "out"
    argv = gen_args(tiny_model_dir, inp, out, "--format", "parquet", "--chunk-size", "1")
    child = start_child("-m", "reasoning_distill.cli.main", *argv)
    sigkill_when(
        child,
        lambda: len(list(out.glob("samples-*.parquet"))) >= 2,
        timeout=120,
        what="the child wrote no shards",
        poll_s=0.02,
    )
    kept = {p.name: p.read_bytes() for p in out.glob("samples-*.parquet")}
    assert 2 <= len(kept) < n_problems, "the kill must land mid-run"
    # A kill inside a chunk's write leaves its temporary file: it never counted as done.
    (out / ".samples-0-00099.parquet.tmp").write_bytes(b"PAR1 torn")

    assert main(argv) == 0
    assert not list(out.glob(".samples-*.tmp*"))
    keys = parquet_keys(out)
    assert len(keys) == len(set(keys)), "duplicated samples"
    assert set(keys) == {(f"q{i}", k) for i in range(n_problems) for k in range(2)}
    for name, data in kept.items():
        assert (out / name).read_bytes() == data, f"{name} was rewritten"


def test_other_settings_on_a_folder_are_refused_before_the_model_loads(
    tiny_model_dir, tmp_path, capsys
):
    import shutil

    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    inp = write_problems(tmp_path / "p.jsonl", 2)
    out = tmp_path / "out"
    assert main(gen_args(model, inp, out)) == 0
    capsys.readouterr()
    # The model folder is gone: a refusal that names the differing setting proves the check
    # ran before any attempt to load it.
    shutil.rmtree(model)
    assert main(gen_args(model, inp, out, "--temperature", "0.9")) == 2
    err = capsys.readouterr().err
    assert "different settings" in err and "temperature" in err and "0.9" in err, err
    assert "does not exist" not in err
