"""The HTTP APIs through FastAPI's TestClient, with the model-free embedder and no web UI."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.security import bind_refusal
from newsdesk_app.server.settings import ServerSettings
from rag.service import Newsdesk
from tests.conftest import article

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
STRIKES = article(
    "strikes",
    "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday. "
    "The Federation Council had approved the use of force abroad that morning.",
    title="Russia strikes Syria",
    source="Harbor Ledger",
)
QUAKE = article(
    "quake",
    "An earthquake shook the coast of Chile on Monday.",
    published_at="2014-04-01",
    source="Northern Wire",
)


@pytest.fixture
def desk(tmp_path: Path, write_jsonl: Writer) -> Newsdesk:
    service = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    service.ingest([write_jsonl("news.jsonl", [STRIKES, QUAKE])])
    return service


def client_for(desk: Newsdesk, **settings: Any) -> TestClient:
    return TestClient(create_app(desk, ServerSettings(ui=False, **settings), load_now=True))


def test_health_reports_ready(desk: Newsdesk) -> None:
    response = client_for(desk).get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ready"


def test_ask_returns_the_cli_json_shape(desk: Newsdesk) -> None:
    response = client_for(desk).post(
        "/api/ask", json={"question": "Which provinces were struck by Russian jets?"}
    )
    assert response.status_code == 200
    data = response.json()
    fields = {"question", "short_answer", "answer", "answered", "citations", "timings_ms", "reader"}
    assert set(data) == fields
    assert data == {
        **desk.ask("Which provinces were struck by Russian jets?").as_dict(),
        "timings_ms": data["timings_ms"],
    }
    assert "Hama, Homs and Latakia" in data["answer"] and data["citations"][0]["source"] == "Harbor Ledger"


def test_ask_streams_tokens_then_citations_then_done(desk: Newsdesk) -> None:
    with client_for(desk).stream(
        "POST", "/api/ask", json={"question": "Which provinces were struck by Russian jets?", "stream": True}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [block for block in response.read().decode().split("\n\n") if block]
    parsed = [
        (e.split("\n")[0].removeprefix("event: "), json.loads(e.split("\n")[1].removeprefix("data: ")))
        for e in events
    ]
    kinds = [kind for kind, _ in parsed]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"}
    text = "".join(data["text"] for kind, data in parsed if kind == "token")
    assert text == parsed[-1][1]["answer"] and "[1]" in text
    assert parsed[-2][1][0]["article_id"] == "strikes"


def test_follow_up_history_is_used_and_the_query_shown(desk: Newsdesk) -> None:
    history = [
        {"role": "user", "content": "Which provinces were struck by Russian jets?"},
        {
            "role": "assistant",
            "content": "Russian jets struck positions in the provinces of Hama, Homs and Latakia. [1]",
        },
    ]
    data = client_for(desk).post("/api/ask", json={"question": "Who approved it?", "history": history}).json()
    assert data["standalone_question"].startswith("Who approved ") and "Federation Council" in data["answer"]


def test_search_stats_and_filters(desk: Newsdesk) -> None:
    client = client_for(desk)
    hits = client.post("/api/search", json={"query": "earthquake Chile", "k": 1}).json()["hits"]
    assert [h["article_id"] for h in hits] == ["quake"]
    hits = client.post("/api/search", json={"query": "earthquake", "since": "2015-01-01"}).json()["hits"]
    assert hits, "the filter leaves the 2015 article to find"
    assert all(h["article_id"] == "strikes" for h in hits)
    stats = client.get("/api/stats").json()
    assert stats["articles"] == 2 and stats["outlets"] == {"Harbor Ledger": 1, "Northern Wire": 1}


def test_articles_add_get_delete(desk: Newsdesk) -> None:
    client = client_for(desk)
    new = article(
        "library", "The Brindleford library reopened on 3 May 2024 after a flood.", source="Civic Herald"
    )
    response = client.post("/api/articles", json=[new])
    assert response.status_code == 200 and response.json()["ids"] == ["library"]
    answer = client.post("/api/ask", json={"question": "When did the Brindleford library reopen?"}).json()
    assert "3 May 2024" in answer["answer"]
    stored = client.get("/api/articles/library").json()
    assert (stored["source"], stored["published_at"]) == ("Civic Herald", "2015-09-30")
    assert client.delete("/api/articles/library").json() == {"deleted": "library"}
    assert client.get("/api/articles/library").status_code == 404
    assert client.delete("/api/articles/library").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "x", "k": 0}, "k"),
        ({"question": "x", "k": 500}, "k"),
        ({"question": "x", "k": True}, "k"),  # not read as 1
        ({"question": "x", "k": "5"}, "k"),
        ({"question": "x", "stream": 0}, "stream"),
        ({}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "x", "since": "not a date"}, "since"),
        ({"question": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_ask_requests_are_422_naming_the_field(desk: Newsdesk, body: dict[str, Any], field: str) -> None:
    response = client_for(desk).post("/api/ask", json=body)
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]


def test_limits_on_question_length_and_body_size(desk: Newsdesk) -> None:
    client = client_for(desk, max_question_chars=50, max_body_bytes=2000)
    response = client.post("/api/ask", json={"question": "why " * 20})
    assert response.status_code == 422 and "over the limit of 50" in response.json()["error"]
    response = client.post("/api/articles", json=[article("big", "word " * 1000)])
    assert response.status_code == 413 and "2000 bytes" in response.json()["error"]


def test_bad_articles_are_422_naming_record_and_field_and_nothing_is_written(desk: Newsdesk) -> None:
    client = client_for(desk)
    response = client.post("/api/articles", json=[article("ok", "Fine text."), {"id": "bad", "text": 5}])
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "articles[1]", "problem": "field 'text' must be a string, got int"}
    ]
    assert client.get("/api/articles/ok").status_code == 404
    response = client.post("/api/articles?skip_errors=true", json=[article("ok", "Fine text."), {"text": 5}])
    assert response.json()["ids"] == ["ok"] and response.json()["skipped"][0]["origin"] == "articles[1]"


def test_api_keys_guard_api_and_v1_but_not_health(desk: Newsdesk) -> None:
    client = client_for(desk, api_keys=("first-key", "second-key"))
    assert client.get("/health").status_code == 200
    for path in ("/api/stats", "/v1/models"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer second-key"}).status_code == 200
    response = client.get("/api/stats")
    assert (
        response.headers["www-authenticate"] == "Bearer"
        and "Authorization: Bearer" in response.json()["error"]
    )


def test_questions_wait_for_loading_with_503(desk: Newsdesk, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_warm_up = desk.warm_up
    monkeypatch.setattr(desk, "warm_up", lambda: (release.wait(10), real_warm_up()))
    client = TestClient(create_app(desk, ServerSettings(ui=False)))
    assert client.get("/health").json()["status"] == "loading"
    response = client.post("/api/ask", json={"question": "Which provinces?"})
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    release.set()
    for _ in range(100):
        if client.get("/health").status_code == 200:
            break
        threading.Event().wait(0.05)
    assert client.post("/api/ask", json={"question": "Which provinces were struck?"}).status_code == 200


def test_a_missing_index_is_503_with_the_reason_and_an_upload_creates_it(tmp_path: Path) -> None:
    client = client_for(Newsdesk(tmp_path / "nothing", embedder=HashingEmbedder()))
    health = client.get("/health")
    assert health.status_code == 503 and "newsdesk ingest" in health.json()["detail"]
    assert client.post("/api/ask", json={"question": "Anything?"}).status_code == 503
    assert client.post("/api/articles", json=[QUAKE]).status_code == 200
    assert client.get("/health").status_code == 200


def test_an_index_made_behind_the_servers_back_is_picked_up(tmp_path: Path, write_jsonl: Writer) -> None:
    client = client_for(Newsdesk(tmp_path / "index", embedder=HashingEmbedder()))
    assert client.get("/health").status_code == 503
    Newsdesk(tmp_path / "index", embedder=HashingEmbedder()).ingest([write_jsonl("q.jsonl", [QUAKE])])
    assert client.get("/health").status_code == 200
    assert client.post("/api/search", json={"query": "Chile"}).json()["hits"][0]["article_id"] == "quake"


def test_openapi_documents_every_endpoint_with_examples(desk: Newsdesk) -> None:
    spec = client_for(desk).get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/ask",
        "/api/search",
        "/api/stats",
        "/api/articles",
        "/api/articles/{article_id}",
        "/v1/models",
        "/v1/chat/completions",
        "/health",
    } <= paths
    assert "examples" in json.dumps(spec["components"]["schemas"]["AskRequest"])
    docs = client_for(desk).get("/docs")
    assert docs.status_code == 200 and "https://" not in docs.text, "the docs page must not need the internet"
    assert client_for(desk).get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_openai_chat_completion_with_citations(desk: Newsdesk) -> None:
    client = client_for(desk)
    assert client.get("/v1/models").json()["data"][0]["id"] == "newsdesk"
    body = {
        "model": "newsdesk",
        "messages": [{"role": "user", "content": "Which provinces were struck by Russian jets?"}],
    }
    data = client.post("/v1/chat/completions", json=body).json()
    content = data["choices"][0]["message"]["content"]
    assert (
        "Hama, Homs and Latakia" in content
        and "Sources:\n[1] Russia strikes Syria — Harbor Ledger" in content
    )
    assert data["citations"][0]["article_id"] == "strikes" and data["usage"]["completion_tokens"] > 0
    assert client.post("/v1/chat/completions", json={**body, "model": "gpt-4"}).status_code == 404
    last_is_assistant = {"messages": [{"role": "assistant", "content": "hello"}]}
    assert client.post("/v1/chat/completions", json=last_is_assistant).status_code == 422


def test_openai_streaming_gives_the_same_content(desk: Newsdesk) -> None:
    client = client_for(desk)
    body = {
        "model": "newsdesk",
        "messages": [{"role": "user", "content": "Which provinces were struck by Russian jets?"}],
    }
    whole = client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        lines = [line for line in response.read().decode().split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == whole
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"][0]["n"] == 1


def test_the_web_ui_asks_for_its_password(desk: Newsdesk) -> None:
    client = TestClient(create_app(desk, ServerSettings(ui_password="open sesame"), load_now=True))
    assert client.get("/config").status_code == 401
    assert client.post("/login", data={"username": "any", "password": "wrong"}).status_code == 400
    assert client.post("/login", data={"username": "any", "password": "open sesame"}).status_code == 200
    assert client.get("/config").status_code == 200
    assert client.get("/api/stats").status_code == 200, "the API has its own keys, not the UI password"


def test_with_api_keys_the_web_ui_needs_a_key_and_a_read_only_one_only_as_reader(desk: Newsdesk) -> None:
    """The UI's archive tab ingests uploads, so API keys guard it too (no UI password set here)."""
    keys = ServerSettings(api_keys=("full-key",), read_only_keys=("reader-key",))
    client = TestClient(create_app(desk, keys, load_now=True))
    assert client.get("/config").status_code == 401
    assert client.post("/gradio_api/upload", files=[("files", ("a.jsonl", b"{}", "x"))]).status_code == 401
    for username, password, status in [
        ("editor", "wrong", 400),
        ("editor", "reader-key", 400),  # a read-only key cannot claim another user name
        ("reader", "reader-key", 200),
        ("editor", "full-key", 200),
    ]:
        login = client.post("/login", data={"username": username, "password": password})
        assert login.status_code == status, (username, password)
    assert client.get("/config").status_code == 200
    open_server = TestClient(create_app(desk, ServerSettings(), load_now=True))
    assert open_server.get("/config").status_code == 200, "no key and no password: open (on loopback)"


