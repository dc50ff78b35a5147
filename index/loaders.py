"""Read news articles from the files a user points at: JSON Lines, JSON, text, Markdown, HTML, RSS/Atom.

Archives are messy, so one bad record or file must not stop a load: malformed records become
`InputError`s and unusable files become `Skipped` entries, and the caller decides what to do
with them. Only a path that does not exist raises, before anything is read, because that is
almost always a typo on the command line.
"""

from __future__ import annotations

import codecs
import gzip
import html
import io
import json
import os
import re
import sys
import threading
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import charset_normalizer
import feedparser
import trafilatura
from trafilatura.settings import Document

from index.cleaning import clean_text, clean_title
from index.dates import MIN_YEAR, normalize_date
from index.errors import InputError, MissingPathError, NewsdeskError
from index.records import Article, id_problem, safe_id, stable_hash


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

_SNIFF_BYTES = 8192
_MAX_TITLE_CHARS = 200  # a longer first line is a paragraph, not a headline
_TEXT_KEYS = ("text", "content", "body")
_DATE_KEYS = ("published_at", "date", "published")
_SOURCE_KEYS = ("source", "outlet")
_URL_KEYS = ("url", "link")
# Values stored as given (id, url, metadata) nested deeper than this are refused: far past any real
# metadata, and well short of the depth where encoding them as JSON exhausts Python's recursion limit.
MAX_FIELD_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_TYPES = {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}

# Bounds on the work of one load, so that a small input cannot make a large one: 9 KB of gzip holds
# 3.1 million `{}` lines, 1 MB holds 1 GiB of newlines. Problems past the first MAX_LISTED of each
# kind are counted, not kept. The defaults are the command line's, where the files are the user's own:
# far past any real archive (the RealTime QA dev corpus is 4,395 articles, 40 MB unpacked) and past
# what one load can hold in memory anyway, yet a bomb stops. The server passes its own, lower ones.
MAX_LISTED = 20
DEFAULT_MAX_RECORDS = 10_000_000
DEFAULT_MAX_DECOMPRESSED_BYTES = 16 * 1024**3
_READ_BLOCK = 1024 * 1024
_NOT_BLANK = re.compile(rb"[^ \t\n\r\f\v]")


class LimitExceeded(NewsdeskError):
    """An input asks for more work than a limit allows: the load stops there and nothing is written.
    `errors` (the first few) and `error_count` are the records found unreadable before it stopped."""

    def __init__(
        self,
        origin: str,
        problem: str,
        setting: str,
        errors: Sequence[InputError] = (),
        error_count: int = 0,
    ) -> None:
        message = f"{origin}: {problem} ({setting}); nothing was written"
        if error_count:
            message += f"; {error_count} of the records read before it could not be read"
        super().__init__(message)
        self.origin, self.problem, self.setting = origin, problem, setting
        self.errors, self.error_count = list(errors), error_count


class Cancelled(NewsdeskError):
    """Work stopped on request (its client went away, or the server is stopping); nothing was written."""


def check_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(
            "the ingest was stopped (its client went away, or the server is stopping); nothing was written"
        )


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """How much one load may read. The settings are named in the error, so that a user who meets a limit
    knows what to change: the command line's flags by default, the server's environment variables."""

    max_records: int = DEFAULT_MAX_RECORDS  # records of every file together, unreadable ones included
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES  # of each file, as read after gunzip
    max_listed: int = MAX_LISTED  # of each of errors, skipped and warnings; the rest are counted
    records_setting: str = "--max-records"
    bytes_setting: str = "--max-decompressed-bytes"


class _Budget:
    """A load's work so far against its limits; checked as it goes, with the cancellation."""

    def __init__(self, limits: LoadLimits, cancel: threading.Event | None) -> None:
        self.limits = limits
        self.cancel = cancel
        self.records = 0

    def count_record(self, origin: str) -> None:
        self.records += 1
        if self.records > self.limits.max_records:
            problem = f"more than {self.limits.max_records} records in one ingest"
            raise LimitExceeded(origin, problem, self.limits.records_setting)

    def check_bytes(self, origin: str, size: int) -> None:
        check_cancelled(self.cancel)
        if size > self.limits.max_decompressed_bytes:
            limit = self.limits.max_decompressed_bytes
            problem = f"more than {limit} bytes in one file (decompressed)"
            raise LimitExceeded(origin, problem, self.limits.bytes_setting)


