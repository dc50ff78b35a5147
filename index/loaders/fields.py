"""A record's fields (with their common aliases) onto a draft, refusing what the index cannot store.

Shared by every reader that has named fields: JSON Lines and JSON, Markdown front matter, the API.
"""

from __future__ import annotations

import re
from typing import Any

from index.dates import normalize_date
from index.errors import InputError
from index.loaders.items import _Draft
from index.records import id_problem

_TEXT_KEYS = ("text", "content", "body")
_DATE_KEYS = ("published_at", "date", "published")
_SOURCE_KEYS = ("source", "outlet")
_URL_KEYS = ("url", "link")
# Values stored as given (id, url, metadata) nested deeper than this are refused: far past any real
# metadata, and well short of the depth where encoding them as JSON exhausts Python's recursion limit.
MAX_FIELD_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_TYPES = {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}


def _from_record(record: object, origin: str, *, default_id: str | None = None) -> _Draft | InputError:
    """Map a record's fields (with their common aliases) onto a draft; the rest is metadata."""
    if not isinstance(record, dict):
        return InputError(origin, f"expected a JSON object, got {_json_type(record)}")
    fields = dict(record)
    try:
        text_key, text = _pop_alias(fields, _TEXT_KEYS)
        if text_key is None:
            raise ValueError("missing field 'text' (or 'content'/'body')")
        if not isinstance(text, str):
            raise ValueError(f"field {text_key!r} must be a string, got {_json_type(text)}")
        title, source, url = (
            _optional_string(fields, keys) for keys in (("title",), _SOURCE_KEYS, _URL_KEYS)
        )
        article_id = _record_id(fields.pop("id", None)) or default_id
        date_key, date_value = _pop_alias(fields, _DATE_KEYS)
        published_at = normalize_date(date_value, field=date_key or "published_at")
        for key in dict.fromkeys(("id", *_URL_KEYS, *fields)):  # stored as given, not cleaned
            if isinstance(key, str) and (found := _SURROGATE.search(key)):
                raise ValueError(
                    f"the field name {key!a} contains an unpaired surrogate {found.group()!a}, which is "
                    "not a character"
                )
            if key in record:
                _check_storable(key, record[key])
    except ValueError as exc:
        return InputError(origin, str(exc))
    return _Draft(origin, text, title or "", article_id, published_at, source, url, fields)


def _check_storable(key: str, value: object) -> None:
    """Refuse what the index cannot store: an unpaired surrogate (a JSON "\\ud800" escape from a
    UTF-16 string cut in half) is not UTF-8, and too deep a value cannot be encoded as JSON."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str) and (found := _SURROGATE.search(item)):
            raise ValueError(
                f"field {key!r} contains an unpaired surrogate {found.group()!a}, which is not a character"
            )
        if isinstance(item, list | dict):
            if depth >= MAX_FIELD_DEPTH:
                raise ValueError(f"field {key!r} is nested more than {MAX_FIELD_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def _pop_alias(fields: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    """Remove and return the first alias that has a value (else the first one present)."""
    present = [name for name in names if name in fields]
    chosen = next((name for name in present if fields[name] is not None), present[0] if present else None)
    return (chosen, fields.pop(chosen)) if chosen else (None, None)


def _optional_string(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    key, value = _pop_alias(fields, names)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string or null, got {_json_type(value)}")
    return value


def _record_id(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"field 'id' must be a string or integer, got {_json_type(value)}")
    if problem := id_problem(str(value).strip()):
        raise ValueError(problem)
    return str(value).strip()


def _json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _optional_date(value: object) -> tuple[str | None, str | None]:
    """A date from metadata we do not control: a bad one is dropped with a message, not fatal."""
    try:
        return normalize_date(value), None
    except ValueError as exc:
        return None, str(exc)
