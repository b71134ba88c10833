"""Check an output folder before any model loads: writable, and ours to write into."""

from __future__ import annotations

import os
from pathlib import Path

from reasoning_distill.atomic import check_replaceable
from reasoning_distill.errors import OutputError


def check_out_dir(out: str | Path, marker: str, flag: str = "--out") -> Path:
    """Refuse an `out` that is a file, lies under a file, cannot be written, or is a non-empty
    folder without `marker` (something this command did not write). Creates nothing."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputError(f"{flag} {out}: exists and is not a folder; choose another {flag}")
        check_replaceable(out, marker)
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputError(f"{flag} {out}: the folder is not writable")
        return out
    parent = out.parent
    while not parent.exists():
        if parent.is_symlink():
            raise OutputError(f"{flag} {out}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{flag} {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {out}: cannot create it, {parent} is not writable")
    return out
