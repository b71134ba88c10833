"""The store: append-only shards, torn-tail repair, manifest checks, locks, Parquet."""

from __future__ import annotations

import json

import pytest

from reasoning_distill.errors import InputError
from reasoning_distill.generation.store import (
    ManifestMismatchError,
    Store,
    StoreCorruptError,
    StoreLockedError,
    load_samples,
)
from reasoning_distill.records import Sample
from tests.samples import make_sample as sample_with

IDENTITY = {
    "engine": "hf",
    "model": "m",
    "sampling": {"n": 2, "temperature": 0.6},
    "input_hash": "abc",
}


def make_sample(pid: str, idx: int, text: str = "<think>r</think>a") -> Sample:
    return sample_with(
        problem_id=pid,
        sample_index=idx,
        seed=idx,
        messages=[{"role": "user", "content": "q"}],
        completion=text,
        sampling={"n": 2},
        gold={"tests": [1, 2]},
        meta={"k": "v"},
    )


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_append_read_roundtrip_and_no_duplicates(tmp_path, fmt):
    with Store.open(tmp_path, IDENTITY, format=fmt) as st:
        assert st.append([make_sample("a", 0), make_sample("a", 1)]) == 2
        # Already stored keys are never written twice, within a store or after reopening.
        assert st.append([make_sample("a", 1), make_sample("b", 0)]) == 1
    with Store.open(tmp_path, IDENTITY, format=fmt) as st:
        assert st.done_keys() == {("a", 0), ("a", 1), ("b", 0)}
        assert st.append([make_sample("b", 0), make_sample("b", 1)]) == 1
    samples = load_samples(tmp_path)
    assert sorted(s.key for s in samples) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert samples[0] == make_sample("a", 0)
    # Each writer session (JSONL) or chunk (Parquet) gets a new shard: old ones stay untouched.
    assert len(Store(tmp_path).shards()) == (2 if fmt == "jsonl" else 3)


def test_torn_tail_is_ignored_by_readers_and_truncated_on_reopen(tmp_path):
    with Store.open(tmp_path, IDENTITY) as st:
        st.append([make_sample("a", 0), make_sample("a", 1)])
    shard = Store(tmp_path).shards()[0]
    whole = shard.read_bytes()
    torn = json.dumps(make_sample("b", 0).to_dict()).encode()[:57]
    shard.write_bytes(whole + torn)
    # A reader sees only the committed lines: the torn sample does not count as done.
    assert Store(tmp_path).done_keys() == {("a", 0), ("a", 1)}
    with Store.open(tmp_path, IDENTITY) as st:
        assert shard.read_bytes() == whole
        assert st.append([make_sample("b", 0)]) == 1
    assert sorted(s.key for s in load_samples(tmp_path)) == [("a", 0), ("a", 1), ("b", 0)]


def test_complete_json_without_newline_counts_as_torn(tmp_path):
    with Store.open(tmp_path, IDENTITY) as st:
        st.append([make_sample("a", 0)])
    shard = Store(tmp_path).shards()[0]
    shard.write_bytes(shard.read_bytes() + json.dumps(make_sample("a", 1).to_dict()).encode())
    assert Store(tmp_path).done_keys() == {("a", 0)}


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    with Store.open(tmp_path, IDENTITY) as st:
        st.append([make_sample("a", 0), make_sample("a", 1)])
    shard = Store(tmp_path).shards()[0]
    lines = shard.read_bytes().split(b"\n")
    shard.write_bytes(lines[0] + b"\n{broken\n" + lines[1] + b"\n")
    with pytest.raises(StoreCorruptError, match=rf"{shard.name}:2"):
        Store(tmp_path).done_keys()


def test_manifest_mismatch_is_refused_with_every_difference(tmp_path):
    Store.open(tmp_path, IDENTITY).close()
    other = {**IDENTITY, "sampling": {"n": 2, "temperature": 0.7}, "model": "m2"}
    with pytest.raises(ManifestMismatchError) as e:
        Store.open(tmp_path, other)
    msg = str(e.value)
    assert "sampling.temperature: 0.6 in the folder, 0.7 now" in msg
    assert "model: 'm' in the folder, 'm2' now" in msg
    assert "new output folder" in msg
    with pytest.raises(ManifestMismatchError, match="format"):
        Store.open(tmp_path, IDENTITY, format="parquet")


def test_shards_without_manifest_are_refused(tmp_path):
    (tmp_path / "samples-0-00000.jsonl").write_text("")
    with pytest.raises(ManifestMismatchError, match="no manifest.json"):
        Store.open(tmp_path, IDENTITY)


