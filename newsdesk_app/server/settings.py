"""Server settings, read once from the environment and passed explicitly (no global singleton)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from index.loaders import LoadLimits

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_QUESTION_CHARS = 2000
DEFAULT_MAX_K = 50
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_UPLOAD_FILES = 20
# One request's work, whatever the size of its body. News JSON Lines gzips about 2.75 to 1 (the RealTime
# QA corpus: 14.5 MB of gzip, 40 MB unpacked), so an honest file within the 50 MiB upload limit unpacks to
# about 140 MiB: 256 MiB admits it with room, and stops a gzip bomb (1,000 to 1 for newlines) after a
# fraction of a second of inflating. Raise it along with NEWSDESK_MAX_UPLOAD_BYTES.
DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
# 100,000 articles is 23 times the RealTime QA corpus and about an hour of embedding on 2 cores: more
# than one HTTP request should carry, while 3 million `{}` lines (9 KB of gzip) are refused.
DEFAULT_MAX_RECORDS = 100_000
# Seconds a SIGTERM waits for requests in flight before it stops their work (an ingest then writes
# nothing): short of the 10 s after which Docker and systemd's defaults send SIGKILL.
DEFAULT_SHUTDOWN_GRACE_SECONDS = 5


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from error
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _list_env(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class ServerSettings:
    api_keys: tuple[str, ...] = ()
    read_only_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()  # none: browsers refuse cross-origin calls (CORS closed)
    # Host names the server answers to besides loopback ones and the address a request reached ("*": any)
    allowed_hosts: tuple[str, ...] = ()
    bind_host: str | None = None  # the address `serve --host` binds to; answered to unless a wildcard
    ui_password: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    max_k: int = DEFAULT_MAX_K
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # each file
    max_upload_files: int = DEFAULT_MAX_UPLOAD_FILES  # each request
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES  # each file, as read after gunzip
    max_records: int = DEFAULT_MAX_RECORDS  # each request, unreadable records included
    shutdown_grace_seconds: int = DEFAULT_SHUTDOWN_GRACE_SECONDS
    upload_dir: str | None = None  # None: a folder beside the index, "<index>-uploads"
    ui: bool = True
    example_count: int = 4

    @property
    def max_upload_request_bytes(self) -> int:
        """The body limit of an upload request: every file at its limit, and room for the form."""
        return self.max_upload_files * self.max_upload_bytes + 1024 * 1024

    def load_limits(self) -> LoadLimits:
        """What one ingest through the server may read, the API's and the web UI's alike."""
        return LoadLimits(
            self.max_records,
            self.max_decompressed_bytes,
            records_setting="NEWSDESK_MAX_RECORDS",
            bytes_setting="NEWSDESK_MAX_DECOMPRESSED_BYTES",
        )

    @classmethod
    def from_env(cls, *, ui: bool = True, bind_host: str | None = None) -> ServerSettings:
        return cls(
            api_keys=_list_env("NEWSDESK_API_KEY"),
            read_only_keys=_list_env("NEWSDESK_READONLY_API_KEY"),
            cors_origins=_list_env("NEWSDESK_CORS_ORIGINS"),
            allowed_hosts=_list_env("NEWSDESK_ALLOWED_HOSTS"),
            bind_host=bind_host,
            ui_password=os.environ.get("NEWSDESK_UI_PASSWORD") or None,
            max_body_bytes=_int_env("NEWSDESK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_question_chars=_int_env("NEWSDESK_MAX_QUESTION_CHARS", DEFAULT_MAX_QUESTION_CHARS),
            max_k=_int_env("NEWSDESK_MAX_K", DEFAULT_MAX_K),
            max_upload_bytes=_int_env("NEWSDESK_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
            max_upload_files=_int_env("NEWSDESK_MAX_UPLOAD_FILES", DEFAULT_MAX_UPLOAD_FILES),
            max_decompressed_bytes=_int_env(
                "NEWSDESK_MAX_DECOMPRESSED_BYTES", DEFAULT_MAX_DECOMPRESSED_BYTES
            ),
            max_records=_int_env("NEWSDESK_MAX_RECORDS", DEFAULT_MAX_RECORDS),
            shutdown_grace_seconds=_int_env(
                "NEWSDESK_SHUTDOWN_GRACE_SECONDS", DEFAULT_SHUTDOWN_GRACE_SECONDS
            ),
            upload_dir=os.environ.get("NEWSDESK_UPLOAD_DIR") or None,
            ui=ui,
        )