PROTECTED = [
    ("post", "/api/ask", {"question": "Which provinces were struck?"}),
    ("post", "/api/search", {"query": "provinces"}),
    ("get", "/api/stats", None),
    ("get", "/api/articles/strikes", None),
    ("post", "/api/articles", [article("new-one", "A new report about bike lanes.")]),
    ("delete", "/api/articles/new-one", None),
    ("get", "/v1/models", None),
    (
        "post",
        "/v1/chat/completions",
        {"model": "newsdesk", "messages": [{"role": "user", "content": "Hama?"}]},
    ),
]
WRITES = {"/api/articles", "/api/articles/new-one"}


def _call(client: TestClient, method: str, path: str, body: Any, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return int(client.request(method.upper(), path, **kwargs).status_code)


def test_every_protected_route_without_a_key_with_a_wrong_one_and_with_a_read_only_one(
    desk: Newsdesk,
) -> None:
    client = client_for(desk, api_keys=("full-key",), read_only_keys=("reader-key",))
    for method, path, body in PROTECTED:
        assert _call(client, method, path, body, None) == 401, path
        assert _call(client, method, path, body, "wrong-key") == 401, path
        expected = 403 if path in WRITES else 200
        assert _call(client, method, path, body, "reader-key") == expected, path
    # The full key may write: add, then delete, the article the read-only key could not.
    assert _call(client, "post", "/api/articles", PROTECTED[4][2], "full-key") == 200
    assert _call(client, "delete", "/api/articles/new-one", None, "full-key") == 200
    response = client.post("/api/articles", json=[], headers={"Authorization": "Bearer reader-key"})
    assert "read-only" in response.json()["error"]


def test_cors_is_closed_unless_origins_are_configured(desk: Newsdesk) -> None:
    preflight = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}
    closed = client_for(desk).options("/api/ask", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    opened = client_for(desk, cors_origins=("https://elsewhere.example",)).options(
        "/api/ask", headers=preflight
    )
    assert opened.headers["access-control-allow-origin"] == "https://elsewhere.example"


@pytest.mark.parametrize(
    ("host", "keys", "allowed", "refused"),
    [
        ("127.0.0.1", False, False, False),
        ("localhost", False, False, False),
        ("::1", False, False, False),
        ("0.0.0.0", False, False, True),
        ("192.168.1.20", False, False, True),
        ("0.0.0.0", True, False, False),
        ("0.0.0.0", False, True, False),
    ],
)
def test_an_open_server_is_refused_on_a_network_address(
    host: str, keys: bool, allowed: bool, refused: bool
) -> None:
    message = bind_refusal(host, keys, allowed)
    assert (message is not None) == refused
    if message:
        assert host in message and "NEWSDESK_API_KEY" in message and "--allow-unauthenticated" in message