def test_second_writer_is_locked_out(tmp_path):
    with (
        Store.open(tmp_path, IDENTITY),
        pytest.raises(StoreLockedError, match="another generation job"),
    ):
        Store.open(tmp_path, IDENTITY)
    # Distinct writers (Ray actors) may share the folder when nobody holds the folder lock.
    with (
        Store.open(tmp_path, IDENTITY, writer_id="w1", folder_lock=False) as a,
        Store.open(tmp_path, IDENTITY, writer_id="w2", folder_lock=False) as b,
    ):
        a.append([make_sample("a", 0)])
        b.append([make_sample("b", 0)])
        with pytest.raises(StoreLockedError, match="w1"):
            Store.open(tmp_path, IDENTITY, writer_id="w1", folder_lock=False)
    assert {s.key for s in load_samples(tmp_path)} == {("a", 0), ("b", 0)}


def test_load_samples_on_a_non_store_folder(tmp_path):
    with pytest.raises(InputError, match="not a generation output folder"):
        load_samples(tmp_path)


# ---- provenance: every record says what made it, and every read checks it


def _rows(shard):
    return [json.loads(line) for line in shard.read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_record_carries_the_manifests_fingerprint(tmp_path, fmt):
    from reasoning_distill.provenance import fingerprint

    with Store.open(tmp_path, IDENTITY, format=fmt) as st:
        st.append([make_sample("a", 0), make_sample("a", 1)])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["store_version"] == 2 and manifest["provenance"] == fingerprint(IDENTITY)
    assert len(manifest["provenance"]) == 16  # short: it is repeated on every row
    (shard,) = Store(tmp_path).shards()
    if fmt == "jsonl":
        rows = _rows(shard)
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(shard).to_pylist()
    assert {r["made_by"] for r in rows} == {manifest["provenance"]}
    # Readers drop the stamp: a read sample is the sample that was written.
    assert load_samples(tmp_path)[0] == make_sample("a", 0)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_shard_from_another_identity_is_refused_naming_shard_and_row(tmp_path, fmt):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    other = {**IDENTITY, "sampling": {**IDENTITY["sampling"], "seed": 7}}
    with Store.open(ours, IDENTITY, format=fmt) as st:
        st.append([make_sample("a", 0)])
    with Store.open(theirs, other, format=fmt, writer_id="9") as st:
        st.append([make_sample("b", 0), make_sample("b", 1)])
    (shard,) = Store(theirs).shards()
    (ours / shard.name).write_bytes(shard.read_bytes())
    where = f"{ours / shard.name}:1" if fmt == "jsonl" else f"{ours / shard.name} row 1"
    for read in (lambda: Store(ours).done_keys(), lambda: load_samples(ours)):
        with pytest.raises(InputError, match="made by another generation run") as e:
            read()
        assert str(e.value).startswith(where)
    # A resumed job over the folder is refused too, before it writes anything.
    with (
        pytest.raises(InputError, match="another generation run"),
        Store.open(ours, IDENTITY, format=fmt) as st,
    ):
        st.append([make_sample("a", 1)])


def test_rows_that_disagree_with_the_manifest_are_refused(tmp_path):
    with Store.open(tmp_path, IDENTITY) as st:
        st.append([make_sample("a", 0), make_sample("a", 1)])
    (shard,) = Store(tmp_path).shards()
    good = shard.read_text()
    cases = [
        ({"model": "other"}, "model 'other', not 'm'"),
        ({"engine": "vllm"}, "engine 'vllm', not 'hf'"),
        ({"sampling": {"n": 3}}, "sampling.n 3, not 2"),
        ({"sample_index": 2}, "sample_index 2 is outside n=2"),
        ({"made_by": "0123456789abcdef"}, "made by another generation run"),
    ]
    for change, needle in cases:
        rows = _rows(shard)
        rows[1].update(change)
        shard.write_text("".join(json.dumps(r) + "\n" for r in rows))
        with pytest.raises(InputError, match=r"samples-0-00000\.jsonl:2: ") as e:
            load_samples(tmp_path)
        assert needle in str(e.value)
        shard.write_text(good)
    assert len(load_samples(tmp_path)) == 2


def test_a_folder_from_before_provenance_stays_readable_and_resumable(tmp_path):
    with Store.open(tmp_path, IDENTITY) as st:
        st.append([make_sample("a", 0)])
    (shard,) = Store(tmp_path).shards()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["provenance"]
    manifest["store_version"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    old_rows = [{k: v for k, v in r.items() if k != "made_by"} for r in _rows(shard)]
    shard.write_text("".join(json.dumps(r) + "\n" for r in old_rows))
    assert [s.key for s in load_samples(tmp_path)] == [("a", 0)]
    with Store.open(tmp_path, IDENTITY) as st:  # resumed by this version: new rows are stamped
        st.append([make_sample("a", 1)])
    assert [s.key for s in load_samples(tmp_path)] == [("a", 0), ("a", 1)]
    # Still checked field by field: an old row of another model is refused.
    rows = _rows(shard)
    rows[0]["model"] = "other"
    shard.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(InputError, match="model 'other'"):
        load_samples(tmp_path)
