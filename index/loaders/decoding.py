"""Bytes to text: a BOM, then UTF-8, then the encoding the document declares, then a reported guess."""

from __future__ import annotations

import codecs
import re
from collections.abc import Generator
from pathlib import Path

import charset_normalizer

from index.loaders.items import _Item, _Unreadable, _Warning

_SNIFF_BYTES = 8192


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
