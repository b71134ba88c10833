"""A rich-backed `Progress` for the CLI: one bar per task with count, rate, tokens/s and ETA."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _RichTask:
    def __init__(self, progress: Any, task_id: Any) -> None:
        self._progress = progress
        self._id = task_id
        self._t0 = time.perf_counter()
        self._tokens = 0
        self._done = 0

    def advance(self, n: int = 1, **fields: object) -> None:
        tokens = fields.pop("tokens", None)
        if isinstance(tokens, int):
            self._tokens += tokens
        self._done += n
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        # tokens/s where the task counts tokens (generation), else items/s
        rate = f"{(self._tokens or self._done) / elapsed:,.0f} {'tok' if self._tokens else 'it'}/s"
        self._progress.update(self._id, advance=n, rate=rate, **fields)


class RichProgress:
    """Draws rich progress bars on stderr; pass it wherever library code takes `progress`."""

    def __init__(self, transient: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=transient,
        )
        self._depth = 0

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[_RichTask]:
        if self._depth == 0:
            self._progress.start()
        self._depth += 1
        task_id = self._progress.add_task(description, total=total, rate="")
        try:
            yield _RichTask(self._progress, task_id)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._progress.stop()
