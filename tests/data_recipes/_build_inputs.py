"""Sources and a recipe for the build tests: math in JSONL, code in Parquet, a planted
duplicate and (when the shared benchmark files exist) a planted GSM8K test problem."""

from __future__ import annotations

import json
from pathlib import Path

from tests.benchmark_files import SHARED_BENCHMARKS as SHARED

PLUS = {"kind": "assert", "code": "assert f(2) == 5", "entry_point": None, "setup": ""}


def gsm8k_test_problem() -> str | None:
    path = SHARED / "gsm8k_test.jsonl"
    if not path.exists():
        return None
    return json.loads(path.read_text().splitlines()[11])["question"]


def write_sources(root: Path, n_math: int = 10) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    math = [
        {"qid": f"m{i}", "question": f"Tom has {i + 3} apples and buys {2 * i + 1} more at the market. "
         "How many apples does he have now?", "answer": str(3 * i + 4)}
        for i in range(n_math)
    ]  # fmt: skip
    math.append({**math[0], "qid": "dup", "question": math[0]["question"].upper()})
    planted = gsm8k_test_problem()
    if planted:
        math.append(
            {"qid": "planted", "question": "  " + planted.replace(" ", "  "), "answer": "1"}
        )
    (root / "math.jsonl").write_text("".join(json.dumps(r) + "\n" for r in math))
    code = [
        {"task": f"c{i}", "text": f"Write a Python function f(x) that returns x plus {i + 3}.",
         "tests": json.dumps({**PLUS, "code": f"assert f(2) == {i + 5}"})}
        for i in range(4)
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(code), root / "code.parquet")
    return {"math": len(math), "code": len(code), "planted": int(planted is not None)}


RECIPE = """\
# test recipe
#   rdistill build recipe.yaml --root ROOT
# Hardware: a CPU
name: test_build
sources:
  - name: math
    path: math.jsonl
    fields: {problem: question, answer: answer, id: qid}
    kind: math
  - name: code
    path: code.parquet
    fields: {problem: text, tests: tests, id: task}
    kind: code
prompt:
  system: "Be brief."
teacher:
  engine: hf
  model: MODEL
  options: {batch_size: 4}
  sampling: {n: 2, temperature: 1.0, top_p: 1.0, max_tokens: 12, seed: 3}
verify:
  format: {enabled: true}
  code: {timeout_s: 3}
select:
  keep: all
dedupe:
  exact: true
  near: null
decontaminate:
  benchmarks: BENCHMARKS
  data_dir: SHARED
output:
  dir: out/ds
  parquet: true
"""


def write_recipe(root: Path, model: Path, **replace: str) -> Path:
    text = RECIPE.replace("MODEL", str(model)).replace("SHARED", str(SHARED))
    text = text.replace("BENCHMARKS", "[gsm8k]" if SHARED.is_dir() else "[]")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = root / "recipe.yaml"
    path.write_text(text)
    return path
