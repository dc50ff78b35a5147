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
