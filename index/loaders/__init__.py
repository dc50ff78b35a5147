"""Read news articles from the files a user points at: JSON Lines, JSON, text, Markdown, HTML, RSS/Atom.

Archives are messy, so one bad record or file must not stop a load: malformed records become
`InputError`s and unusable files become `Skipped` entries, and the caller decides what to do
with them. Only a path that does not exist raises, before anything is read, because that is
almost always a typo on the command line.

One module a stage, each read top to bottom:

    load        load_paths and load_records: collect, clean, give ids, keep problems bounded
    walk        the files under the paths given, and the reader each suffix names
    jsonl       JSON Lines (streamed, gzip too) and JSON
    text        plain text and Markdown
    html_pages  HTML pages, through trafilatura
    feeds       RSS and Atom, through feedparser
    fields      a record's fields onto a draft, and what the index cannot store
    decoding    bytes to text
    streaming   a large or compressed file read a block at a time, within the budget
    limits      LoadLimits, LimitExceeded, Cancelled
    items       what the readers yield (Skipped, drafts, warnings) and LoadResult
"""

from index.loaders.feeds import html_to_text
from index.loaders.fields import MAX_FIELD_DEPTH
from index.loaders.items import LoadResult, Skipped
from index.loaders.limits import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    DEFAULT_MAX_RECORDS,
    MAX_LISTED,
    Cancelled,
    LimitExceeded,
    LoadLimits,
    check_cancelled,
)
from index.loaders.load import load_paths, load_records
from index.loaders.text import strip_markdown
from index.loaders.walk import SUPPORTED_SUFFIXES, supported_suffix

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "DEFAULT_MAX_RECORDS",
    "MAX_FIELD_DEPTH",
    "MAX_LISTED",
    "SUPPORTED_SUFFIXES",
    "Cancelled",
    "LimitExceeded",
    "LoadLimits",
    "LoadResult",
    "Skipped",
    "check_cancelled",
    "html_to_text",
    "load_paths",
    "load_records",
    "strip_markdown",
    "supported_suffix",
]