def load_paths(
    paths: Sequence[str | Path],
    *,
    limit: int | None = None,
    follow_symlinks: bool = False,
    limits: LoadLimits | None = None,
    cancel: threading.Event | None = None,
    relative_to: Path | None = None,
) -> LoadResult:
    """Load every supported file under `paths`, stopping after `limit` articles.

    Raises MissingPathError before reading anything if a path does not exist; every other
    problem ends up in the result, so a load over a large archive always finishes. A file named in
    `paths` that cannot be read is an error; one found by walking a folder is skipped with the reason.
    A symbolic link met while walking a folder is followed only when it stays inside that folder,
    unless `follow_symlinks`; one that leaves it is skipped, naming where it points.

    Raises LimitExceeded when the load would read more than `limits` allow, and Cancelled once `cancel`
    is set. With `relative_to` (a folder of uploads, which a reply must not reveal) the files under it
    are named relative to it in every origin and message.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    roots = [Path(path) for path in paths]
    for root in roots:
        if not root.exists():
            raise MissingPathError(f"{root}: no such file or directory")
    result = LoadResult(articles=[], skipped=[], errors=[], warnings=[])
    if limit == 0:
        return result
    seen: dict[str, str] = {}
    budget = _Budget(limits or LoadLimits(), cancel)
    hidden = None if relative_to is None else f"{relative_to}{os.sep}"
    items = _items(roots, follow_symlinks, budget)
    try:
        for item in items:
            if hidden is not None:
                item = _relative(item, hidden)
            if not isinstance(item, _Warning):
                check_cancelled(cancel)
                budget.count_record(item.origin)
            _collect(item, result, seen, budget.limits.max_listed)
            if limit is not None and len(result.articles) >= limit:
                break
    except LimitExceeded as exc:
        origin = exc.origin if hidden is None else _without(exc.origin, hidden)
        raise LimitExceeded(origin, exc.problem, exc.setting, result.errors, result.error_count) from None
    finally:
        items.close()  # closes the file a reader still holds open when the limit is hit
    return result


def load_records(
    records: Sequence[object],
    *,
    origin: str = "articles",
    limits: LoadLimits | None = None,
    cancel: threading.Event | None = None,
) -> LoadResult:
    """Articles given as JSON objects (the JSONL schema), as the HTTP API receives them.

    Each problem names the record as `origin[i]` and the field, exactly as for a JSONL line. More
    records than `limits.max_records` raise LimitExceeded before any is read.
    """
    limits = limits or LoadLimits()
    if len(records) > limits.max_records:
        problem = f"{len(records)} records is over the limit of {limits.max_records}"
        raise LimitExceeded(origin, problem, limits.records_setting)
    result = LoadResult(articles=[], skipped=[], errors=[], warnings=[])
    seen: dict[str, str] = {}
    for position, record in enumerate(records):
        check_cancelled(cancel)
        _collect(_from_record(record, f"{origin}[{position}]"), result, seen, limits.max_listed)
    return result


def _items(roots: list[Path], follow_symlinks: bool, budget: _Budget) -> Generator[_Item, None, None]:
    for found, named in _files(roots, follow_symlinks):
        reading = _read_file(found, budget) if isinstance(found, Path) else iter([found])
        try:
            for item in reading:
                if isinstance(item, _Unreadable):
                    # A file named on the command line (or uploaded) was meant to be read, so that it
                    # cannot be is an error; a folder may well hold files that are not articles.
                    yield InputError(item.origin, item.reason) if named else Skipped(item.origin, item.reason)
                else:
                    yield item
        finally:
            if isinstance(reading, Generator):
                reading.close()  # the file a reader holds open, when the caller stops early


def _collect(item: _Item, result: LoadResult, seen: dict[str, str], listed: int) -> None:
    """Keep the item; of problems, only the first `listed` of each kind, and a count of them all."""
    if isinstance(item, _Draft):
        outcome = _finish(item, seen)
        if isinstance(outcome, Article):
            result.articles.append(outcome)
            return
        item = outcome
    if isinstance(item, Skipped):
        result.skipped_count += 1
        if len(result.skipped) < listed:
            result.skipped.append(item)
    elif isinstance(item, InputError):
        result.error_count += 1
        if len(result.errors) < listed:
            result.errors.append(item)
    else:
        result.warning_count += 1
        if len(result.warnings) < listed:
            result.warnings.append(item.message)


def _relative(item: _Item, hidden: str) -> _Item:
    """The item with the folder `hidden` taken off the start of the origin (or message) naming its file."""
    if isinstance(item, _Warning):
        return _Warning(_without(item.message, hidden))
    if not item.origin.startswith(hidden):
        return item
    if isinstance(item, _Draft):
        item.origin = _without(item.origin, hidden)
        return item
    if isinstance(item, InputError):
        return InputError(_without(item.origin, hidden), item.reason)
    return type(item)(_without(item.origin, hidden), item.reason)


def _without(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def _finish(draft: _Draft, seen: dict[str, str]) -> Article | Skipped:
    """Clean the draft and give it an id; ids repeat only when the same article is loaded twice."""
    text = clean_text(draft.text)
    if not text:
        return Skipped(draft.origin, "empty text")
    url = (draft.url or "").strip() or None
    # A file name that is not UTF-8 reaches here surrogate-escaped, which cannot be stored as text.
    origin = _SURROGATE.sub("\ufffd", draft.origin)
    # An id given in a record was checked (_record_id); one taken from a file name or a feed entry is
    # not the user's choice, so what an id may not hold is replaced rather than refused.
    article_id = safe_id(_SURROGATE.sub("\ufffd", draft.id or "")) or stable_hash(url or text)
    if article_id in seen:
        return Skipped(draft.origin, f"duplicate id {article_id!r} (first seen at {seen[article_id]})")
    seen[article_id] = origin
    return Article(
        id=article_id,
        title=clean_title(draft.title),
        text=text,
        published_at=draft.published_at,
        source=clean_title(draft.source or "") or None,
        url=url,
        metadata=draft.metadata,
        origin=origin,
    )


# --- finding files -----------------------------------------------------------------------------


def _files(roots: list[Path], follow_symlinks: bool) -> Iterator[tuple[Path | Skipped, bool]]:
    """Files under the roots in a stable order, each once even when named twice, and whether it was
    named itself rather than found in a folder."""
    seen: set[Path] = set()
    for root in roots:
        named = not root.is_dir()
        candidates = iter([root]) if named else _walk(root, root, root.resolve(), set(), follow_symlinks)
        for candidate in candidates:
            if isinstance(candidate, Skipped):
                yield candidate, named
            elif not candidate.is_file():
                yield _Unreadable(str(candidate), "not a regular file"), named
            elif (key := candidate.resolve()) not in seen:
                seen.add(key)
                yield candidate, named


def _walk(
    directory: Path, root: Path, top: Path, visited: set[Path], follow_symlinks: bool
) -> Iterator[Path | Skipped]:
    """Sorted recursive listing of `root` (`top` once resolved) without hidden entries. A symbolic link
    out of `top` is skipped, naming its target, unless `follow_symlinks`: a link to /etc/passwd in an
    archive someone sent is not an article of theirs. `visited` stops symlink loops."""
    real = directory.resolve()
    if real in visited:
        return
    visited.add(real)
    try:
        children = sorted(directory.iterdir())
    except OSError as exc:
        yield Skipped(str(directory), f"cannot list directory: {exc.strerror or exc}")
        return
    for child in children:
        if child.name.startswith("."):
            continue
        if not follow_symlinks and (target := _link_out_of(child, top)) is not None:
            reason = f"symbolic link to {target} leaves {root}; pass --follow-symlinks to read it"
            yield Skipped(str(child), reason)
        elif child.is_dir():
            yield from _walk(child, root, top, visited, follow_symlinks)
        else:
            yield child


def _link_out_of(path: Path, top: Path) -> Path | None:
    """Where `path` leads when it is a symbolic link to somewhere outside `top`, else None."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # a loop of links (RuntimeError before Python 3.13)
        return None  # reported as not a regular file
    return None if target.is_relative_to(top) else target


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for compound in (".jsonl.gz", ".ndjson.gz"):
        if name.endswith(compound):
            return compound
    return path.suffix.lower()


