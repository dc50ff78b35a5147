"""Typed records that flow through the pipeline: articles in, chunks out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


def stable_hash(*parts: str, length: int = 16) -> str:
    """Hex digest of the parts joined unambiguously; ids are content hashes."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:length]


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned news article as loaded from a file.

    `published_at` is ISO 8601 (a date, or a UTC date-time) or None; `origin` names
    the file (and line) it came from, so every later message can point back to it.
    """

    id: str
    title: str
    text: str
    published_at: str | None = None
    source: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str = ""

    @property
    def content_hash(self) -> str:
        """Changes whenever anything stored about the article changes."""
        meta = json.dumps(self.metadata, sort_keys=True, ensure_ascii=False, default=str)
        return stable_hash(
            self.title, self.text, self.published_at or "", self.source or "", self.url or "", meta
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    """A token-counted passage of an article; `start`/`end` index the article's cleaned text."""

    id: str
    article_id: str
    ordinal: int
    text: str
    start: int
    end: int
    token_count: int
