"""Progress reporting without printing: the library reports, the CLI draws.

Library functions take an optional `progress: Progress`; the CLI passes one that draws rich
progress bars, tests and library users get `NullProgress` by default.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class Task(Protocol):
    def advance(self, n: int = 1, **fields: object) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int | None) -> AbstractContextManager[Task]: ...


class _NullTask:
    def advance(self, n: int = 1, **fields: object) -> None:
        pass

    def __enter__(self) -> _NullTask:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class NullProgress:
    """A progress sink that does nothing."""

    def task(self, description: str, total: int | None) -> _NullTask:
        return _NullTask()


def ensure(progress: Progress | None) -> Progress:
    return progress if progress is not None else NullProgress()
