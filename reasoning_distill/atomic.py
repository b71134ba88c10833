"""Write files and folders so that a kill or a full disk never leaves half of one.

Files: write a temporary sibling, fsync it, rename it over the target, fsync the folder.
Folders: `replace_dir` renames the old folder aside, renames the new one in, then removes the
old one, and it replaces only a folder that carries this project's marker file, so a command
never deletes a folder it did not write. `clean_stale_temporaries` removes our own temporary
siblings left by a killed process (their names carry the writer's pid).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from reasoning_distill.errors import OutputError

logger = logging.getLogger(__name__)

_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)$")


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside `path` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_sibling(path: str | Path, tag: str = "tmp") -> Path:
    """`.NAME.tmp-PID` beside `path`: recognisably ours, and stale once PID is gone."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}")


def write_aside(path: str | Path, data: bytes) -> Path:
    """`data` written and fsynced to a temporary sibling of `path`, for `publish` to rename in
    (a caller that records the file elsewhere between the two steps). Removed if it fails."""
    return _write_aside_with(path, lambda f: f.write(data))


def _write_aside_with(path: str | Path, fill: Callable[[BinaryIO], Any]) -> Path:
    """A temporary sibling of `path` that `fill` wrote, fsynced; removed if anything fails."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        with open(tmp, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as e:
        tmp.unlink(missing_ok=True)  # our own temporary, never the target
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror, str(path)) from e  # a full disk names no file
        raise
    return tmp


def publish(tmp: str | Path, path: str | Path) -> Path:
    """Rename the finished temporary `tmp` over `path`, durably."""
    path = Path(path)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Replace `path` with `data`: readers see the old file or the new one, never a part."""
    return publish(write_aside(path, data), path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, **dump_kwargs: Any) -> Path:
    """Replace `path` with `obj` as JSON (indent 2 unless told). Streamed to the file as it
    is encoded: `json.dumps` would hold the text and every piece of it at once, several times
    the size of `obj` for a large results file."""
    dump_kwargs.setdefault("indent", 2)

    def fill(f: BinaryIO) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", write_through=False)
        try:
            json.dump(obj, text, **dump_kwargs)
            text.write("\n")
            text.flush()
        finally:
            text.detach()  # `f` stays open for the fsync

    return publish(_write_aside_with(path, fill), path)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(parent: str | Path, name: str | None = None) -> list[Path]:
    """Remove `.NAME.tmp-PID` / `.NAME.old-PID` siblings in `parent` whose writer is gone.

    Only names of our own pattern are touched, and only when their pid no longer runs. With
    `name`, only temporaries of that target. Returns what was removed.
    """
    parent = Path(parent)
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        m = _TMP_RE.match(entry.name)
        if not m or (name is not None and m["name"] != name) or _pid_alive(int(m["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
        logger.info("removed a stale temporary left by a killed run: %s", entry)
    return removed


def check_replaceable(target: str | Path, marker: str) -> None:
    """Raise `OutputError` unless `target` is absent, an empty folder, or carries `marker`.

    Call this before any expensive work, so a wrong `--out` is refused at once.
    """
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    if target.is_symlink() or not target.is_dir():
        raise OutputError(
            f"{target}: exists and is not a folder this command wrote; choose another --out"
        )
    if (target / marker).is_file() or not any(target.iterdir()):
        return
    raise OutputError(
        f"{target}: folder exists and was not written by this command (no {marker}); "
        "it is left untouched: choose a new or empty --out"
    )


def replace_dir(new: str | Path, target: str | Path, marker: str) -> Path:
    """Move the finished folder `new` to `target`, replacing an older one of ours.

    `marker` is a file name that every folder this command writes contains; a `target` without
    it (and not empty) is refused with `OutputError` and nothing is touched. The old folder is
    renamed aside before the new one is renamed in, so at every instant `target` is either the
    old folder or the new one; the old one is removed last.
    """
    new, target = Path(new), Path(target)
    if not (new / marker).is_file():
        raise ValueError(f"{new}: has no {marker}; refusing to install it as {target}")
    check_replaceable(target, marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = temp_sibling(target, "old")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)  # put the old one back
        raise
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # our own previous output, set aside above
    clean_stale_temporaries(target.parent, target.name)
    return target


@contextmanager
def renamed_into_place(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of `path` (`temp_sibling`, absent at entry) for the body to write,
    a file or a folder; renamed over `path` when the body returns, removed when it raises,
    so `path` is the whole new one or left as it was. A folder at `path` must be empty or
    moved away by the body first (a rename does not replace a non-empty folder)."""
    path = Path(path)
    tmp = temp_sibling(path)
    _remove(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)  # our own temporary, never the target
        raise
    fsync_dir(path.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
