"""Stream dataset rows into a `datasets` folder in bounded memory, in any order asked.

`write_rows(rows, folder, features)` takes `(position, row)` pairs in whatever order they come
(a generation store's shard order) and writes the folder `Dataset.save_to_disk` would write
for the rows sorted by position (`data-XXXXX-of-NNNNN.arrow` shards of at most
`datasets.config.MAX_SHARD_SIZE`, `dataset_info.json`, `state.json`), plus an optional Parquet
file. Each row is first staged as one Arrow record batch in a random-access IPC file beside
the output, then read back by position: a process holds a handful of rows at a time, never the
dataset. Files are read through ordinary reads, not memory maps, so resident memory stays
flat (a memory-mapped dataset as large as the disk would count in RSS as it is read).
"""

from __future__ import annotations

import json
import logging
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_STAGE = ".rows.stage.arrow"
_CHUNK = 64  # rows per written batch
# A Parquet row group holds about this many rows (`datasets`' default batch size) or this many
# bytes, whichever comes first: tiny row groups make a footer that grows with the dataset.
_GROUP_ROWS = 1000
_GROUP_BYTES = 32 << 20


def write_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    folder: str | Path,
    features: Any,
    *,
    parquet_path: str | Path | None = None,
) -> int:
    """Write `rows` (`(position, row)`, positions 0..n-1 each once) into `folder` as a
    `load_from_disk` dataset with `features`; also as one Parquet file at `parquet_path`.
    Returns the number of rows. `ValueError` if the positions are not 0..n-1."""
    import pyarrow as pa

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    schema = features.arrow_schema
    stage = folder / _STAGE
    at = array("q")  # position -> its batch in the staging file (-1: none yet), 8 bytes a row
    n = nbytes = 0
    try:
        with pa.OSFile(str(stage), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
            for pos, row in rows:
                if pos < 0:
                    raise ValueError(f"row position {pos} is negative")
                if pos >= len(at):
                    at.extend([-1] * (pos + 1 - len(at)))
                if at[pos] >= 0:
                    raise ValueError(f"row position {pos} given twice")
                batch = pa.RecordBatch.from_pylist([features.encode_example(row)], schema=schema)
                at[pos] = n
                n += 1
                nbytes += batch.nbytes
                w.write_batch(batch)
        if n != len(at):
            raise ValueError("row positions are not 0..n-1")
        if n:
            _write_shards(stage, at, folder, features, nbytes, parquet_path)
    finally:
        stage.unlink(missing_ok=True)  # our own staging file, inside our own temporary folder
    return n


def _shard_bounds(n: int, nbytes: int) -> list[tuple[int, int]]:
    """Contiguous row ranges, as `Dataset.save_to_disk` shards (one per MAX_SHARD_SIZE)."""
    from datasets import config
    from datasets.utils.py_utils import convert_file_size_to_int

    shards = min(n, int(nbytes / convert_file_size_to_int(config.MAX_SHARD_SIZE)) + 1)
    div, mod = divmod(n, shards)
    bounds, start = [], 0
    for i in range(shards):
        end = start + div + (1 if i < mod else 0)
        bounds.append((start, end))
        start = end
    return bounds


def _write_shards(
    stage: Path,
    at: array,
    folder: Path,
    features: Any,
    nbytes: int,
    parquet_path: str | Path | None,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import DatasetInfo
    from datasets.arrow_writer import ArrowWriter
    from datasets.fingerprint import generate_random_fingerprint
    from datasets.utils.py_utils import asdict

    schema = features.arrow_schema
    bounds = _shard_bounds(len(at), nbytes)
    names = [f"data-{i:05d}-of-{len(bounds):05d}.arrow" for i in range(len(bounds))]
    pw = pq.ParquetWriter(str(parquet_path), schema) if parquet_path is not None else None
    group: list[Any] = []  # tables not yet in a Parquet row group

    def flush() -> None:
        if group:
            table = pa.concat_tables(group)
            pw.write_table(table, row_group_size=table.num_rows)  # one row group
            group.clear()

    try:
        with pa.OSFile(str(stage), "rb") as src:
            reader = pa.ipc.open_file(src)
            for name, (start, end) in zip(names, bounds, strict=True):
                writer = ArrowWriter(features=features, path=str(folder / name))
                try:
                    for lo in range(start, end, _CHUNK):
                        table = pa.Table.from_batches(
                            [reader.get_batch(at[p]) for p in range(lo, min(end, lo + _CHUNK))],
                            schema=schema,
                        )
                        writer.write_table(table)
                        if pw is not None:
                            group.append(table)
                            if (
                                sum(t.num_rows for t in group) >= _GROUP_ROWS
                                or sum(t.nbytes for t in group) >= _GROUP_BYTES
                            ):
                                flush()
                    writer.finalize()
                finally:
                    writer.close()
        if pw is not None:
            flush()
    finally:
        if pw is not None:
            pw.close()
    state = {
        "_data_files": [{"filename": name} for name in names],
        "_fingerprint": generate_random_fingerprint(),
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (folder / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), "utf-8")
    info = asdict(DatasetInfo(features=features))
    info = {k: info[k] for k in sorted(info)}
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2), "utf-8")
