"""A progress bar for the commands that embed (ingest, eval --corpus, train-reader)."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from index.ingest import ProgressCallback
from newsdesk_app.cli.errors import stderr


class IngestProgress:
    """A progress bar on stderr with chunks/s and articles/s, shown only while embedding runs."""

    def __enter__(self) -> ProgressCallback:
        self._bar = Progress(
            TextColumn("embedding"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("chunks"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        )
        self._task: Any = None
        return self.update

    def update(self, done: int, total: int, articles_done: int, articles: int) -> None:
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task("embed", total=total, rate="")
        elapsed = self._bar.tasks[0].elapsed or 0.0
        rate = ""
        if elapsed > 0:
            rate = f"{done / elapsed:.1f} chunks/s, ≈{articles_done}/{articles} articles "
            rate += f"({articles_done / elapsed:.1f}/s)"
        self._bar.update(self._task, completed=done, rate=rate)

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._bar.stop()
