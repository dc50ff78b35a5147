"""Test hooks for crash safety, set through the environment, so tests can prove what survives:

- `NEWSDESK_CRASH_AT=<point>` kills this process with SIGKILL at that point of a write, as a power cut
  or the OOM killer would.
- `NEWSDESK_DISK_FULL_AT=<point>` raises ENOSPC ("No space left on device") there, as a full disk would.

Points, in the order a write passes them: `embedding` (after the first batch is embedded), `before-write`
(everything embedded, nothing written), `catalog` (the new version's SQLite catalog written in its
temporary folder), `vectors` (its vectors saved), `bm25` (its BM25 index saved), `manifest` (its
manifest written), `staged` (the new version fsynced in its temporary folder), `renamed` (the folder
renamed into place, CURRENT not yet swapped), `pointer` (the new CURRENT written to its temporary file,
not yet renamed over the old), `published` (CURRENT swapped, old versions not yet removed). Unset, a
point costs two dictionary lookups.
"""

from __future__ import annotations

import errno
import os
import signal

CRASH_POINTS = (
    "embedding",
    "before-write",
    "catalog",
    "vectors",
    "bm25",
    "manifest",
    "staged",
    "renamed",
    "pointer",
    "published",
)
# Where a full disk can strike: every step that writes a file of the new version, and CURRENT.
DISK_FULL_POINTS = ("catalog", "vectors", "bm25", "manifest", "staged", "renamed", "pointer")


def crash_point(name: str) -> None:
    if os.environ.get("NEWSDESK_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("NEWSDESK_DISK_FULL_AT") == name:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (NEWSDESK_DISK_FULL_AT={name})")
