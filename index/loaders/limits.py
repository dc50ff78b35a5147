"""Bounds on the work of one load, and stopping on request: a small input must not make a large one."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from index.errors import InputError, NewsdeskError

# Bounds on the work of one load, so that a small input cannot make a large one: 9 KB of gzip holds
# 3.1 million `{}` lines, 1 MB holds 1 GiB of newlines. Problems past the first MAX_LISTED of each
# kind are counted, not kept. The defaults are the command line's, where the files are the user's own:
# far past any real archive (the RealTime QA dev corpus is 4,395 articles, 40 MB unpacked) and past
# what one load can hold in memory anyway, yet a bomb stops. The server passes its own, lower ones.
MAX_LISTED = 20
DEFAULT_MAX_RECORDS = 10_000_000
DEFAULT_MAX_DECOMPRESSED_BYTES = 16 * 1024**3


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
