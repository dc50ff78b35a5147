"""Who may call the server, and from where: API keys (constant-time comparison), the Host and Origin
checks that keep other web sites out, the methods a path allows, and a request body limit answered
with 413. Each check is an ASGI middleware, so it covers every route, the mounted web UI included,
and answers before a request body is read."""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.routing import BaseRoute, Route

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


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _presented_key(request: Request) -> str | None:
    return _bearer(request.headers.get("authorization"))


def has_key(request: Request, keys: tuple[str, ...]) -> bool:
    """Whether the request carries one of `keys` as its bearer token."""
    presented = _presented_key(request)
    return presented is not None and key_matches(presented, keys)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _route_path(scope: Scope) -> str:
    """The path as the app's routes see it (without the root path a proxy mounts the app under)."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


async def send_error(
    send: Send, status: int, error: str, detail: list[dict[str, str]] | None = None, **headers: str
) -> None:
    """An error response in the API's one shape, `{"error", "detail"}`, sent straight from a middleware."""
    body = json.dumps({"error": error, "detail": detail or []}).encode()
    extra = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


MISSING_KEY = "missing or wrong API key: send 'Authorization: Bearer <key>'"


class ApiKeyGuard:
    """With keys configured, a request under `prefixes` (/api, /v1) needs one of them, full or read-only,
    and is answered 401 before its body is read: an unauthenticated caller learns nothing from how its
    body is judged (FastAPI reads and checks a body before a route's dependencies run) and sends no
    megabytes first. OPTIONS passes: a CORS preflight carries no credentials, and OPTIONS only says
    which methods a path allows. With no key configured everything is open."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...], prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.keys = keys
        self.prefixes = prefixes

    def _guarded(self, scope: Scope) -> bool:
        if not self.keys or scope["type"] != "http" or scope.get("method") == "OPTIONS":
            return False
        path = _route_path(scope)
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._guarded(scope):
            presented = _bearer(_header(scope, b"authorization"))
            if presented is None or not key_matches(presented, self.keys):
                await send_error(send, 401, MISSING_KEY, www_authenticate="Bearer")
                return
        await self.app(scope, receive, send)


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


HOSTS_SETTING = "NEWSDESK_ALLOWED_HOSTS"
ORIGINS_SETTING = "NEWSDESK_CORS_ORIGINS"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::", "*"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[^\[\]:/@\s]+)(?::(?P<port>[0-9]{1,5}))?")


def _name(host: str) -> str:
    """A host name as compared: lower case, no IPv6 brackets, no trailing dot."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name.rstrip(".")


def parse_host(value: str) -> tuple[str, int | None] | None:
    """A Host header's name and port (None when it names no port), or None when it is not a host."""
    match = _HOST.fullmatch(value.strip())
    if match is None or not _name(match["name"]):
        return None
    return _name(match["name"]), int(match["port"]) if match["port"] else None


def _local(name: str) -> bool:
    """A name for this machine: a loopback one, or 0.0.0.0 or :: (which a browser reaches as this machine,
    and which `serve --host 0.0.0.0` prints as its address). A page that is not this server's own cannot
    make a browser send one of these as Host: rebinding needs a name of the attacker's."""
    if is_loopback(name):
        return True
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def _configured_name(host: str) -> str:
    parsed = parse_host(host)
    return parsed[0] if parsed else _name(host)  # a bare IPv6 address, say ::1


