from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding import HashingEmbedder
from index.errors import IndexStateError
from index.tiered import AnnSettings, TieredStore, recall_at
from index.vectors import FaissStore, NumpyStore, load_store, new_store, store_file


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("backend", [FaissStore, TieredStore])
def test_exact_search_equals_numpy_search(seed: int, backend: type[FaissStore] | type[TieredStore]) -> None:
    data, queries = unit_rows(2000, 48, seed), unit_rows(20, 48, seed + 100)
    store, numpy_store = backend(48), NumpyStore(48)
    store.add(data[:1200])
    store.add(data[1200:])
    numpy_store.add(data)
    got_scores, got_rows = store.search(queries, 10)
    want_scores, want_rows = numpy_store.search(queries, 10)
    np.testing.assert_array_equal(got_rows, want_rows)
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)


def test_filtered_search_only_returns_allowed_rows_in_both_backends() -> None:
    data, queries = unit_rows(500, 16, 3), unit_rows(5, 16, 4)
    allowed = np.arange(0, 500, 9)
    results = []
    for store in (FaissStore(16), NumpyStore(16), TieredStore(16)):
        store.add(data)
        _, rows = store.search(queries, 7, allowed)
        assert rows.shape == (len(queries), 7) and set(rows.ravel()) <= set(allowed)
        results.append(rows)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[2], results[1])


@pytest.mark.parametrize("backend", [FaissStore, TieredStore])
def test_fewer_rows_than_k_are_padded_with_minus_one(backend: type[FaissStore] | type[TieredStore]) -> None:
    store = backend(16)
    store.add(unit_rows(3, 16, 5))
    _, rows = store.search(unit_rows(1, 16, 6), 5)
    assert sorted(rows[0][:3]) == [0, 1, 2] and list(rows[0][3:]) == [-1, -1]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = unit_rows(50, 16, 7)
    for store, name in ((FaissStore(16), "v.faiss"), (NumpyStore(16), "v.npy"), (TieredStore(16), "t.npy")):
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


def clustered_rows(n: int, d: int, seed: int, spread: float = 0.35) -> np.ndarray:
    """Rows around n // 50 topics, like passages of a news archive around its stories."""
    rng = np.random.default_rng(seed)
    centers = unit_rows(max(1, n // 50), d, seed + 1)
    rows = centers[rng.integers(len(centers), size=n)] + rng.normal(scale=spread / np.sqrt(d), size=(n, d))
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def test_large_tiered_store_builds_a_tuned_ivf_with_exact_scores_and_high_recall(tmp_path: Path) -> None:
    rows = clustered_rows(6050, 32, 8)
    data, queries = rows[:6000], rows[6000:]  # queries about the same stories, not stored rows
    store = TieredStore(32, settings=AnnSettings(exact_limit=2000))
    store.add(data)
    store.save(tmp_path / "vectors.npy")
    assert (tmp_path / "vectors.ivf").exists()
    loaded = TieredStore.load(tmp_path / "vectors.npy", 32)
    assert isinstance(loaded.vectors(), np.memmap)  # not read whole at load
    assert "IVF" in loaded.describe()
    _, want_rows = NumpyStore(32, data).search(queries, 10)
    got_scores, got_rows = loaded.search(queries, 10)
    assert recall_at(got_rows, want_rows) >= 0.95
    # Candidates are re-scored exactly: every returned score is the true inner product.
    np.testing.assert_allclose(got_scores, np.einsum("qd,qkd->qk", queries, data[got_rows]), atol=1e-5)
    allowed = np.arange(1, 6000, 2)
    loaded.settings = AnnSettings(exact_limit=100)  # a wide filter goes through the IVF with a selector
    _, rows = loaded.search(queries, 10, allowed)
    assert rows.shape == (len(queries), 10) and set(rows.ravel()) <= set(allowed.tolist())


def test_small_tiered_store_writes_no_approximate_index(tmp_path: Path) -> None:
    store = TieredStore(16)
    store.add(unit_rows(100, 16, 9))
    store.save(tmp_path / "vectors.npy")
    assert not (tmp_path / "vectors.ivf").exists()
    assert "exact" in TieredStore.load(tmp_path / "vectors.npy", 16).describe()


def test_tiered_store_names_a_damaged_or_mismatched_file(tmp_path: Path) -> None:
    bad = tmp_path / "vectors.npy"
    bad.write_bytes(b"not numpy")
    with pytest.raises(IndexStateError, match=r"vectors\.npy"):
        TieredStore.load(bad, 16)
    np.save(bad, unit_rows(4, 8, 1))
    with pytest.raises(IndexStateError, match=r"vectors\.npy.*\(n, 16\)"):
        TieredStore.load(bad, 16)


def test_hashing_embedder_is_deterministic_and_normalized() -> None:
    embedder = HashingEmbedder()
    first = embedder.embed(["Hama, Homs and Latakia", "the cat sat"])
    again = HashingEmbedder().embed(["Hama, Homs and Latakia", "the cat sat"])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)
    close, far = embedder.embed(["provinces of Hama and Homs", "football results"]) @ first[0]
    assert close > far


@pytest.mark.parametrize("backend", ["numpy", "faiss-flat-ip", "tiered"])
def test_a_file_backend_saves_and_loads_by_its_manifest_name(tmp_path: Path, backend: str) -> None:
    data = unit_rows(20, 8, 11)
    store = new_store(backend, 8)
    store.add(data)
    store.save(tmp_path / store_file(backend))
    loaded = load_store(backend, tmp_path / store_file(backend), 8)
    assert loaded.backend == backend
    np.testing.assert_allclose(loaded.vectors(), data, atol=1e-6)
