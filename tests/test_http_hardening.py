"""Who may reach the server and how it refuses: Host and Origin checks against other web sites (DNS
rebinding, cross-site form posts), the key checked before the body, a chunked body over the limit,
the methods a path allows, what /health tells a caller without a key, and article ids the API could
not serve back."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from index.archive import IndexDirectory
from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.service import Newsdesk
from tests.conftest import article
from tests.servers import serving

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
KEY = "full-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
EVIL = "http://evil.example"
STRIKES = article(
    "strikes",
    "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday.",
    title="Russia strikes Syria",
)
PLANTED = article("planted", "A planted report that no one wrote.")


@pytest.fixture
def desk(tmp_path: Path, write_jsonl: Writer) -> Newsdesk:
    service = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    service.ingest([write_jsonl("news.jsonl", [STRIKES])])
    return service


def client_for(desk: Newsdesk, **settings: Any) -> TestClient:
    return TestClient(create_app(desk, ServerSettings(ui=False, **settings), load_now=True))


def stored_ids(desk: Newsdesk) -> set[str]:
    """The ids of the articles in the index on disk (read afresh), among those these tests use."""
    fresh = Newsdesk(Path(desk.index_dir), embedder=HashingEmbedder())
    ids = {candidate for candidate in (STRIKES["id"], PLANTED["id"], "a/b") if fresh.article(candidate)}
    assert fresh.info()["articles"] == len(ids), "no article but these"
    return ids


def planted_upload() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", ("planted.jsonl", (json.dumps(PLANTED) + "\n").encode(), "application/octet-stream"))]


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- Origin: a page on another site posting a form -------------------------------------------------


@pytest.mark.parametrize("headers", [{}, AUTH], ids=["no key configured", "with a valid key"])
def test_a_cross_site_form_upload_is_refused_and_nothing_is_ingested(
    desk: Newsdesk, tmp_path: Path, headers: dict[str, str]
) -> None:
    """A plain multipart form POST needs no CORS preflight, so a browser sends it from any page. A key
    does not excuse it: a browser page that holds one must be in NEWSDESK_CORS_ORIGINS anyway."""
    client = client_for(desk, api_keys=(KEY,) if headers else (), upload_dir=str(tmp_path / "uploads"))
    version = desk.info()["version"]
    response = client.post("/api/files", files=planted_upload(), headers={**headers, "Origin": EVIL})
    assert response.status_code == 403
    assert EVIL in response.json()["error"] and "NEWSDESK_CORS_ORIGINS" in response.json()["error"]
    assert response.json()["detail"][0]["field"] == "Origin"
    assert desk.info()["version"] == version and "planted" not in stored_ids(desk)
    assert files_under(tmp_path / "uploads") == [], "nothing of the upload is kept"
    # The same upload from the server's own page, and from a client that sends no Origin, is taken.
    own = client.post(
        "/api/files", files=planted_upload(), headers={**headers, "Origin": "http://testserver"}
    )
    assert own.status_code == 200 and own.json()["ids"] == ["planted"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/articles", [PLANTED]),
        ("DELETE", "/api/articles/strikes", None),
        ("POST", "/api/ask", {"question": "Which provinces were struck?"}),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "Hama?"}]}),
    ],
)
@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost:3000"])
def test_a_foreign_origin_is_refused_on_every_route_that_is_not_get(
    desk: Newsdesk, method: str, path: str, body: Any, origin: str
) -> None:
    """`null` is what sandboxed frames and file:// pages send; another port on localhost is another site."""
    client = client_for(desk)
    response = client.request(method, path, json=body, headers={"Origin": origin, "Host": "127.0.0.1:7860"})
    assert response.status_code == 403 and repr(origin) in response.json()["error"]
    assert stored_ids(desk) == {"strikes"}
    read = client.get("/api/articles/strikes", headers={"Origin": origin, "Host": "127.0.0.1:7860"})
    assert read.status_code == 200, "a read passes: without CORS the browser keeps the answer from the page"


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("127.0.0.1:7860", "http://127.0.0.1:7860"),
        ("localhost:7860", "http://localhost:7860"),
        ("[::1]:7860", "http://[::1]:7860"),
        ("localhost", "http://localhost"),
    ],
)
def test_loopback_hosts_and_the_servers_own_origin_are_accepted(
    desk: Newsdesk, host: str, origin: str
) -> None:
    """What the web UI's own requests carry when it is opened at http://127.0.0.1:PORT (or localhost);
    the same request from another site's page is refused."""
    client = client_for(desk)
    response = client.post("/api/articles", json=[PLANTED], headers={"Host": host, "Origin": origin})
    assert response.status_code == 200, response.text
    cross_site = client.delete("/api/articles/planted", headers={"Host": host, "Origin": EVIL})
    assert cross_site.status_code == 403
    assert client.delete("/api/articles/planted", headers={"Host": host, "Origin": origin}).status_code == 200