def _origin(origin: str) -> tuple[str, str, int] | None:
    """An Origin header's scheme, host name and port (the scheme's default when none is given);
    None for an origin that names no host (`null`, sent by sandboxed frames and file:// pages)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, _name(parts.hostname), port or DEFAULT_PORTS[parts.scheme]


def _server_address(scope: Scope) -> tuple[str | None, int | None]:
    """The address the request reached (its socket's local address under uvicorn), when known."""
    server = scope.get("server")
    if not server or not isinstance(server[0], str):
        return None, None
    return _name(server[0]), server[1] if isinstance(server[1], int) else None


def _normal_origin(origin: str) -> str:
    return origin.strip().lower().rstrip("/")


class HostOriginGuard:
    """Keeps other web sites out of a server that a browser on the same machine can reach.

    Host: a web page can point a name of its own at 127.0.0.1 (DNS rebinding) and then read and
    write the server as its own origin; its requests still carry that name in Host. So Host must be
    a loopback name (localhost, 127.0.0.1, [::1], or 0.0.0.0; any port), the address the request
    reached (an IP, which only this server's own pages use as their origin), the host the server was
    told to bind to (unless a wildcard), or a name in NEWSDESK_ALLOWED_HOSTS (`*`: any). Anything
    else is 400, on every route and the web UI. A request without Host (HTTP/1.0) comes from no
    browser and passes.

    Origin: a page on any site may send a plain form POST (a multipart upload, say) to any address
    without a CORS preflight. So a request that may change something (any method but GET, HEAD and
    OPTIONS, and every WebSocket) carrying an Origin is refused with 403 unless the Origin is the
    server's own (exactly the name and port in Host: another loopback address on the same port may be
    another local server's) or one of NEWSDESK_CORS_ORIGINS (`*`: any). Clients outside a browser send no
    Origin and pass. An API key does not excuse a foreign Origin: a page that holds a key must be
    listed in NEWSDESK_CORS_ORIGINS anyway for the browser to let it send the key, and the web UI's
    login is a cookie, which a browser sends cross-site by itself."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
        bind_host: str | None = None,
    ) -> None:
        self.app = app
        hosts = {_configured_name(host) for host in allowed_hosts if host.strip()}
        self.any_host = "*" in hosts
        if bind_host is not None and _name(bind_host) not in WILDCARD_ADDRESSES:
            hosts.add(_configured_name(bind_host))
        self.hosts = frozenset(hosts)
        origins = {_normal_origin(origin) for origin in cors_origins if origin.strip()}
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)

    def host_allowed(self, name: str, scope: Scope) -> bool:
        if self.any_host or _local(name) or name in self.hosts:
            return True
        return name == _server_address(scope)[0]

    def origin_allowed(self, origin: str, host: tuple[str, int | None] | None, scope: Scope) -> bool:
        if self.any_origin or _normal_origin(origin) in self.origins:
            return True
        parsed = _origin(origin)
        if parsed is None:
            return False
        scheme, name, port = parsed
        own_name, own_port = host if host is not None else _server_address(scope)  # no Host: where it came
        if own_name is None or port != (own_port or DEFAULT_PORTS[scheme]):
            return False
        # Exactly the server's own origin: another loopback name on the same port may be another
        # server's (one on 127.0.0.2 or [::1] while this one listens on 127.0.0.1).
        return name == own_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw_host = _header(scope, b"host")
        host = parse_host(raw_host) if raw_host is not None else None
        if raw_host is not None and (host is None or not self.host_allowed(host[0], scope)):
            problem = (
                f"this server does not answer to the host {raw_host!r}: only to loopback names "
                "(localhost, 127.0.0.1, [::1]), the address it listens on, and the hosts in "
                f"{HOSTS_SETTING} (comma-separated; set it to serve under another name)"
            )
            await self._refuse(scope, send, 400, "Host", problem)
            return
        origin = _header(scope, b"origin")
        method = str(scope.get("method", "GET"))
        changes = scope["type"] == "websocket" or method not in SAFE_METHODS
        if origin is not None and changes and not self.origin_allowed(origin, host, scope):
            problem = (
                f"a web page from {origin!r} may not send {method} requests to this server: only its own "
                f"pages and the origins in {ORIGINS_SETTING} may (clients outside a browser send no Origin)"
            )
            await self._refuse(scope, send, 403, "Origin", problem)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, header: str, problem: str) -> None:
        if scope["type"] == "websocket":  # closed before it is accepted: the server answers 403
            await send({"type": "websocket.close", "code": 1008, "reason": problem[:120]})
            return
        await send_error(send, status, problem, [{"field": header, "problem": problem}])


class HasRoutes(Protocol):
    @property
    def routes(self) -> list[BaseRoute]: ...


class MethodsAllowed:
    """OPTIONS on a path of the given routers' routes answers 204 with `Allow` naming every method
    those routes take, and a method none of them takes is 405 with the same `Allow`. Starlette answers
    both from the first route whose path matched, so OPTIONS /api/articles/{id} left out DELETE; and
    with the web UI mounted at /, such a request went on to the UI. Other paths (the UI's) pass.

    `routers` pairs each router with the prefix it is included under, since a router included into
    an app keeps its routes' paths without the prefix; they are read at each request."""

    def __init__(self, app: ASGIApp, routers: Sequence[tuple[str, HasRoutes]]) -> None:
        self.app = app
        self.routers = routers

    def methods(self, scope: Scope) -> set[str]:
        path = _route_path(scope)
        found: set[str] = set()
        for prefix, router in self.routers:
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            for route in router.routes:
                if isinstance(route, Route) and route.methods and route.path_regex.fullmatch(rest):
                    found |= route.methods
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = self.methods(scope) if scope["type"] == "http" else set()
        method = str(scope.get("method", ""))
        if not methods or method in methods:
            await self.app(scope, receive, send)
            return
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        if method == "OPTIONS":
            start = {"type": "http.response.start", "status": 204, "headers": [(b"allow", allow.encode())]}
            await send(start)
            await send({"type": "http.response.body", "body": b""})
            return
        problem = f"{method} is not allowed here; this path allows {allow}"
        await send_error(send, 405, problem, [{"field": "method", "problem": problem}], allow=allow)


UPLOAD_PATHS = ("/api/files", "/gradio_api/upload")  # ours, and the web UI's file box


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, by header or by counting the stream.
    File uploads have their own, larger limit (their files are spooled to disk, not held).

    A body sent without Content-Length (chunked) is counted as the app reads it: the 413 is sent the
    moment it passes the limit, and the app's reading fails. Whatever the app answers to that failure
    (FastAPI turns any error while reading a body into 400) is dropped: the 413 is the answer."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = _route_path(scope).endswith(UPLOAD_PATHS)
        limit = self.upload_limit if upload else self.limit
        setting = (
            "NEWSDESK_MAX_UPLOAD_BYTES and NEWSDESK_MAX_UPLOAD_FILES" if upload else "NEWSDESK_MAX_BODY_BYTES"
        )
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit, setting)
            return
        seen = 0
        started = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                if not started and not refused:
                    await self._refuse(send, limit, setting)
                    refused = True
                raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:  # a body over the limit after the app began its answer cannot be a 413
                raise

    async def _refuse(self, send: Send, limit: int, setting: str) -> None:
        await send_error(
            send, 413, f"request body is larger than the limit of {limit} bytes (set {setting} to change it)"
        )


class _TooLarge(Exception):
    pass
