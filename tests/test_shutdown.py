"""`newsdesk serve` stopped with SIGTERM (as systemd, Docker or Kubernetes stop it): requests in flight
finish within the grace period (NEWSDESK_SHUTDOWN_GRACE_SECONDS), an ingest that would take longer is
stopped with nothing written, the server exits cleanly, and the index it was writing is whole."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from index.archive import IndexDirectory
from index.embedding import HashingEmbedder
from rag.service import Newsdesk
from tests.conftest import article
from tests.servers import free_port

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
BATCH = 3000
# uvicorn shuts down gracefully, then re-raises the signal so a supervisor sees why it stopped.
STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)


def lock_is_held(index: Path) -> bool:
    with open(index / "LOCK", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


Served = tuple[subprocess.Popen[str], str, Path]


@pytest.fixture
def served(tmp_path: Path, write_jsonl: Writer) -> Iterator[Served]:
    yield from serving(tmp_path, write_jsonl, {})


@pytest.fixture
def served_with_a_short_grace(tmp_path: Path, write_jsonl: Writer) -> Iterator[Served]:
    yield from serving(tmp_path, write_jsonl, {"NEWSDESK_SHUTDOWN_GRACE_SECONDS": "1"})


def serving(tmp_path: Path, write_jsonl: Writer, settings: dict[str, str]) -> Iterator[Served]:
    index = tmp_path / "index"
    quake = article("quake", "An earthquake shook the coast of Chile on Monday.")
    Newsdesk(index, embedder=HashingEmbedder()).ingest([write_jsonl("news.jsonl", [quake])])
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "newsdesk_app.cli.main",
        "serve",
        "--no-ui",
        "--index",
        str(index),
        "--port",
        str(port),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("NEWSDESK_API_KEY", "NEWSDESK_READONLY_API_KEY")}
    env.update(settings)
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield server, base, index
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)


def test_sigterm_lets_an_ingest_in_flight_finish_and_leaves_the_index_whole(
    served: tuple[subprocess.Popen[str], str, Path],
) -> None:
    server, base, index = served
    batch = [
        article(f"story-{n}", f"Council meeting {n} discussed the harbour budget.") for n in range(BATCH)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        upload = pool.submit(httpx.post, f"{base}/api/articles", json=batch, timeout=120)
        deadline = time.monotonic() + 60
        while not lock_is_held(index):  # the write has begun
            assert time.monotonic() < deadline and not upload.done(), "the ingest never started"
            time.sleep(0.005)
        server.send_signal(signal.SIGTERM)
        response = upload.result(timeout=120)
    assert response.status_code == 200, response.text
    assert len(response.json()["added"]) == BATCH
    assert server.wait(timeout=60) in STOPPED_BY_SIGTERM
    assert "Traceback" not in (server.stdout.read() if server.stdout else "")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/health", timeout=2)
    snapshot = IndexDirectory(index).open()  # verifies every checksum
    try:
        assert len(snapshot.local_catalog().article_hashes()) == BATCH + 1
        assert len(snapshot.vectors) == snapshot.catalog.stats()["chunks"]
    finally:
        snapshot.close()
    assert not lock_is_held(index)


def test_sigterm_on_an_idle_server_exits_at_once(served: tuple[subprocess.Popen[str], str, Path]) -> None:
    server, base, _ = served
    assert httpx.post(f"{base}/api/ask", json={"question": "Where was the earthquake?"}).status_code == 200
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) in STOPPED_BY_SIGTERM
    print(f"idle server stopped {time.monotonic() - started:.2f} s after SIGTERM")


def test_sigterm_stops_an_ingest_that_outlasts_the_grace_and_the_index_is_as_it_was(
    served_with_a_short_grace: Served,
) -> None:
    server, base, index = served_with_a_short_grace
    before = IndexDirectory(index).current_version()
    report = " ".join(f"Sentence {k} of the council's report on the sea wall." for k in range(30))
    stories = [article(f"story-{n}", f"Story {n}. {report}") for n in range(5000)]  # some 15 s of writing
    data = gzip.compress("".join(json.dumps(s) + "\n" for s in stories).encode())
    with ThreadPoolExecutor(max_workers=1) as pool:
        files = [("files", ("stories.jsonl.gz", data, "application/gzip"))]
        upload = pool.submit(httpx.post, f"{base}/api/files", files=files, timeout=120)
        deadline = time.monotonic() + 60
        while not lock_is_held(index):  # read; now chunking and embedding
            assert time.monotonic() < deadline and not upload.done(), "the ingest never started"
            time.sleep(0.005)
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) in STOPPED_BY_SIGTERM
        stopped = time.monotonic() - began
        response = upload.result(timeout=60)
    assert stopped < 10, f"exited {stopped:.1f} s after SIGTERM"
    assert response.status_code == 503, response.text
    assert response.json()["error"].endswith("nothing was written")
    assert "Traceback" not in (server.stdout.read() if server.stdout else "")
    assert IndexDirectory(index).current_version() == before and not lock_is_held(index)
    snapshot = IndexDirectory(index).open()  # verifies every checksum
    try:
        assert sorted(snapshot.local_catalog().article_hashes()) == ["quake"]
    finally:
        snapshot.close()
    print(f"stopped {stopped:.2f} s after SIGTERM, mid-ingest")
