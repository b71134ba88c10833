"""What made a stored record: a short fingerprint of a generation folder's identity, and the
check every reader applies to a record before it counts.

A generation store's manifest names what its samples were made with (engine, model, sampling
settings with the seed and `n`, system prompt, input hash). The store writes the fingerprint
of that identity into the manifest (`provenance`) and into every record it writes
(`made_by`); a verdict store beside the shards writes the same fingerprint into every
verdict, since a verdict is only true of the sample it judged. Verdicts are keyed by
(`problem_id`, `sample_index`) alone, so without this a shard (or a verdicts file) copied in
from another run would be verified, looked up and trained on as if this run had made it.

A reader (`verify`, `build`, `eval`, a resumed `generate`) refuses, naming the file and row:
- a record whose `made_by` is not the folder's;
- a sample whose `engine` or `model`, or any sampling setting it names, differs from the
  manifest's (a hand-edited row), or whose `sample_index` is outside the manifest's `n`;
- a record without `made_by` in a folder whose manifest has a `provenance`.

Folders written before provenance existed (a manifest without `provenance`) stay readable:
their records carry no `made_by`, and are checked field by field against the manifest (the
engine, model, sampling and `n` checks above); records added to them later carry `made_by`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning_distill.errors import InputError

FIELD = "made_by"
_ROW_FIELDS = ("engine", "model")


class ProvenanceError(InputError):
    """A stored record was not made by the run its folder's manifest describes."""


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def fingerprint(identity: dict[str, Any]) -> str:
    """The short, stable fingerprint of a generation identity (the manifest's `identity`)."""
    blob = json.dumps(
        json.loads(json.dumps(identity)), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Provenance:
    """What every record in one generation folder must have been made by."""

    made_by: str
    identity: dict[str, Any]
    manifest: str  # the manifest's path, for messages
    legacy: bool = False  # the manifest predates provenance: records without `made_by` pass

    @classmethod
    def of_manifest(cls, manifest: dict[str, Any], where: str) -> Provenance:
        """The provenance a store manifest promises; `ProvenanceError` if it was edited."""
        identity = manifest.get("identity")
        if not isinstance(identity, dict):
            raise ProvenanceError(f"{where}: no 'identity' object: not a generation manifest")
        made_by = fingerprint(identity)
        stored = manifest.get("provenance")
        if stored is not None and stored != made_by:
            raise ProvenanceError(
                f"{where}: its identity no longer matches its provenance {stored!r} (edited by "
                "hand?): the folder's records cannot be told from another run's; regenerate "
                "into a new folder"
            )
        return cls(made_by, identity, where, legacy=stored is None)

    def _fix(self, what: str, verdict: bool) -> str:
        todo = (
            "Move that verdicts file out of the folder and verify again"
            if verdict
            else "Move that shard out of the folder, or regenerate into a new folder"
        )
        return f"{what}. {todo} (only records made with {self.manifest}'s settings count)"

    def _field_diffs(self, row: dict[str, Any]) -> list[str]:
        """How a sample row differs from the manifest's identity (engine, model, sampling, n)."""
        out = []
        for name in _ROW_FIELDS:
            if name in self.identity and row.get(name) != self.identity[name]:
                out.append(f"{name} {row.get(name)!r}, not {self.identity[name]!r}")
        want, got = self.identity.get("sampling"), row.get("sampling")
        if isinstance(want, dict) and isinstance(got, dict):
            # Only the settings the row names: a row may carry fewer than the manifest.
            out += [
                f"sampling.{k} {got[k]!r}, not {want[k]!r}"
                for k in sorted(got)
                if k in want and got[k] != want[k]
            ]
        n = want.get("n") if isinstance(want, dict) else None
        index = row.get("sample_index")
        if isinstance(n, int) and isinstance(index, int) and not 0 <= index < n:
            out.append(f"sample_index {index} is outside n={n} (0 to {n - 1})")
        return out

    def _check(self, row: dict[str, Any], where: str, verdict: bool, diffs: list[str]) -> None:
        what = "the verdict" if verdict else "the sample"
        got = row.get(FIELD)
        if got is not None and got != self.made_by:
            differs = f"; {'; '.join(diffs)}" if diffs else ""
            raise ProvenanceError(
                f"{where}: {what} was made by another generation run ({FIELD} {got!r}, this "
                f"folder's is {self.made_by!r}{differs}): "
                + self._fix("copied in from another folder?", verdict)
            )
        if diffs:
            raise ProvenanceError(
                f"{where}: {what} does not match {self.manifest} ({'; '.join(diffs)}): "
                + self._fix("edited by hand, or made by another run", verdict)
            )
        if got is None and not self.legacy:
            raise ProvenanceError(
                f"{where}: {what} has no {FIELD!r}, while {self.manifest} has a provenance: "
                + self._fix(
                    "not written by this folder's store (copied in, or written by a version "
                    "before provenance)",
                    verdict,
                )
            )

    def check_sample(self, row: dict[str, Any], where: str) -> None:
        """Refuse a sample row (a decoded shard row) this folder's run did not make."""
        self._check(row, where, False, self._field_diffs(row))

    def check_verdict(self, row: dict[str, Any], where: str) -> None:
        """Refuse a verdict row that judged a sample of another run."""
        self._check(row, where, True, [])