@pytest.mark.parametrize("origin", ["http://127.0.0.2:7860", "http://[::1]:7860", "http://localhost:7860"])
def test_another_loopback_origin_on_the_same_port_is_another_server(desk: Newsdesk, origin: str) -> None:
    """A page served by another local process (on 127.0.0.2 or [::1] while this one listens on
    127.0.0.1) is not this server's own page."""
    response = client_for(desk).post(
        "/api/articles", json=[PLANTED], headers={"Host": "127.0.0.1:7860", "Origin": origin}
    )
    assert response.status_code == 403 and stored_ids(desk) == {"strikes"}


# --- Host: DNS rebinding ---------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [(), (KEY,)], ids=["no key configured", "with a valid key"])
def test_a_rebound_host_name_is_refused_for_reads_and_deletes(desk: Newsdesk, keys: tuple[str, ...]) -> None:
    """A page at evil.example that pointed its name at 127.0.0.1 is same-origin with the server in the
    browser's eyes; only the Host header still says evil.example."""
    client = client_for(desk, api_keys=keys)
    headers = {"Host": "evil.example:7860", **(AUTH if keys else {})}
    for method, path in [
        ("GET", "/api/articles/strikes"),
        ("DELETE", "/api/articles/strikes"),
        ("GET", "/health"),
    ]:
        response = client.request(method, path, headers=headers)
        assert response.status_code == 400, (method, path)
        error = response.json()["error"]
        assert "'evil.example:7860'" in error and "NEWSDESK_ALLOWED_HOSTS" in error
    assert client.get("/api/articles/strikes", headers=AUTH).status_code == 200, "still there"


def test_the_web_ui_is_covered_by_the_host_check_and_works_from_its_own_origin(desk: Newsdesk) -> None:
    client = TestClient(create_app(desk, ServerSettings(), load_now=True))
    for path in ("/", "/config"):
        assert client.get(path, headers={"Host": "evil.example"}).status_code == 400, path
        assert client.get(path, headers={"Host": "127.0.0.1:7860"}).status_code == 200, path
    upload = [("files", ("a.jsonl", b"{}", "text/plain"))]
    assert client.post("/gradio_api/upload", files=upload, headers={"Origin": EVIL}).status_code == 403
    own = client.post(
        "/gradio_api/upload",
        files=upload,
        headers={"Host": "127.0.0.1:7860", "Origin": "http://127.0.0.1:7860"},
    )
    assert own.status_code == 200


def test_configured_hosts_the_bind_address_and_cors_origins_are_accepted(desk: Newsdesk) -> None:
    client = client_for(
        desk,
        allowed_hosts=("news.example",),
        bind_host="192.168.1.20",
        cors_origins=("https://reader.example",),
    )
    for host in ("news.example", "NEWS.example:8080", "192.168.1.20:7860"):
        assert client.get("/api/stats", headers={"Host": host}).status_code == 200, host
        origin = f"http://{host}"
        response = client.post(
            "/api/ask", json={"question": "Hama?"}, headers={"Host": host, "Origin": origin}
        )
        assert response.status_code == 200, (host, response.text)
    assert client.get("/api/stats", headers={"Host": "other.example"}).status_code == 400
    from_app = client.post("/api/articles", json=[PLANTED], headers={"Origin": "https://reader.example"})
    assert from_app.status_code == 200
    wildcard = client_for(desk, bind_host="0.0.0.0")  # a wildcard bind names no host
    assert wildcard.get("/api/stats", headers={"Host": "192.168.1.20"}).status_code == 400
    assert (
        client_for(desk, allowed_hosts=("*",)).get("/api/stats", headers={"Host": "any.example"}).status_code
        == 200
    )


def test_allowed_hosts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDESK_ALLOWED_HOSTS", "news.example, desk.lan")
    assert ServerSettings.from_env(bind_host="10.0.0.5").allowed_hosts == ("news.example", "desk.lan")
    assert ServerSettings.from_env(bind_host="10.0.0.5").bind_host == "10.0.0.5"


# --- Server on a real socket: Host and a chunked body ------------------------------------------------


@pytest.fixture
def live_server(desk: Newsdesk) -> Iterator[str]:
    settings = ServerSettings(ui=False, max_body_bytes=2000, max_upload_files=1, max_upload_bytes=1000)
    with serving(create_app(desk, settings, load_now=True)) as url:
        yield url