def _read_file(path: Path, budget: _Budget) -> Generator[_Item, None, None]:
    suffix = _suffix(path)
    reader = _READERS.get(suffix)
    try:
        if reader is not None:
            # Every reader but JSON Lines reads the whole file: its size is what it reads. A gzip file
            # is counted as it inflates.
            budget.check_bytes(str(path), path.stat().st_size)
            yield from _read_jsonl(path, budget) if reader is _read_jsonl else reader(path)
            return
        with path.open("rb") as stream:
            binary = b"\x00" in stream.read(_SNIFF_BYTES)
    except OSError as exc:
        yield InputError(str(path), f"cannot read file: {exc.strerror or exc}")
        return
    shown = repr(suffix) if suffix else "(no suffix)"
    yield _Unreadable(str(path), "binary file" if binary else f"unsupported file type {shown}")


# --- decoding ----------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARED_ENCODING = re.compile(
    rb"""<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)|<meta[^>]*?charset\s*=\s*["']?([\w.:-]+)""",
    re.IGNORECASE,
)


def _decode(raw: bytes) -> tuple[str, str | None] | None:
    """The text and, when it had to be guessed, the encoding used; None for a binary file.

    UTF-8 first because it almost never decodes other encodings by accident; then the
    encoding the document declares; only then a statistical guess, which the caller reports.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec), None
            except UnicodeDecodeError:
                break
    if b"\x00" in raw[:_SNIFF_BYTES]:
        return None
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    declared = _DECLARED_ENCODING.search(raw[:_SNIFF_BYTES])
    if declared:
        try:
            return raw.decode((declared.group(1) or declared.group(2)).decode("ascii")), None
        except (ValueError, LookupError):  # unknown codec, or bytes the declaration does not fit
            pass
    guess = _guess_encoding(raw)
    return None if guess is None else (raw.decode(guess, errors="replace"), guess)


def _guess_encoding(raw: bytes) -> str | None:
    """charset_normalizer's best guess, preferring cp1252 among equally good candidates.

    On short Western texts it cannot tell the single-byte code pages apart (café comes back
    as cp1250 or cp775); cp1252 is what such archives are overwhelmingly written in.
    """
    matches = charset_normalizer.from_bytes(raw)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        close = match.chaos <= best.chaos + 0.01 and match.coherence >= best.coherence - 0.05
        if close and "cp1252" in match.could_be_from_charset:
            return "cp1252"
    return str(best.encoding)


def _decoded_text(path: Path) -> Generator[_Item, None, str | None]:
    """Decode a whole file; yields the skip or warning to report, returns None if unusable."""
    decoded = _decode(path.read_bytes())
    if decoded is None:
        yield _Unreadable(str(path), "binary file")
        return None
    text, guessed = decoded
    if guessed:
        yield _Warning(f"{path}: not valid UTF-8; decoded as {guessed}")
    return re.sub(r"\r\n?", "\n", text)


# --- JSON Lines and JSON -----------------------------------------------------------------------


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


def _numbered_lines(
    stream: io.BufferedIOBase, origin: str, budget: _Budget | None
) -> Iterator[tuple[int, bytes]]:
    """The lines of `stream` that hold more than ASCII whitespace, with their numbers (from 1) and their
    newlines. Read a block at a time, each block counted against the budget: a run of blank lines is
    stepped over by one regular-expression search, not line by line (a 1 MB gzip of 1 GiB of newlines
    took a core for minutes that way)."""
    lineno = 1  # the number of the line that starts at `pos`
    head: list[bytes] = []  # the start of a line that goes on in the next block
    total = 0
    while True:
        block = stream.read1(_READ_BLOCK)  # read1: what inflated before a truncated end is kept
        total += len(block)
        if budget is not None:
            budget.check_bytes(origin, total)
        if not block:
            line = b"".join(head)
            if _NOT_BLANK.search(line):
                yield lineno, line
            return
        pos = 0
        if head:
            end = block.find(b"\n")
            if end < 0:
                head.append(block)
                continue
            line = b"".join([*head, block[: end + 1]])
            head = []
            if _NOT_BLANK.search(line):
                yield lineno, line
            lineno += 1
            pos = end + 1
        while found := _NOT_BLANK.search(block, pos):
            start = block.rfind(b"\n", pos, found.start()) + 1 or pos
            lineno += block.count(b"\n", pos, start)
            end = block.find(b"\n", found.end())
            if end < 0:
                pos = start
                break
            yield lineno, block[start : end + 1]
            lineno += 1
            pos = end + 1
        else:
            last = block.rfind(b"\n", pos) + 1 or pos
            lineno += block.count(b"\n", pos, last)
            pos = last
        if pos < len(block):
            head.append(block[pos:])


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


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


# --- plain text and Markdown -------------------------------------------------------------------

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


# --- HTML --------------------------------------------------------------------------------------


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


def _optional_date(value: object) -> tuple[str | None, str | None]:
    """A date from metadata we do not control: a bad one is dropped with a message, not fatal."""
    try:
        return normalize_date(value), None
    except ValueError as exc:
        return None, str(exc)


# --- RSS and Atom ------------------------------------------------------------------------------


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


_READERS: dict[str, _Reader] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".jsonl.gz": _read_jsonl,
    ".ndjson.gz": _read_jsonl,
    ".json": _read_json,
    ".txt": _read_plain,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".html": _read_html,
    ".htm": _read_html,
    ".rss": _read_feed,
    ".atom": _read_feed,
    ".xml": _read_feed,
    ".feed": _read_feed,
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_READERS)


def supported_suffix(name: str) -> str | None:
    """The suffix a file called `name` is read by (".jsonl.gz" counts whole), or None if none reads it."""
    suffix = _suffix(Path(name))
    return suffix if suffix in _READERS else None
