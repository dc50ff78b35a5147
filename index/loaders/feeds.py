"""RSS and Atom: one article per entry, its HTML content turned into plain paragraphs."""

from __future__ import annotations

import html
import io
import re
import sys
from collections.abc import Generator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser

from index.errors import InputError
from index.loaders.decoding import _decode
from index.loaders.fields import _optional_date
from index.loaders.items import Skipped, _Draft, _Item, _Unreadable, _Warning


def _read_feed(path: Path) -> Iterator[_Item]:
    data = yield from _feed_bytes(path)
    if data is None:
        return
    # Always a stream: feedparser treats a str or bytes argument as a URL or file name first.
    try:
        parsed = feedparser.parse(io.BytesIO(data))
    except (ValueError, OverflowError) as exc:
        yield _unreadable_feed(path, data, exc)
        return
    if not parsed.entries:
        empty_feed = parsed.get("version") and not parsed.get("bozo")
        if empty_feed:
            yield Skipped(str(path), "feed has no entries")
        else:
            yield _Unreadable(str(path), "not an RSS/Atom feed")
        return
    if parsed.get("bozo"):
        yield _Warning(f"{path}: feed is not well-formed ({parsed.get('bozo_exception')}); read what parsed")
    source = parsed.feed.get("title") or None
    for number, entry in enumerate(parsed.entries, start=1):
        yield from _feed_entry(entry, f"{path}#entry{number}", source)


_CHARACTER_REFERENCE = re.compile(r"&#([xX][0-9a-fA-F]+|[0-9]+);")


def _unreadable_feed(path: Path, data: bytes, exc: Exception) -> InputError:
    """feedparser turns each `&#...;` into a character with an unchecked chr(), so a reference to a
    surrogate or past U+10FFFF raises from inside it: name the first such reference and its line."""
    text = data.decode("utf-8", "replace")
    for match in _CHARACTER_REFERENCE.finditer(text):
        number = match.group(1)
        digits = number.lstrip("xX").lstrip("0") or "0"
        code = int(digits, 16 if number[0] in "xX" else 10) if len(digits) <= 8 else sys.maxsize
        if code > sys.maxunicode or 0xD800 <= code <= 0xDFFF:
            line = text.count("\n", 0, match.start()) + 1
            return InputError(
                f"{path}:{line}",
                f"invalid character reference {match.group()}: no such character, so the feed cannot be read",
            )
    return InputError(str(path), f"cannot read the feed: {exc}")


def _feed_bytes(path: Path) -> Generator[_Item, None, bytes | None]:
    """The bytes to hand feedparser, which honours BOMs and XML declarations by itself."""
    raw = path.read_bytes()
    decoded = _decode(raw)
    if decoded is None:
        yield _Unreadable(str(path), "binary file")
        return None
    text, guessed = decoded
    if not guessed:
        return raw
    yield _Warning(f"{path}: not valid UTF-8; decoded as {guessed}")
    return text.encode("utf-8")


def _feed_entry(entry: Any, origin: str, source: str | None) -> Iterator[_Item]:
    content = entry.get("content")
    markup = content[0].get("value", "") if content else entry.get("summary", "")
    # dict.get: feedparser's own get maps a missing updated_parsed to published_parsed, with a warning.
    published_at, problem = _optional_date(entry.get("published_parsed") or dict.get(entry, "updated_parsed"))
    if problem:
        yield _Warning(f"{origin}: {problem}; date dropped")
    yield _Draft(
        origin,
        html_to_text(str(markup or "")),
        title=str(entry.get("title") or ""),
        id=str(entry.get("id") or "").strip() or None,
        published_at=published_at,
        source=source,
        url=entry.get("link"),
        metadata={"author": str(entry.author)} if entry.get("author") else {},
    )


_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure"}
    | {"footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol"}
    | {"p", "pre", "section", "table", "tr", "ul"}
)
_HIDDEN_TAGS = frozenset({"script", "style", "template", "noscript"})


class _TextCollector(HTMLParser):
    """Visible text of an HTML fragment, with a blank line wherever a block element ends."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Plain text of feed content; paragraphs stay separated so chunking can respect them."""
    if "<" not in markup:
        return html.unescape(markup)
    collector = _TextCollector()
    try:
        collector.feed(markup)
        collector.close()
    except AssertionError:  # html.parser's reaction to some malformed declarations
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(collector.parts)
