"""Shared fixtures, and which tests a plain `pytest` leaves out.

A plain `pytest` in a checkout runs the fast tests only: pyproject's `addopts` deselects the marks
`model`, `browser`, `llm`, `nomic`, `crashloop` and `slow`. The test command (scripts/test.sh, which
`.ci/run` calls) passes `-m ""`, which overrides that and runs every test. To run everything by hand:

    .venv/bin/python -m pytest -m ""                 # all of it, as the test command does
    .venv/bin/python -m pytest -m slow               # only the slow ones
    .venv/bin/python -m pytest -m "not model"        # any other selection replaces the default one

`slow` is given here, from SLOW_MODULES and SLOW_TESTS, rather than in each file, so that one list
says what the quick run leaves out and why.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from index.embedding import HashingEmbedder

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED_ARTICLES = SHARED / "data" / "seed" / "articles"
SEED_GOLD = SHARED / "data" / "seed" / "gold.jsonl"
DEMO_DIR = Path(__file__).resolve().parents[1] / "rag" / "demo"

# Tests (and the CLIs and servers they start) keep their vectors out of the user's embedding cache.
os.environ.setdefault(
    "NEWSDESK_EMBEDDING_CACHE", str(Path(tempfile.mkdtemp(prefix="newsdesk-tests-")) / "embeddings.sqlite")
)


# Whole modules too slow for the quick run, with why: each test starts processes or a server.
SLOW_MODULES = {
    "test_crash.py": "kills a writing process at every step and reopens the index",
    "test_milvus_store.py": "Milvus Lite runs a server process for every index",
    "test_milvus_served.py": "starts the Milvus engine, command lines and servers in processes",
    "test_ray_engine.py": "starts a Ray cluster",
    "test_serve_workers.py": "starts a server with several worker processes",
    "test_shutdown.py": "starts servers and sends them SIGTERM mid-ingest",
    "test_versions.py": "runs the command line in a process for every step",
}
# Single tests (every parameter of each) of a few seconds or more on a quiet two-core machine: servers and
# command lines in processes, an input of megabytes, the schema fuzzing of every API operation.
SLOW_TESTS = {
    "test_api_fuzz.py": {"test_no_request_gives_a_500_or_an_undocumented_response"},
    "test_bounded_work.py": {
        "test_the_cli_reads_the_9_kb_gzip_in_bounded_memory_and_names_twenty_problems_and_the_count",
        "test_a_server_reading_the_whole_9_kb_gzip_grows_by_little_and_answers_in_a_few_kilobytes",
        "test_a_client_that_leaves_stops_the_work_and_the_index_is_as_it_was",
        "test_sigterm_stops_an_upload_being_read_within_seconds",
    },
    "test_hostile_input.py": {
        "test_a_10_mb_article_in_jsonl_and_txt_is_chunked_indexed_and_found",
    },
    "test_http_hardening.py": {
        "test_serve_answers_to_the_host_name_it_was_told_to_bind",
    },
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marks, so that it sees `slow`
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.name
        name = getattr(item, "originalname", item.name)  # without the [parameter]
        if module in SLOW_MODULES or name in SLOW_TESTS.get(module, ()):
            item.add_marker(pytest.mark.slow)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[str, Iterable[dict[str, Any]]], Path]:
    def write(name: str, records: Iterable[dict[str, Any]]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return path

    return write


def article(article_id: str, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": article_id,
        "title": fields.pop("title", f"Title of {article_id}"),
        "text": text,
        "published_at": fields.pop("published_at", "2015-09-30"),
        "source": fields.pop("source", "Test Wire"),
        "url": fields.pop("url", f"https://test.example/{article_id}"),
        **fields,
    }
