from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding import HashingEmbedder
from index.errors import IndexStateError
from index.vectors import FaissStore, NumpyStore


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_faiss_search_equals_exact_numpy_search(seed: int) -> None:
    data, queries = unit_rows(2000, 48, seed), unit_rows(20, 48, seed + 100)
    faiss_store, numpy_store = FaissStore(48), NumpyStore(48)
    faiss_store.add(data[:1200])
    faiss_store.add(data[1200:])
    numpy_store.add(data)
    got_scores, got_rows = faiss_store.search(queries, 10)
    want_scores, want_rows = numpy_store.search(queries, 10)
    np.testing.assert_array_equal(got_rows, want_rows)
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)


def test_filtered_search_only_returns_allowed_rows_in_both_backends() -> None:
    data, queries = unit_rows(500, 16, 3), unit_rows(5, 16, 4)
    allowed = np.arange(0, 500, 9)
    results = []
    for store in (FaissStore(16), NumpyStore(16)):
        store.add(data)
        _, rows = store.search(queries, 7, allowed)
        assert set(rows.ravel()) <= set(allowed)
        results.append(rows)
    np.testing.assert_array_equal(results[0], results[1])


def test_fewer_rows_than_k_are_padded_with_minus_one() -> None:
    store = FaissStore(16)
    store.add(unit_rows(3, 16, 5))
    _, rows = store.search(unit_rows(1, 16, 6), 5)
    assert sorted(rows[0][:3]) == [0, 1, 2] and list(rows[0][3:]) == [-1, -1]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = unit_rows(50, 16, 7)
    for store, name in ((FaissStore(16), "v.faiss"), (NumpyStore(16), "v.npy")):
        store.add(data)
        store.save(tmp_path / name)
        loaded = type(store).load(tmp_path / name, 16)
        np.testing.assert_allclose(loaded.vectors(), data, atol=1e-6)


def test_wrong_shape_and_damaged_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        FaissStore(16).add(np.zeros((2, 8), np.float32))
    bad = tmp_path / "vectors.faiss"
    bad.write_bytes(b"not a faiss index")
    with pytest.raises(IndexStateError, match=r"vectors\.faiss"):
        FaissStore.load(bad, 16)


def test_hashing_embedder_is_deterministic_and_normalized() -> None:
    embedder = HashingEmbedder()
    first = embedder.embed(["Hama, Homs and Latakia", "the cat sat"])
    again = HashingEmbedder().embed(["Hama, Homs and Latakia", "the cat sat"])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)
    close, far = embedder.embed(["provinces of Hama and Homs", "football results"]) @ first[0]
    assert close > far
