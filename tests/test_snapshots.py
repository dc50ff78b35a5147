"""Readers through the API while a write is half done: they keep answering from the previous version,
switch when the new one is published, and a second writer is turned away with 409 and a clear message."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import index.archive
from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.service import Newsdesk
from tests.conftest import article

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
CRANES = article("cranes", "Harbour cranes were installed in Rotterdam on Tuesday.", title="Rotterdam cranes")


class PausedWrite:
    """Holds a write at one of its crash points until released."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, name: str) -> None:
        if name == self.point:
            self.reached.set()
            assert self.release.wait(30), "the test never released the write"


@pytest.fixture
def client(tmp_path: Path, write_jsonl: Writer) -> TestClient:
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    quake = article("quake", "An earthquake shook the coast of Chile on Monday.", title="Chile quake")
    desk.ingest([write_jsonl("news.jsonl", [quake])])
    return TestClient(create_app(desk, ServerSettings(ui=False), load_now=True))


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def titles(client: TestClient, query: str) -> set[str]:
    response = client.post("/api/search", json={"query": query, "k": 5})
    assert response.status_code == 200, response.text
    return {hit["title"] for hit in response.json()["hits"]}


def view(client: TestClient) -> tuple[str, int, set[str]]:
    stats = client.get("/api/stats").json()
    answer = client.post("/api/ask", json={"question": "What happened in Rotterdam and Chile?"})
    assert answer.status_code == 200, answer.text
    return stats["version"], stats["articles"], titles(client, "Rotterdam harbour cranes Chile earthquake")


def start(pool: ThreadPoolExecutor, client: TestClient, write: str) -> Future[Any]:
    if write == "ingest":
        return pool.submit(client.post, "/api/articles", json=[CRANES])
    return pool.submit(client.delete, "/api/articles/quake")


PAUSES = [("ingest", point) for point in ("embedding", "staged", "renamed")]
PAUSES += [("delete", point) for point in ("staged", "renamed")]  # a delete embeds nothing


@pytest.mark.parametrize(("write", "point"), PAUSES)
def test_readers_see_the_previous_version_until_the_write_is_published(
    client: TestClient, pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch, write: str, point: str
) -> None:
    if write == "delete":  # deleting needs an article beside the one that goes
        assert client.post("/api/articles", json=[CRANES]).status_code == 200
    before = view(client)
    pause = PausedWrite(point)
    monkeypatch.setattr(index.archive, "crash_point", pause)
    monkeypatch.setattr("index.ingest.crash_point", pause)
    pending = start(pool, client, write)
    assert pause.reached.wait(30), f"the {write} never reached {point}"
    for _ in range(3):
        assert view(client) == before
    refused = client.post("/api/articles", json=[article("other", "Another story.")])
    assert refused.status_code == 409 and "another newsdesk process" in refused.json()["error"]
    pause.release.set()
    assert pending.result(timeout=60).status_code == 200
    version, count, found = view(client)
    assert version != before[0]
    if write == "ingest":
        assert (count, found) == (before[1] + 1, before[2] | {"Rotterdam cranes"})
    else:
        assert (count, found) == (before[1] - 1, before[2] - {"Chile quake"})


def test_api_readers_during_a_cli_ingest_see_the_old_state_then_the_new_one_and_nothing_between(
    client: TestClient, tmp_path: Path, write_jsonl: Writer
) -> None:
    desk: Newsdesk = client.app.state.desk  # type: ignore[attr-defined]
    stories = [
        article(f"story-{n}", f"Council meeting number {n} discussed the harbour budget.") for n in range(800)
    ]
    corpus = write_jsonl("many.jsonl", stories)
    command = [
        sys.executable,
        "-m",
        "newsdesk_app.cli",
        "ingest",
        str(corpus),
        "--index",
        str(desk.index_dir),
    ]
    seen: list[tuple[str, int]] = []
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while cli.poll() is None or len(seen) < 3:
        response = client.get("/api/stats")
        assert response.status_code == 200, response.text
        seen.append((response.json()["version"], response.json()["articles"]))
        assert client.post("/api/ask", json={"question": "What did the council discuss?"}).status_code == 200
    assert cli.returncode == 0, cli.stdout.read() if cli.stdout else ""
    states = list(dict.fromkeys(seen))  # in order of first appearance
    assert states[0][1] == 1 and states[-1][1] == 801 and len(states) <= 2, states
    assert seen == sorted(seen, key=states.index)  # once switched, never back


def test_a_question_reads_one_version_and_is_cached_by_the_history_it_was_read_with(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache key and the answer come from the same snapshot (opened once per question), so an
    answer read from one version is never filed under another's; a follow-up whose previous reply
    carries its Answer is not served the answer of the same words sent as text only."""
    from rag.conversation import Turn
    from rag.question import frame_question

    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    desk.ingest([write_jsonl("news.jsonl", [CRANES])])
    opened: list[str] = []
    open_snapshot = desk.snapshot

    def counted() -> index.archive.Snapshot:
        snapshot = open_snapshot()
        opened.append(snapshot.version)
        return snapshot

    monkeypatch.setattr(desk, "snapshot", counted)
    question = "Which cranes were installed in Rotterdam?"
    first = desk.ask(question)
    assert len(opened) == 1 and "cached" not in first.timings_ms
    assert first.frame == frame_question(question) and "frame" not in first.as_dict()
    assert desk.ask(question).timings_ms["cached"] == 1.0
    text_only = [Turn("user", question), Turn("assistant", f"Harbour cranes\n\n{first.answer}")]
    carried = [Turn("user", question), Turn("assistant", text_only[1].content, answer=first)]
    follow_up = desk.ask("When was it?", history=text_only)
    assert "cached" not in follow_up.timings_ms
    assert "cached" not in desk.ask("When was it?", history=carried).timings_ms
    assert desk.ask("When was it?", history=text_only).timings_ms["cached"] == 1.0
