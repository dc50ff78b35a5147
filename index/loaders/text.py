"""Plain text and Markdown: the first line is the headline, unless front matter names one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index.cleaning import clean_title
from index.loaders.decoding import _decoded_text
from index.loaders.fields import _from_record
from index.loaders.items import _Draft, _Item

_MAX_TITLE_CHARS = 200  # a longer first line is a paragraph, not a headline


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*$\n?", re.DOTALL | re.MULTILINE)
_MARKDOWN = (
    (re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)"), ""),  # images
    (re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)"), r"\1"),  # links keep their text
    (re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+|$)", re.MULTILINE), ""),  # heading marks
    (re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE), ""),  # rules
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong emphasis
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *emphasis*
)


def _read_plain(path: Path) -> Iterator[_Item]:
    text = yield from _decoded_text(path)
    if text is not None:
        title, body = _split_title(text)
        yield _Draft(str(path), body, title=title, id=path.stem)


def _read_markdown(path: Path) -> Iterator[_Item]:
    """Front matter (if any) supplies the fields; otherwise the first line is the headline."""
    text = yield from _decoded_text(path)
    if text is None:
        return
    fields, body = _front_matter(text)
    body = strip_markdown(body)
    if fields.get("title"):
        body = _drop_repeated_title(fields["title"], body)
    else:
        fields["title"], body = _split_title(body)
    fields["text"] = body
    yield _from_record(fields, str(path), default_id=path.stem)


def strip_markdown(text: str) -> str:
    """Remove the light Markdown syntax that would otherwise end up in quoted passages."""
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return text


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields: dict[str, Any] = {}
    for line in match.group(1).split("\n"):
        key, colon, value = line.partition(":")
        if colon and key.strip() and not line[0].isspace():
            fields[key.strip().lower()] = value.strip().strip("\"'")
    return fields, text[match.end() :]


def _split_title(text: str) -> tuple[str, str]:
    """First non-empty line as the headline, unless it is too long to be one."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.strip():
            title = line.strip()
            if len(title) > _MAX_TITLE_CHARS:
                return "", text
            return title, "\n".join(lines[index + 1 :])
    return "", ""


def _drop_repeated_title(title: str, body: str) -> str:
    """Pages and posts often repeat the headline as their first line; keep it only once."""
    first, rest = _split_title(body)
    return rest if first and clean_title(first) == clean_title(title) else body
