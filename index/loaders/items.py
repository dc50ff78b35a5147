"""What the readers yield, and what one load returns.

A reader yields drafts (articles as read), skips, errors and warnings in the order it meets them;
`load.py` cleans the drafts into Articles and keeps the rest, bounded, in a LoadResult.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import InputError
from index.records import Article


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file or record deliberately not loaded, with the reason shown to the user."""

    origin: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Unreadable(Skipped):
    """A whole file that cannot be read as articles (binary, of no supported kind, not a feed, not a
    regular file): skipped when found by walking a folder, an error when it was named itself."""


@dataclass(slots=True)
class LoadResult:
    """Everything one load produced; errors are collected so the caller can choose to stop."""

    articles: list[Article]
    skipped: list[Skipped]  # the first LoadLimits.max_listed of each list; the counts have them all
    errors: list[InputError]
    warnings: list[str]
    skipped_count: int = 0
    error_count: int = 0
    warning_count: int = 0


@dataclass(slots=True)
class _Draft:
    """An article as read, before cleaning, id assignment and duplicate checks."""

    origin: str
    text: str
    title: str = ""
    id: str | None = None
    published_at: str | None = None
    source: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Warning:
    message: str


_Item = _Draft | Skipped | InputError | _Warning
_Reader = Callable[[Path], Iterator[_Item]]
