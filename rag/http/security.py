"""API keys (constant-time comparison) and a request body limit answered with 413."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, Request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def key_matches(presented: str, keys: tuple[str, ...]) -> bool:
    """Compare against every key in constant time, without stopping at the first match."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented.encode(), key.encode())
    return found


def _presented_key(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def api_key_dependency(
    keys: tuple[str, ...], read_only_keys: tuple[str, ...] = ()
) -> Callable[[Request], None]:
    """Any configured key (full or read-only) may read; with no key configured everything is open."""
    accepted = keys + read_only_keys

    def require_key(request: Request) -> None:
        if not accepted:
            return
        presented = _presented_key(request)
        if presented is None or not key_matches(presented, accepted):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_key


def write_key_dependency(
    keys: tuple[str, ...], read_only_keys: tuple[str, ...] = ()
) -> Callable[[Request], None]:
    """Adding or deleting articles needs a full key; a read-only key gets 403 (after the read check)."""

    def require_write_key(request: Request) -> None:
        if not keys and not read_only_keys:
            return
        presented = _presented_key(request) or ""
        if not key_matches(presented, keys):
            raise HTTPException(
                status_code=403,
                detail="this API key may ask and search but not add or delete articles (a read-only key)",
            )

    return require_write_key


READ_ONLY_USER = "reader"
UI_LOGIN_MESSAGE = (
    "Password: the web UI password, or an API key. With a read-only key, log in as the user "
    f"'{READ_ONLY_USER}': you may ask but not add articles."
)


def ui_login(
    password: str | None, keys: tuple[str, ...], read_only_keys: tuple[str, ...]
) -> Callable[[str, str], bool] | None:
    """Who may open the web UI, whose archive tab ingests uploads. With no UI password and no API key,
    everyone (the server then binds to loopback only, unless told otherwise). Otherwise the UI password
    or a full API key lets any user name in; a read-only key only the user READ_ONLY_USER, whom the
    UI lets ask but not ingest, so a read-only key cannot claim to be anyone who may write."""
    writers = (password, *keys) if password else keys
    if not writers and not read_only_keys:
        return None

    def accept(username: str, given: str) -> bool:
        full = key_matches(given, writers)
        read_only = key_matches(given, read_only_keys)
        return full or (read_only and username == READ_ONLY_USER)

    return accept


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, has_keys: bool, allow_unauthenticated: bool) -> str | None:
    """Why serving on `host` is refused, or None: strangers on a network must not reach an open API."""
    if is_loopback(host) or has_keys or allow_unauthenticated:
        return None
    return (
        f"refusing to serve on {host} without an API key: anyone who can reach it could add or delete "
        "articles. Set NEWSDESK_API_KEY (and optionally NEWSDESK_READONLY_API_KEY), bind to 127.0.0.1, "
        "or pass --allow-unauthenticated"
    )


UPLOAD_PATHS = ("/api/files", "/gradio_api/upload")  # ours, and the web UI's file box


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, by header or by counting the stream.
    File uploads have their own, larger limit (their files are spooled to disk, not held)."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = str(scope.get("path", "")).endswith(UPLOAD_PATHS)
        limit = self.upload_limit if upload else self.limit
        setting = (
            "NEWSDESK_MAX_UPLOAD_BYTES and NEWSDESK_MAX_UPLOAD_FILES" if upload else "NEWSDESK_MAX_BODY_BYTES"
        )
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit, setting)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send, limit, setting)

    async def _refuse(self, send: Send, limit: int, setting: str) -> None:
        body = json.dumps(
            {"error": f"request body is larger than the limit of {limit} bytes (set {setting} to change it)"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
