"""A test hook for crash safety: `NEWSDESK_CRASH_AT=<point>` kills this process with SIGKILL at that
point of a write, as a power cut or the OOM killer would, so tests can prove what survives.

Points, in the order a write passes them: `embedding` (after the first batch is embedded), `before-write`
(everything embedded, nothing written), `staged` (the new version built in its temporary folder),
`renamed` (the folder renamed into place, CURRENT not yet swapped), `published` (CURRENT swapped, old
versions not yet removed). Unset, it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_POINTS = ("embedding", "before-write", "staged", "renamed", "published")


def crash_point(name: str) -> None:
    if os.environ.get("NEWSDESK_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
