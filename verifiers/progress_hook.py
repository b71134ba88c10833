"""Progress for batch verifiers, without importing the rest of the project.

`progress` may be False/None (nothing), True (a rich bar on stderr: the caller asked for it),
or any object with `task(description, total)` returning a context manager whose `advance(n)`
counts, such as `reasoning_distill.progress.Progress` implementations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class _Null:
    def advance(self, n: int = 1, **fields: object) -> None:
        pass


@contextlib.contextmanager
def progress_task(progress: Any, description: str, total: int) -> Iterator[Any]:
    if not progress:
        yield _Null()
    elif progress is True:
        from rich.progress import Progress

        with Progress(transient=False) as bar:
            tid = bar.add_task(description, total=total)

            class _Rich:
                def advance(self, n: int = 1, **fields: object) -> None:
                    bar.advance(tid, n)

            yield _Rich()
    else:
        with progress.task(description, total) as t:
            yield t
