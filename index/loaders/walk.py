"""Finding the files under the paths given, and handing each to the reader its suffix names."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

from index.errors import InputError
from index.loaders.decoding import _SNIFF_BYTES
from index.loaders.feeds import _read_feed
from index.loaders.html_pages import _read_html
from index.loaders.items import Skipped, _Item, _Reader, _Unreadable
from index.loaders.jsonl import _read_json, _read_jsonl
from index.loaders.limits import _Budget
from index.loaders.text import _read_markdown, _read_plain


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
