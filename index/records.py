"""Typed records that flow through the pipeline: articles in, chunks out."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any


def stable_hash(*parts: str, length: int = 16) -> str:
    """Hex digest of the parts joined unambiguously; ids are content hashes."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:length]


# Article ids appear in URLs (GET /api/articles/{id}), on command lines and in terminal output. A "/" is
# fine (the API's article routes take the rest of the path, and feed entries and many archives use URLs
# as ids), but a "." or ".." between slashes is not: clients resolve such dot segments away before
# sending, so the article could never be fetched or deleted over HTTP. Controls, format characters (a
# right-to-left override shows an id other than the one stored) and line or paragraph separators make an
# id impossible to type or easy to mistake.
_ID_UNSAFE_CATEGORIES = {"Cc": "control", "Cf": "format", "Zl": "line separator", "Zp": "paragraph separator"}
_ID_SHOWN_CHARS = 80
_ID_RULE = (
    "an id may not hold control, format or line/paragraph separator characters, nor '.' or '..' "
    "between slashes"
)


def _unsafe_in_id(char: str) -> bool:
    return unicodedata.category(char) in _ID_UNSAFE_CATEGORIES


def _shown(article_id: str) -> str:
    shown = repr(article_id)
    return shown if len(shown) <= _ID_SHOWN_CHARS else shown[: _ID_SHOWN_CHARS - 4] + "...'"


def id_problem(article_id: str) -> str | None:
    """Why `article_id` cannot be an article id as given, naming the first bad character or segment
    and showing the value escaped; None when it can be one."""
    bad = next((char for char in article_id if _unsafe_in_id(char)), None)
    if bad is not None:
        kind = _ID_UNSAFE_CATEGORIES[unicodedata.category(bad)]
        name = unicodedata.name(bad, "")
        what = f"the {kind} character U+{ord(bad):04X}" + (f" {name}" if name else "")
        where = f" at character {article_id.index(bad) + 1}"
        return f"field 'id' contains {what}{where}; {_ID_RULE}: {_shown(article_id)}"
    if dots := next((part for part in article_id.split("/") if part in (".", "..")), None):
        return (
            f"field 'id' has the path segment {dots!r}, which a URL cannot carry; {_ID_RULE}: "
            f"{_shown(article_id)}"
        )
    return None


def safe_id(candidate: str) -> str:
    """An id derived from something the user did not choose as one (a file name, a feed entry's id),
    with every character and segment `id_problem` refuses replaced by "_"."""
    cleaned = "".join("_" if _unsafe_in_id(char) else char for char in candidate)
    return "/".join("_" * len(part) if part in (".", "..") else part for part in cleaned.split("/"))


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
