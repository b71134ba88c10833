"""What a generation job is (`JobSpec`), and every check it needs before a model loads.

The spec is the job's identity: samples made under another spec do not belong in the same
folder. `JobSpec.for_problems` checks the problems (unique ids, a sane number of samples);
`preflight(out_dir)` checks the output folder (a folder we may write, not held by another
job, made with this spec and format if it exists). The CLI calls both before it builds an
engine, since a teacher can take minutes to load only to be refused; the local and the Ray
job open their store through the same spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.generation.engine import SamplingParams
from reasoning_distill.generation.prompts import template_entry
from reasoning_distill.generation.store import (
    FOLDER_LOCK,
    MANIFEST,
    SHARD_RE,
    check_manifest,
    check_unlocked,
    stored_format,
)
from reasoning_distill.records import Problem

# More samples than this in one job is a typo (`--n 1000000000`), not a plan: the job holds
# every sample key in memory (about 150 bytes each), so 10 million keys is about 1.5 GB.
MAX_SAMPLES = 10_000_000
FORMATS = ("jsonl", "parquet")
_PROBE = ".rdistill-probe-"  # the writability probe's file, removed at once


@dataclass(frozen=True)
class JobSpec:
    """One generation job: engine name, model, sampling, system prompt, format, input hash.

    `prompt_template` is the template the problems' prompts were built with
    (`generation.prompts`), stated in the manifest; the input hash covers the prompts it
    made, so it is not part of the identity.
    """

    engine: str
    model: str
    params: SamplingParams
    system: str | None = None
    format: str = "jsonl"
    input_hash: str = ""
    prompt_template: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")

    @classmethod
    def for_problems(
        cls,
        problems: Sequence[Problem],
        engine: str,
        model: str,
        params: SamplingParams,
        *,
        system: str | None = None,
        format: str = "jsonl",
        input_hash: str | None = None,
        prompt_template: str | None = None,
    ) -> JobSpec:
        """The spec of sampling `params.n` completions of each of `problems`."""
        check_problems(problems, params.n)
        return cls(
            engine=engine,
            model=str(model),
            params=params,
            system=system,
            format=format,
            input_hash=input_hash or problems_hash(problems),
            prompt_template=prompt_template,
        )

    def identity(self) -> dict[str, Any]:
        """What must match for a resume (the manifest's `identity`); the format is kept
        beside it in the manifest."""
        return {
            "engine": self.engine,
            "model": self.model,
            "sampling": self.params.to_dict(),
            "input_hash": self.input_hash,
            "system": self.system,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.identity(), "format": self.format, "prompt_template": self.prompt_template}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        return cls(
            engine=d["engine"],
            model=d["model"],
            params=SamplingParams.from_dict(d["sampling"]),
            system=d["system"],
            format=d["format"],
            input_hash=d["input_hash"],
            prompt_template=d.get("prompt_template"),
        )

    def manifest_record(self, dtype: str | None) -> dict[str, Any]:
        """What the manifest states beside the identity: the prompt template and the dtype
        the engine samples in (None: not known, e.g. a served model)."""
        return {"prompt_template": template_entry(self.prompt_template), "engine": {"dtype": dtype}}

    def preflight(self, out_dir: str | Path) -> None:
        """Every check of `out_dir` that can fail, done before any model loads.

        A path we cannot write (a file, a folder under a file, a read-only folder) or a folder
        of someone else's files is an `OutputError`; a folder held by a running job is a
        `StoreLockedError`; a folder made with another spec or format is a
        `ManifestMismatchError`. Nothing is created or changed.
        """
        check_out_dir(out_dir)
        stored = stored_format(out_dir)
        if stored is not None and stored != self.format:
            raise ConfigError(
                f"{out_dir} holds {stored} shards (its manifest says so); rerun with "
                f"--format {stored} to resume it, or write to a new output folder."
            )
        check_manifest(out_dir, self.identity(), self.format)
        check_unlocked(out_dir)


def problems_hash(problems: Sequence[Problem]) -> str:
    """A stable hash of the problems' ids and prompts (the part that shapes the samples)."""
    h = hashlib.sha256()
    for p in problems:
        h.update(json.dumps([p.id, p.prompt], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def check_problems(problems: Sequence[Problem], n: int) -> None:
    """Unique ids (they name the samples on disk) and at most `MAX_SAMPLES` samples."""
    total = len(problems) * n
    if total > MAX_SAMPLES:
        raise ConfigError(
            f"{len(problems):,} problems x {n:,} samples each is {total:,} samples, over the "
            f"{MAX_SAMPLES:,} one job can track: lower --n or split the input into several jobs"
        )
    seen: set[str] = set()
    dups: list[str] = []
    for p in problems:
        if p.id in seen:
            dups.append(p.id)
        seen.add(p.id)
    if dups:
        shown = ", ".join(repr(d) for d in dups[:10])
        raise InputError(
            f"problem ids must be unique (they name the samples on disk); duplicated: {shown}"
            + (f" and {len(dups) - 10} more" if len(dups) > 10 else "")
        )


def _ours(name: str) -> bool:
    # What a store writes: its manifest, shards, locks and temporaries.
    return (
        name == MANIFEST
        or name.startswith((FOLDER_LOCK, ".samples-", f".{MANIFEST}.", _PROBE))
        or SHARD_RE.match(name) is not None
    )


def check_out_dir(out_dir: str | Path) -> None:
    """Raise `OutputError` unless `out_dir` can become (or already is) a generation folder."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; --out names the output folder")
    base = path
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise OutputError(f"{path}: {base} is a file, so no folder can be made under it")
    try:
        fd, probe = tempfile.mkstemp(prefix=_PROBE, dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {base} ({e.strerror})") from None
    if path.is_dir() and not (path / MANIFEST).exists():
        foreign = sorted(n for n in os.listdir(path) if not _ours(n))
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise OutputError(
                f"{path}: folder holds files this command did not write ({shown}) and no "
                f"{MANIFEST}; choose a new or empty --out"
            )
