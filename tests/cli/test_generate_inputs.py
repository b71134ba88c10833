"""`rdistill generate` fed from datasets: saved folders (with splits), folders of data files
read the way a hub id is, single Parquet/CSV files, field mapping, rows lacking the prompt,
and a hub id that cannot be reached offline."""

from __future__ import annotations

import json

import pytest

from reasoning_distill.cli.main import main
from reasoning_distill.generation.store import load_samples

# Field names unlike the defaults (id / problem / answer): every run maps them.
MAP = ("--id-field", "uid", "--prompt-field", "question", "--gold-field", "sol")


@pytest.fixture(autouse=True)
def private_datasets_cache(tmp_path, monkeypatch):
    """load_dataset caches Arrow copies of data files; keep them out of the user's cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def rows(prefix, n):
    return [
        {"uid": f"{prefix}{i}", "question": f"What is {i} + 5?", "sol": str(i + 5)}
        for i in range(n)
    ]


def run(model, inp, out, *extra):
    argv = ["generate", "--model", str(model), "--input", str(inp), "--out", str(out)]
    return main([*argv, "--n", "1", "--max-tokens", "4", "--batch-size", "8", *extra])


def stored(out):
    return sorted((s.problem_id, s.gold) for s in load_samples(out))


def test_saved_dataset_and_dataset_dict_split(tiny_model_dir, tmp_path, capsys):
    import datasets

    datasets.Dataset.from_list(rows("d", 3)).save_to_disk(str(tmp_path / "plain"))
    assert run(tiny_model_dir, tmp_path / "plain", tmp_path / "o1", *MAP) == 0
    assert stored(tmp_path / "o1") == [("d0", "5"), ("d1", "6"), ("d2", "7")]

    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows("tr", 4)),
            "test": datasets.Dataset.from_list(rows("te", 2)),
        }
    )
    splits.save_to_disk(str(tmp_path / "dict"))
    assert run(tiny_model_dir, tmp_path / "dict", tmp_path / "o2", *MAP, "--split", "test") == 0
    assert stored(tmp_path / "o2") == [("te0", "5"), ("te1", "6")]
    capsys.readouterr()
    assert run(tiny_model_dir, tmp_path / "dict", tmp_path / "o3", *MAP, "--split", "dev") == 2
    err = capsys.readouterr().err
    assert "no split 'dev'" in err and "['test', 'train']" in err
    assert not (tmp_path / "o3").exists()


def test_folder_of_data_files_goes_through_load_dataset(tiny_model_dir, tmp_path, capsys):
    """A folder of Parquet files named by split, and one of JSONL files: the hub-id code path
    (`datasets.load_dataset(id_or_path)`) on local data."""
    import datasets

    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    datasets.Dataset.from_list(rows("p", 3)).to_parquet(str(pq_dir / "train-00000.parquet"))
    datasets.Dataset.from_list(rows("t", 2)).to_parquet(str(pq_dir / "test-00000.parquet"))
    assert run(tiny_model_dir, pq_dir, tmp_path / "o1", *MAP) == 0
    assert stored(tmp_path / "o1") == [("p0", "5"), ("p1", "6"), ("p2", "7")]
    assert run(tiny_model_dir, pq_dir, tmp_path / "o2", *MAP, "--split", "test") == 0
    assert stored(tmp_path / "o2") == [("t0", "5"), ("t1", "6")]

    js_dir = tmp_path / "js"
    js_dir.mkdir()
    (js_dir / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows("j", 2)))
    assert run(tiny_model_dir, js_dir, tmp_path / "o3", *MAP, "--gold-field", "") == 0
    # `--gold-field ''`: the samples carry no gold even though the rows have a `sol`.
    assert stored(tmp_path / "o3") == [("j0", None), ("j1", None)]


def test_single_parquet_and_csv_files(tiny_model_dir, tmp_path):
    import datasets

    datasets.Dataset.from_list(rows("f", 2)).to_parquet(str(tmp_path / "p.parquet"))
    assert run(tiny_model_dir, tmp_path / "p.parquet", tmp_path / "o1", *MAP) == 0
    assert stored(tmp_path / "o1") == [("f0", "5"), ("f1", "6")]
    # CSV used to be looked up on the Hub as a dataset named "....csv".
    csv = tmp_path / "p.csv"
    csv.write_text("uid,question,sol\nc0,What is 1 + 1?,2\n")
    assert run(tiny_model_dir, csv, tmp_path / "o2", *MAP) == 0
    # CSV types its columns: the gold comes back as the integer the file held.
    assert stored(tmp_path / "o2") == [("c0", 2)]


def test_dataset_rows_lacking_the_prompt(tiny_model_dir, tmp_path, capsys):
    import datasets

    data = rows("m", 6)
    for i in (1, 4):
        data[i]["question"] = None  # a dataset column cannot lack a key: missing is None
    data[2]["question"] = "   "
    datasets.Dataset.from_list(data).save_to_disk(str(tmp_path / "ds"))

    assert run(tiny_model_dir, tmp_path / "ds", tmp_path / "o1", *MAP) == 2
    err = capsys.readouterr().err
    assert (
        "3 rows cannot be used" in err and "field 'question' missing or empty: rows 2, 3, 5" in err
    )
    assert "--on-missing skip" in err and "Traceback" not in err
    assert not (tmp_path / "o1").exists()

    assert run(tiny_model_dir, tmp_path / "ds", tmp_path / "o2", *MAP, "--on-missing", "skip") == 0
    assert "skipped 3 input rows" in capsys.readouterr().err
    assert [pid for pid, _ in stored(tmp_path / "o2")] == ["m0", "m3", "m5"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("some-org/some-dataset", "Couldn't reach 'some-org/some-dataset' on the Hub"),
        ("./data/problems", "no such file or folder"),
        ("problems.parquet", "no such file or folder"),
    ],
)
def test_unreachable_hub_id_or_missing_path_is_a_clear_error(
    tmp_path, capsys, monkeypatch, source, expected
):
    # tests/conftest.py sets HF_HUB_OFFLINE=1: a hub id cannot be fetched here.
    monkeypatch.chdir(tmp_path)
    # The input fails before the model is touched, so a missing model folder is never reported.
    assert run(tmp_path / "no-model", source, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("rdistill generate: error:") and expected in err, err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
    if "/" in source and not source.startswith("."):
        assert "HF_HUB_OFFLINE" in err
