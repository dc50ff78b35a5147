"""The two ways in: files and folders (`load_paths`), and records given as JSON objects (`load_records`).

Each is collected into a LoadResult: the drafts cleaned into Articles with their ids, the problems kept
up to a limit and all counted. Only a path that does not exist raises, before anything is read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Sequence
from pathlib import Path

from index.cleaning import clean_text, clean_title
from index.errors import InputError, MissingPathError
from index.loaders.fields import _SURROGATE, _from_record
from index.loaders.items import LoadResult, Skipped, _Draft, _Item, _Unreadable, _Warning
from index.loaders.limits import LimitExceeded, LoadLimits, _Budget, check_cancelled
from index.loaders.walk import _files, _read_file
from index.records import Article, safe_id, stable_hash


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
