"""arrow_rows.write_rows: rows given out of order come back in position order, across as
many save_to_disk shards as MAX_SHARD_SIZE asks for; bad positions are refused."""

from __future__ import annotations

import pytest
from reasoning_distill.data_recipes.arrow_rows import write_rows


def _features():
    from datasets import Features, List, Value

    return Features({"messages": List({"role": Value("string"), "content": Value("string")}),
                     "i": Value("int64"), "note": Value("string")})  # fmt: skip


def _row(i):
    return {"messages": [{"role": "user", "content": "x" * 200 + str(i)}], "i": i, "note": None}


def test_shuffled_rows_come_back_in_order_across_shards(tmp_path, monkeypatch):
    import random

    from datasets import Dataset, config, load_from_disk

    monkeypatch.setattr(config, "MAX_SHARD_SIZE", "4KB")
    order = list(range(50))
    random.Random(1).shuffle(order)
    n = write_rows(((i, _row(i)) for i in order), tmp_path / "ds", _features(),
                   parquet_path=tmp_path / "rows.parquet")  # fmt: skip
    assert n == 50
    shards = sorted(p.name for p in (tmp_path / "ds").glob("data-*.arrow"))
    assert len(shards) > 1 and shards[-1].endswith(f"-of-{len(shards):05d}.arrow")
    want = [_row(i) for i in range(50)]
    assert load_from_disk(str(tmp_path / "ds")).to_list() == want
    assert Dataset.from_parquet(str(tmp_path / "rows.parquet")).to_list() == want
    assert not (tmp_path / "ds" / ".rows.stage.arrow").exists()


def test_parquet_row_groups_are_large_so_its_footer_does_not_grow_with_the_rows(tmp_path):
    import pyarrow.parquet as pq
    from datasets import Dataset

    n = 2500
    write_rows(((i, _row(i)) for i in reversed(range(n))), tmp_path / "ds", _features(),
               parquet_path=tmp_path / "rows.parquet")  # fmt: skip
    meta = pq.ParquetFile(tmp_path / "rows.parquet").metadata
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    assert sum(sizes) == n and len(sizes) <= 3  # about 1000 rows a group, not 64
    assert Dataset.from_parquet(str(tmp_path / "rows.parquet"))["i"] == list(range(n))


@pytest.mark.parametrize("positions", [[0, 0], [0, 2], [1, -1]], ids=["twice", "gap", "negative"])
def test_bad_positions_are_refused(tmp_path, positions):
    with pytest.raises(ValueError, match="position"):
        write_rows(((p, _row(p)) for p in positions), tmp_path / "ds", _features())
    assert not (tmp_path / "ds" / ".rows.stage.arrow").exists()
