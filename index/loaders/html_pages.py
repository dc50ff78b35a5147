"""HTML pages: trafilatura finds the main text and the metadata (title, date, site, author)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import trafilatura
from trafilatura.settings import Document

from index.dates import MIN_YEAR
from index.loaders.decoding import _decoded_text
from index.loaders.fields import _optional_date
from index.loaders.items import Skipped, _Draft, _Item, _Warning
from index.loaders.text import _drop_repeated_title, strip_markdown


def _read_html(path: Path) -> Iterator[_Item]:
    markup = yield from _decoded_text(path)
    if markup is None:
        return
    document = trafilatura.bare_extraction(
        markup, with_metadata=True, include_comments=False, include_formatting=True,
        date_extraction_params=_HTML_DATE_PARAMS,
    )  # fmt: skip
    if not isinstance(document, Document):  # None when no main text was found
        yield Skipped(str(path), "empty text")
        return
    title = str(document.title or "")
    published_at, problem = _optional_date(_html_date(document.date))
    if problem:
        yield _Warning(f"{path}: {problem}; date dropped")
    metadata = {"author": str(document.author)} if document.author else {}
    yield _Draft(
        str(path),
        _drop_repeated_title(title, strip_markdown(str(document.text or ""))),
        title=title,
        id=path.stem,
        published_at=published_at,
        source=document.sitename or document.hostname,
        url=document.url,
        metadata=metadata,
    )


# Passing our own parameters replaces trafilatura's defaults, which drop dates before 1995
# and keep only the day.
_HTML_DATE_PARAMS = {
    "original_date": True,
    "extensive_search": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    "min_date": f"{MIN_YEAR}-01-01",
}


def _html_date(value: object) -> object:
    """htmldate pads a day-only date to a naive midnight; turn that back into just the day."""
    if isinstance(value, str) and value.endswith("T00:00:00"):
        return value[:10]
    return value
