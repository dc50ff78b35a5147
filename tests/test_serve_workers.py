"""`newsdesk serve --workers 2` in a subprocess: two processes answer on one port from one index, and each
picks up a version written after it started, without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from index.embedding import HashingEmbedder
from newsdesk_app.cli.main import main
from rag.service import Newsdesk
from tests.conftest import article
from tests.servers import free_port

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
STRIKES = "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday."
CRANES = "Harbour cranes taller than any before were installed in Rotterdam on Friday."


@pytest.fixture
def served(tmp_path: Path, write_jsonl: Writer) -> Iterator[tuple[str, Newsdesk]]:
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    desk.ingest([write_jsonl("news.jsonl", [article("strikes", STRIKES, title="Russia strikes Syria")])])
    port = free_port()
    command = [sys.executable, "-m", "newsdesk_app.cli", "serve", "--index", str(desk.index_dir), "--no-ui"]
    command += ["--workers", "2", "--port", str(port)]
    env = {**os.environ, "NEWSDESK_ANSWER_CACHE": "0"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield f"http://127.0.0.1:{port}", desk
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def versions_by_worker(
    base: str, wanted: Callable[[dict[str, str]], bool], limit_s: float = 60
) -> dict[str, str]:
    """/health on a new connection each time (so the kernel hands it to either worker) until `wanted`
    holds for {worker pid: index version it serves}."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{base}/health", timeout=5).json()
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if health["status"] == "ready":
            seen[str(health["pid"])] = str(health["version"])
            if wanted(seen):
                return seen
        time.sleep(0.02)
    raise AssertionError(f"gave up after {limit_s:.0f} s; workers seen: {seen}")


def test_two_workers_answer_and_each_picks_up_a_version_written_after_it_started(
    served: tuple[str, Newsdesk], write_jsonl: Writer
) -> None:
    base, desk = served
    first = desk.directory.current_version()
    assert set(versions_by_worker(base, lambda seen: len(seen) == 2).values()) == {first}
    answer = httpx.post(f"{base}/api/ask", json={"question": "Which provinces were struck?"}, timeout=30)
    assert answer.status_code == 200 and "Hama, Homs and Latakia" in answer.json()["answer"]

    desk.ingest([write_jsonl("more.jsonl", [article("cranes", CRANES, title="Rotterdam cranes")])])
    second = desk.directory.current_version()
    assert second != first
    versions_by_worker(base, lambda seen: len(seen) == 2 and set(seen.values()) == {second})
    for _ in range(6):  # new connections, either worker
        hits = httpx.post(f"{base}/api/search", json={"query": "harbour cranes Rotterdam"}, timeout=30)
        assert hits.status_code == 200 and hits.json()["hits"][0]["article_id"] == "cranes"


def test_several_workers_need_no_ui(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--index", str(tmp_path), "--workers", "2"])
    assert result.exit_code == 2 and "--no-ui" in result.output
