from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding import SentenceTransformerEmbedder, make_embedder, passage_for_embedding
from index.ingest import IngestOptions
from index.onnx_embedding import ONNX_MODEL, OnnxEmbedder
from rag.service import Newsdesk
from tests.conftest import DEMO_DIR, read_jsonl

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def passages() -> list[str]:
    return [
        passage_for_embedding(a["title"], a["text"][:1200]) for a in read_jsonl(DEMO_DIR / "articles.jsonl")
    ]


def test_int8_vectors_match_the_torch_model_closely_and_keep_the_neighbours(passages: list[str]) -> None:
    onnx = make_embedder(ONNX_MODEL)
    assert isinstance(onnx, OnnxEmbedder) and onnx.dimension == 384
    fast, reference = onnx.embed(passages), SentenceTransformerEmbedder().embed(passages)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosine = (fast * reference).sum(axis=1)
    assert cosine.min() > 0.97 and cosine.mean() > 0.99
    kept = [
        len(set(np.argsort(-(fast @ fast[i]))[:5]) & set(np.argsort(-(reference @ reference[i]))[:5])) / 5
        for i in range(len(passages))
    ]
    assert np.mean(kept) >= 0.9
    # Order and single-text calls give the same vectors as one batch.
    np.testing.assert_allclose(onnx.embed(passages[:1])[0], fast[0], atol=1e-6)
    np.testing.assert_allclose(onnx.embed(passages[::-1])[::-1], fast, atol=1e-6)


def test_new_indexes_use_the_int8_model_by_default_and_record_it(tmp_path: Path) -> None:
    desk = Newsdesk(tmp_path / "index")
    desk.ingest([DEMO_DIR / "articles.jsonl"], IngestOptions())
    assert desk.info()["model"] == ONNX_MODEL
    answer = desk.ask("Which provinces were struck?")
    assert answer.answered and "Hama" in answer.answer
