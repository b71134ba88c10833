"""results.json envelopes written by hand, for gap tests that need no model."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

MANIFEST: dict[str, Any] = {
    "manifest_version": 1,
    "model": {"kind": "local", "path": "/m", "sha256": "0" * 64},
    "engine": {"name": "hf", "version": "transformers 5.19.0", "options": {}},
    "sampling": {
        "n": 4,
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": -1,
        "min_p": 0.0,
        "stop": [],
        "seed": 1234,
    },
    "system_prompt": None,
    "chat_template": {"sha256": "c" * 64, "text": "{{ messages }}"},
    "verifier": {"version": "v1"},
    "software": {"math-verify": "0.9.0", "torch": "2.13.0"},
    "benchmarks": {
        "toy_math": {
            "id": "toy_math",
            "version": "toy-6",
            "data_sha256": "d" * 64,
            "n_problems": 40,
            "max_tokens": 96,
            "prompt_template": {"sha256": "p" * 64, "text": "{problem}"},
        }
    },
}


def envelope(name: str, correct: dict[str, list[bool]], **manifest_changes: Any) -> dict:
    m = copy.deepcopy(MANIFEST)
    m["model"]["sha256"] = name.ljust(64, "0")[:64]
    for dotted, value in manifest_changes.items():
        node = m
        *path, last = dotted.split("__")
        for key in path:
            node = node[key]
        node[last] = value
    problems = [
        {
            "id": pid,
            "correct": c,
            "reasons": ["ok" if x else "wrong_answer" for x in c],
            "answers": ["1" if x else "2" for x in c],
            "tokens": [10 + i for i in range(len(c))],
            "finish": ["stop"] * len(c),
            "meta": {},
        }
        for pid, c in correct.items()
    ]
    return {
        "format": "rdistill-eval-results",
        "format_version": 1,
        "model": {"name": name, "path": f"/models/{name}"},
        "manifest": m,
        "benchmarks": {"toy_math": {"metrics": {}, "problems": problems}},
        "warnings": [],
    }


def teacher_student() -> tuple[dict[str, list[bool]], dict[str, list[bool]]]:
    t = {f"p{i}": [i % 3 != 0, True, i % 2 == 0, True] for i in range(40)}
    s = {f"p{i}": [i % 3 != 0, False, False, i % 2 == 0] for i in range(40)}
    return t, s


def write(folder: Path, env: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(env))
    return folder
