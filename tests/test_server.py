"""The real server on a loopback port, spoken to by the official `openai` client and by httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from openai import OpenAI

from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.service import Newsdesk
from tests.conftest import article
from tests.servers import free_port

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
QUESTION = "Which provinces were struck by Russian jets?"


@pytest.fixture
def server(tmp_path: Path, write_jsonl: Writer) -> Iterator[str]:
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    text = "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday."
    desk.ingest([write_jsonl("news.jsonl", [article("strikes", text, title="Russia strikes Syria")])])
    app = create_app(desk, ServerSettings(ui=False, api_keys=("secret",)))
    port = free_port()
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    yield base
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def test_openai_client_without_streaming(server: str) -> None:
    client = OpenAI(base_url=f"{server}/v1", api_key="secret")
    assert [m.id for m in client.models.list()] == ["newsdesk"]
    completion = client.chat.completions.create(
        model="newsdesk", messages=[{"role": "user", "content": QUESTION}]
    )
    content = completion.choices[0].message.content or ""
    assert "Hama, Homs and Latakia" in content and "[1] Russia strikes Syria" in content
    citations = completion.model_extra["citations"] if completion.model_extra else []
    assert citations[0]["article_id"] == "strikes"


def test_openai_client_streaming(server: str) -> None:
    client = OpenAI(base_url=f"{server}/v1", api_key="secret")
    stream = client.chat.completions.create(
        model="newsdesk", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert len(pieces) > 5 and "Hama, Homs and Latakia" in "".join(pieces)


def test_wrong_key_is_refused_over_the_wire(server: str) -> None:
    client = OpenAI(base_url=f"{server}/v1", api_key="not-the-key", max_retries=0)
    with pytest.raises(Exception, match="401"):
        client.models.list()