def in_pieces(data: bytes, size: int) -> Iterator[bytes]:
    """A body httpx sends chunked: no Content-Length for the server to refuse it by."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_over_the_limit_is_413_naming_the_setting(live_server: str, desk: Newsdesk) -> None:
    body = json.dumps([article(f"big-{n}", "word " * 100) for n in range(10)]).encode()
    response = httpx.post(
        f"{live_server}/api/articles",
        content=in_pieces(body, 500),
        headers={"content-type": "application/json"},
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert "NEWSDESK_MAX_BODY_BYTES" in response.json()["error"] and "2000 bytes" in response.json()["error"]
    form = (
        b'--B\r\nContent-Disposition: form-data; name="files"; filename="a.jsonl"\r\n\r\n'
        + b"x" * (1100 * 1024)
        + b"\r\n--B--\r\n"
    )
    upload = httpx.post(
        f"{live_server}/api/files",
        content=in_pieces(form, 65536),
        headers={"content-type": "multipart/form-data; boundary=B"},
    )
    assert upload.status_code == 413 and "NEWSDESK_MAX_UPLOAD_BYTES" in upload.json()["error"]
    assert stored_ids(desk) == {"strikes"}
    assert httpx.get(f"{live_server}/api/stats", headers={"Host": "evil.example"}).status_code == 400


# --- The key before the body; what /health says --------------------------------------------------


UNREAD_BODIES = [
    ("/api/ask", b"{not json"),
    ("/api/ask", b'{"question": "", "k": "five"}'),
    ("/api/articles", b'{"not": "a list"}'),
    ("/v1/chat/completions", b'{"messages": [], "stream": "yes"}'),
    ("/api/articles", b"[" + b'"x",' * 1000 + b'"x"]'),  # over NEWSDESK_MAX_BODY_BYTES too
]


def test_a_caller_without_a_key_gets_401_whatever_its_body(desk: Newsdesk) -> None:
    """Not 400, 413 or 422: how a body is judged is nothing to tell a caller who may not send one."""
    client = client_for(desk, api_keys=(KEY,), max_body_bytes=2000)
    headers = {"content-type": "application/json"}
    for path, content in UNREAD_BODIES:
        response = client.post(path, content=content, headers=headers)
        assert response.status_code == 401, (path, content[:40], response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        chunked = client.post(path, content=in_pieces(content, 700), headers=headers)
        assert chunked.status_code == 401, (path, content[:40], chunked.text)
        with_key = client.post(path, content=content, headers={**headers, **AUTH})
        assert with_key.status_code in (400, 413, 422), (path, content[:40])


def test_a_body_that_is_not_json_is_400_as_documented(desk: Newsdesk) -> None:
    response = client_for(desk).post(
        "/api/ask", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "body" and "not JSON" in response.json()["error"]


def test_health_tells_a_caller_without_a_key_only_whether_the_server_is_up(desk: Newsdesk) -> None:
    client = client_for(desk, api_keys=(KEY,), read_only_keys=("reader-key",))
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.get("/health", headers=headers)
        assert response.status_code == 200 and response.json() == {"status": "ready"}
        assert str(desk.index_dir) not in response.text
    for key in (KEY, "reader-key"):
        full = client.get("/health", headers={"Authorization": f"Bearer {key}"}).json()
        assert full["index"] == str(desk.index_dir) and isinstance(full["pid"], int)
    assert client_for(desk).get("/health").json()["index"] == str(desk.index_dir), "no keys: all of it"


# --- Methods ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ui", [False, True], ids=["api only", "web ui mounted at /"])
def test_allow_names_every_method_of_the_path(desk: Newsdesk, ui: bool) -> None:
    client = TestClient(create_app(desk, ServerSettings(ui=ui), load_now=True))
    options = client.options("/api/articles/strikes")
    assert options.status_code == 204 and options.headers["allow"] == "DELETE, GET, OPTIONS"
    put = client.put("/api/articles/strikes", json={})
    assert put.status_code == 405 and put.headers["allow"] == "DELETE, GET, OPTIONS"
    assert "PUT" in put.json()["error"]
    assert client.options("/api/articles").headers["allow"] == "OPTIONS, POST"
    assert client.get("/api/articles/strikes").status_code == 200


# --- Article ids the API could not serve back -------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_id", "named"),
    [("a/../b", "'..'"), ("bad\u202eid", "U+202E"), ("line\nbreak", "U+000A")],
)
def test_an_article_id_the_api_could_not_serve_is_422_naming_it_and_nothing_is_ingested(
    desk: Newsdesk, bad_id: str, named: str
) -> None:
    client = client_for(desk)
    version = desk.info()["version"]
    response = client.post("/api/articles", json=[PLANTED, article(bad_id, "Some text.")])
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["field"] == "articles[1]"
    assert (
        "field 'id'" in detail["problem"] and named in detail["problem"] and repr(bad_id) in detail["problem"]
    )
    assert desk.info()["version"] == version and stored_ids(desk) == {"strikes"}


def test_with_skip_errors_a_bad_id_is_reported_under_its_own_position(desk: Newsdesk) -> None:
    records = [article("a/./b", "Some text."), PLANTED, {"id": "typed", "text": 5}]
    response = client_for(desk).post("/api/articles?skip_errors=true", json=records)
    assert response.status_code == 200 and response.json()["ids"] == ["planted"]
    skipped = response.json()["skipped"]
    assert [s["origin"] for s in skipped] == ["articles[0]", "articles[2]"]
    assert "'a/./b'" in skipped[0]["reason"] and "'text'" in skipped[1]["reason"]
    assert stored_ids(desk) == {"strikes", "planted"}


def test_an_id_with_slashes_reaches_the_article_routes(desk: Newsdesk) -> None:
    """Feeds and many archives use URLs or paths as ids: GET and DELETE take the rest of the path."""
    client = client_for(desk)
    for method in ("GET", "DELETE"):
        response = client.request(method, "/api/articles/a%2Fb")
        assert response.status_code == 404 and response.json()["error"] == "no article with id 'a/b'"
    posted = client.post("/api/articles", json=[article("world/2015/09/30/bridge", "The bridge opened.")])
    assert posted.status_code == 200 and posted.json()["added"] == ["world/2015/09/30/bridge"]
    fetched = client.get("/api/articles/world/2015/09/30/bridge")
    assert fetched.status_code == 200 and fetched.json()["id"] == "world/2015/09/30/bridge"
    assert client.delete("/api/articles/world%2F2015%2F09%2F30%2Fbridge").status_code == 200
    assert client.get("/api/articles/world/2015/09/30/bridge").status_code == 404


def test_chat_completions_stream_is_a_strict_boolean(desk: Newsdesk) -> None:
    client = client_for(desk)
    for value in (0, 1, "yes", "true", None):
        body = {"messages": [{"role": "user", "content": "Hama?"}], "stream": value}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 422, value
        assert [d["field"] for d in response.json()["detail"]] == ["stream"]


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_to_the_host_name_it_was_told_to_bind(
    desk: Newsdesk, tmp_path: Path, workers: int
) -> None:
    """`serve --host NAME` (a key set, as binding off loopback names needs) answers `Host: NAME`, in
    one process and in each of `--workers N`; a name it was not given is still refused."""
    import os
    import subprocess
    import sys

    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if not address.startswith("127.") or name in ("localhost", "127.0.0.1"):
        pytest.skip(
            f"this machine's name {name!r} is not a loopback address ({address}) unlike a test host's"
        )
    desk.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [
        sys.executable,
        "-m",
        "newsdesk_app.cli",
        "serve",
        "--no-ui",
        "--host",
        name,
        "--port",
        str(port),
    ]
    command += ["--index", str(desk.index_dir), "--workers", str(workers)]
    environment = {**os.environ, "NEWSDESK_API_KEY": KEY}
    environment.pop("NEWSDESK_ALLOWED_HOSTS", None)
    server = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        base = f"http://{address}:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/health", headers={"Host": "localhost"}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for _ in range(4 * workers):  # each worker process builds its own settings
            named = httpx.get(f"{base}/api/stats", headers={**AUTH, "Host": f"{name}:{port}"}, timeout=10)
            while named.status_code == 503 and time.monotonic() < deadline:  # that worker is still loading
                time.sleep(0.1)
                named = httpx.get(f"{base}/api/stats", headers={**AUTH, "Host": f"{name}:{port}"}, timeout=10)
            assert named.status_code == 200, named.text
        other = httpx.get(f"{base}/api/stats", headers={**AUTH, "Host": f"other-{name}:{port}"}, timeout=10)
        assert other.status_code == 400
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_errors_over_http_do_not_show_where_the_index_lives_nor_a_writers_pid(
    desk: Newsdesk, tmp_path: Path
) -> None:
    missing = Newsdesk(tmp_path / "nowhere", embedder=HashingEmbedder())
    response = client_for(missing).post("/api/search", json={"query": "jets"})
    assert response.status_code == 503 and "no index at the index" in response.json()["error"]
    assert str(tmp_path) not in response.text
    with IndexDirectory(desk.index_dir).lock():  # another writer holds the index (this process, by its pid)
        busy = client_for(desk).post("/api/articles", json=[PLANTED])
    assert busy.status_code == 409 and str(tmp_path) not in busy.text and "pid" not in busy.text
    assert "is being written by another newsdesk process" in busy.json()["error"]
