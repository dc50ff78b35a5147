"""Reading a file that may be large or gzip-compressed a block at a time, counted against the budget."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path

from index.loaders.limits import _Budget

_READ_BLOCK = 1024 * 1024
_NOT_BLANK = re.compile(rb"[^ \t\n\r\f\v]")


def _numbered_lines(
    stream: io.BufferedIOBase, origin: str, budget: _Budget | None, block_size: int = _READ_BLOCK
) -> Iterator[tuple[int, bytes]]:
    """The lines of `stream` that hold more than ASCII whitespace, with their numbers (from 1) and their
    newlines. Read a block at a time, each block counted against the budget: a run of blank lines is
    stepped over by one regular-expression search, not line by line (a 1 MB gzip of 1 GiB of newlines
    took a core for minutes that way). `block_size` is smaller only in tests, to cut lines across blocks."""
    lineno = 1  # the number of the line that starts at `pos`
    head: list[bytes] = []  # the start of a line that goes on in the next block
    total = 0
    while True:
        block = stream.read1(block_size)  # read1: what inflated before a truncated end is kept
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
