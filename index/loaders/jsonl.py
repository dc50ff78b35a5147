"""JSON Lines (plain or gzip-compressed, streamed) and JSON (a list of records, or one)."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from index.errors import InputError
from index.loaders.decoding import _SNIFF_BYTES, _decoded_text
from index.loaders.fields import _from_record
from index.loaders.items import _Item, _Unreadable
from index.loaders.limits import _Budget
from index.loaders.streaming import _numbered_lines, _open_binary


def _read_jsonl(path: Path, budget: _Budget | None = None) -> Iterator[_Item]:
    """One record per line; streamed, so multi-gigabyte dumps load in constant memory. `budget` bounds
    the bytes read (after gunzip); without one (a .json file read as JSON Lines, whose size was checked)
    there is no bound."""
    try:
        with _open_binary(path) as stream:
            if b"\x00" in stream.read(_SNIFF_BYTES):
                yield _Unreadable(str(path), "binary file")
                return
        with _open_binary(path) as stream:
            for lineno, line in _numbered_lines(stream, str(path), budget):
                yield from _jsonl_line(f"{path}:{lineno}", line, first=lineno == 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        yield InputError(str(path), f"not a valid gzip file: {exc}")


def _jsonl_line(origin: str, raw: bytes, *, first: bool) -> Iterator[_Item]:
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        yield InputError(origin, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
        return
    line = line.rstrip("\r\n")  # else a record cut short is reported at column 1 of "line 2"
    if not line.strip():
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        yield InputError(origin, f"invalid JSON: {exc.msg} (column {exc.colno})")
    except (ValueError, RecursionError) as exc:  # digit-limit and nesting-depth guards
        yield InputError(origin, f"invalid JSON: {exc}")
    else:
        yield _from_record(record, origin)


def _read_json(path: Path) -> Iterator[_Item]:
    """A list of article objects, or one object; JSON Lines saved as .json is read as such."""
    text = yield from _decoded_text(path)
    if text is None:
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            yield from _read_jsonl(path)
        else:
            yield InputError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})")
        return
    except (ValueError, RecursionError) as exc:
        yield InputError(str(path), f"invalid JSON: {exc}")
        return
    if not isinstance(data, list):
        yield _from_record(data, str(path), default_id=path.stem)
        return
    for number, record in enumerate(data, start=1):
        yield _from_record(record, f"{path}#item{number}")
