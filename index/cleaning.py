"""Text normalization applied to every article before it is chunked, embedded and cited.

Archives arrive as scraped pages, feed exports and hand-made files, so the same words show
up with mojibake, odd line endings, invisible characters and page furniture. Cleaning them
once here means chunk offsets, hashes and quoted passages all refer to the same text.
"""

from __future__ import annotations

import re
import unicodedata

import ftfy

# ftfy walks the text several times; past this size it costs more than the rare repair is worth.
FTFY_MAX_CHARS = 2_000_000
BOILERPLATE_MAX_CHARS = 100

_LINE_BREAKS = re.compile(r"\r\n?|[\v\f\x85\u2028]")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u2060\ufeff]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")  # tabs, no-break and other Unicode spaces
_BLANK_LINES = re.compile(r"\n{3,}")
_SURROGATE = re.compile("[\ud800-\udfff]")

# Whole lines that are page furniture rather than reporting; matched against the stripped line.
BOILERPLATE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"(?:story continues below )?advertisements?:?",
        r"subscribe\b.*",
        r"sign up (?:for|to) .*newsletters?\b.*",
        r"share (?:this|the) (?:article|story|page)\W*",
        r"click here\b.*",
        r"read more\W*",
        r".*\ball rights reserved\b.*",
        r"follow us on\b.*",
        r"skip to (?:the )?(?:main )?content\W*",
        r"(?:we use |this (?:web)?site uses )?cookies?\b.*"
        r"\b(?:accept|consent|policy|settings|preferences|experience|browsing)\b.*",
        r"(?:image|photo|photograph|picture)s?(?: credit)?\s*:.*",
    )
)


def clean_text(text: str) -> str:
    """Normalize an article body; paragraphs come out separated by exactly one blank line.

    Idempotent, so re-cleaning stored text never shifts chunk offsets.
    """
    lines = _normalize(text).split("\n")
    kept = "\n".join(line for line in lines if not is_boilerplate(line))
    return _BLANK_LINES.sub("\n\n", kept).strip()


def clean_title(title: str) -> str:
    """Normalize a headline to a single line, since titles appear inline in citations."""
    return " ".join(_normalize(" ".join(_tidy(title).split())).split())


def is_boilerplate(line: str) -> bool:
    """True for a short stripped line that is page furniture (ads, share buttons, credits)."""
    if not line or len(line) > BOILERPLATE_MAX_CHARS:
        return False
    return any(pattern.fullmatch(line) for pattern in BOILERPLATE)


def _normalize(text: str) -> str:
    # ftfy judges a sequence by what surrounds it ("Ã" then a space is mojibake), so the text
    # gets its final whitespace before ftfy too; otherwise a second pass could repair more.
    text = _tidy(text)
    if len(text) <= FTFY_MAX_CHARS:
        # Keep curly quotes and full-width CJK punctuation as the outlet wrote them.
        text = _tidy(ftfy.fix_text(text, uncurl_quotes=False, fix_character_width=False))
    else:  # what ftfy does to an unpaired surrogate: it cannot be stored as UTF-8
        text = _SURROGATE.sub("\ufffd", text)
    # NFC last: dropping a character can bring a letter and its accent together.
    return unicodedata.normalize("NFC", text)


def _tidy(text: str) -> str:
    """Line breaks, invisible characters and spacing; no change to the visible characters."""
    text = _LINE_BREAKS.sub("\n", text).replace("\u2029", "\n\n")
    text = _HORIZONTAL_SPACE.sub(" ", _INVISIBLE.sub("", text))
    lines = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip()
