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
from typing import Any

from reasoning_distill.errors import InputError

FIELD = "made_by"
_ROW_FIELDS = ("engine", "model")


class ProvenanceError(InputError):
    """A stored record was not made by the run its folder's manifest describes."""


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

    def _fix(self, what: str) -> str:
        return (
            f"{what}; move that file out of the folder (or regenerate into a new folder): "
            f"only records made with {self.manifest}'s settings count"
        )

    def _check_made_by(self, row: dict[str, Any], where: str, what: str) -> None:
        got = row.get(FIELD)
        if got is None:
            if self.legacy:
                return
            raise ProvenanceError(
                f"{where}: {what} has no {FIELD!r} while {self.manifest} has a provenance: "
                + self._fix(
                    "not written by this folder's store (copied in, or written by a "
                    "version before provenance)"
                )
            )
        if got != self.made_by:
            raise ProvenanceError(
                f"{where}: {what} was made by another generation run ({FIELD} {got!r}, this "
                f"folder's is {self.made_by!r}): " + self._fix("copied from another folder?")
            )

    def check_sample(self, row: dict[str, Any], where: str) -> None:
        """Refuse a sample row (a decoded shard row) this folder's run did not make."""
        for name in _ROW_FIELDS:
            if name in self.identity and row.get(name) != self.identity[name]:
                raise ProvenanceError(
                    f"{where}: sample {name} {row.get(name)!r} is not {self.manifest}'s "
                    f"{self.identity[name]!r}: " + self._fix("edited, or from another run")
                )
        want = self.identity.get("sampling")
        got = row.get("sampling")
        if isinstance(want, dict) and isinstance(got, dict):
            for key in sorted(got):
                if key in want and got[key] != want[key]:
                    raise ProvenanceError(
                        f"{where}: sample sampling.{key} {got[key]!r} is not {self.manifest}'s "
                        f"{want[key]!r}: " + self._fix("made with other settings")
                    )
        n = want.get("n") if isinstance(want, dict) else None
        index = row.get("sample_index")
        if isinstance(n, int) and isinstance(index, int) and not 0 <= index < n:
            raise ProvenanceError(
                f"{where}: sample_index {index} is outside {self.manifest}'s n={n} (0 to "
                f"{n - 1}): " + self._fix("not made by this run")
            )
        self._check_made_by(row, where, "the sample")

    def check_verdict(self, row: dict[str, Any], where: str) -> None:
        """Refuse a verdict row that judged a sample of another run."""
        self._check_made_by(row, where, "the verdict")
