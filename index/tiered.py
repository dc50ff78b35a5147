"""The default vector store: exact search over memory-mapped float32 rows while that is fast enough,
and a compressed approximate index in front of the same rows beyond that.

    vectors.npy   every vector, float32, the source of truth; memory-mapped, never read whole at load
    vectors.ivf   only above `exact_limit` rows: FAISS IVF with 4-bit product-quantized codes (96 bytes
                  for a 384-d row, 1/16 of float32) scanned with SIMD, its probe count tuned at build
                  time for recall against exact search

An approximate search asks the IVF for a few times more candidates than wanted and re-scores them
exactly from the float32 rows, so its scores are exact and only its recall is approximate. A filtered
search over few rows (a narrow date range, one outlet) is exact over just those rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexStateError

EXACT_LIMIT = 100_000  # one query over 100k float32 rows: ~6.5 ms on one core
ANN_SUFFIX = ".ivf"
# Tuned at the depth retrieval reads (50 candidates for the fusion), on hard queries. On the RealTime QA
# dev index, recall@50 of real questions at nprobe 24 (tuned at depth 10) was only 0.95.
TARGET_RECALL = 0.97
TUNING_DEPTH = 50
PROBES = (4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def as_matrix(vectors: np.ndarray, dimension: int) -> np.ndarray:
    """Contiguous float32 rows of `dimension` columns, or a ValueError naming the shape."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != dimension:
        raise ValueError(f"expected vectors of shape (n, {dimension}), got {matrix.shape}")
    return matrix


def _top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k per query row, ties broken by row number; -inf / -1 pad."""
    out_scores = np.full((len(scores), k), -np.inf, dtype=np.float32)
    out_rows = np.full((len(scores), k), -1, dtype=np.int64)
    for q in range(len(scores)):
        valid = rows[q] >= 0
        order = np.lexsort((rows[q][valid], -scores[q][valid]))[:k]
        out_scores[q, : len(order)] = scores[q][valid][order]
        out_rows[q, : len(order)] = rows[q][valid][order]
    return out_scores, out_rows


@dataclass(frozen=True, slots=True)
class AnnSettings:
    exact_limit: int = EXACT_LIMIT
    candidates_factor: int = 4
    min_candidates: int = 100


class TieredStore:
    backend = "tiered"

    def __init__(
        self,
        dimension: int,
        data: np.ndarray | None = None,
        ann: Any = None,
        settings: AnnSettings | None = None,
    ) -> None:
        self._dimension = dimension
        self._data = np.zeros((0, dimension), np.float32) if data is None else data
        self._pending: list[np.ndarray] = []
        self._ann = ann
        self.settings = settings or AnnSettings()

    @property
    def dimension(self) -> int:
        return self._dimension

    def _rows(self) -> np.ndarray:
        if self._pending:
            self._data = np.vstack([np.asarray(self._data), *self._pending])
            self._pending = []
            self._ann = None  # stale; rebuilt on save
        return self._data

    def __len__(self) -> int:
        return int(self._data.shape[0]) + sum(len(p) for p in self._pending)

    def add(self, vectors: np.ndarray) -> None:
        self._pending.append(as_matrix(vectors, self._dimension).copy())

    def vectors(self) -> np.ndarray:
        return self._rows()

    @property
    def kind(self) -> str:
        """Short name of the search in use: "exact" or "IVF<lists>,PQ<m>x4fs nprobe <n>"."""
        if self._ann is None:
            return "exact"
        return f"{ann_spec(self._dimension, self._ann.nlist)} nprobe {self._ann.nprobe}"

    def describe(self) -> str:
        if self._ann is None:
            return f"exact inner product over {len(self):,} memory-mapped float32 rows"
        return (
            f"{ann_spec(self._dimension, self._ann.nlist)} (nprobe {self._ann.nprobe}) + exact re-scoring of "
            f"max({self.settings.candidates_factor}k, {self.settings.min_candidates}) candidates"
        )

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = as_matrix(queries, self._dimension)
        data = self._rows()
        if len(queries) == 1:
            _one_thread()
        if len(data) == 0 or (allowed is not None and len(allowed) == 0):
            return _top_k(np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64), k)
        exact = self._ann is None or (allowed is not None and len(allowed) <= self.settings.exact_limit)
        if exact:
            return self._exact(queries, k, data, allowed)
        return self._approximate(queries, k, data, allowed)

    def _exact(
        self, queries: np.ndarray, k: int, data: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        if allowed is None:
            base, rows = data, None
        else:
            rows = np.unique(np.asarray(allowed, dtype=np.int64))
            base = np.ascontiguousarray(data[rows])
        take = min(k, len(base))
        scores, found = faiss.knn(
            queries, np.ascontiguousarray(base), take, metric=faiss.METRIC_INNER_PRODUCT
        )
        found = np.asarray(found, np.int64)
        if rows is not None:
            found = np.where(found >= 0, rows[np.clip(found, 0, None)], -1)
        return _top_k(np.asarray(scores, np.float32), found, k)

    def _approximate(
        self, queries: np.ndarray, k: int, data: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        depth = max(self.settings.candidates_factor * k, self.settings.min_candidates)
        params = faiss.SearchParametersIVF()
        params.nprobe = self._ann.nprobe
        if allowed is not None:
            params.sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        _, candidates = self._ann.search(queries, depth, params=params)
        candidates = np.asarray(candidates, np.int64)
        scores = np.full(candidates.shape, -np.inf, dtype=np.float32)
        for q in range(len(queries)):
            valid = np.flatnonzero(candidates[q] >= 0)
            scores[q, valid] = self._read_rows(data, candidates[q][valid]) @ queries[q]
        return _top_k(scores, candidates, k)

    def _read_rows(self, data: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The float32 rows for re-scoring. From a file they are read with pread, not through the
        memory map: faulting a map in would pull neighbouring pages into this process's memory
        (fault-around, read-ahead) and make a compressed index cost as much RAM as an exact one."""
        if not isinstance(data, np.memmap) or data.filename is None:
            return np.asarray(data[rows], dtype=np.float32)
        width = self._dimension * 4
        out = np.empty((len(rows), self._dimension), dtype=np.float32)
        with open(data.filename, "rb", buffering=0) as handle:
            descriptor = handle.fileno()
            for i, row in enumerate(rows.tolist()):
                out[i] = np.frombuffer(os.pread(descriptor, width, data.offset + row * width), np.float32)
        return out

    def save(self, path: Path) -> None:
        data = self._rows()
        with open(path, "wb") as handle:
            np.save(handle, np.asarray(data, dtype=np.float32), allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        if len(data) > self.settings.exact_limit:
            if self._ann is None or self._ann.ntotal != len(data):
                self._ann = build_ivf(np.asarray(data, dtype=np.float32))
            import faiss

            faiss.write_index(self._ann, str(_ann_path(path)))

    @classmethod
    def load(cls, path: Path, dimension: int) -> TieredStore:
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as error:
            raise IndexStateError(f"{path}: cannot be read as a NumPy array ({error})") from error
        if data.ndim != 2 or data.shape[1] != dimension or data.dtype != np.float32:
            raise IndexStateError(
                f"{path}: holds {data.dtype} vectors of shape {data.shape}, "
                f"the manifest says (n, {dimension})"
            )
        ann = None
        sidecar = _ann_path(path)
        if sidecar.exists():
            import faiss

            try:
                ann = faiss.read_index(str(sidecar))  # ~100 bytes a row: read whole
            except RuntimeError as error:
                raise IndexStateError(f"{sidecar}: cannot be read as a FAISS index ({error})") from error
            if ann.ntotal != len(data):
                raise IndexStateError(f"{sidecar}: {ann.ntotal} entries for {len(data)} vectors")
        return cls(dimension, data, ann)


def _one_thread() -> None:
    """One query runs on the calling thread alone. FAISS would start an OpenMP team for it, and on a
    busy 2-core machine waiting for that team made an exact search over 51k rows 7x slower (24 vs 3.3
    ms). OpenMP's thread count is per calling thread, so index builds elsewhere keep every core."""
    import faiss

    faiss.omp_set_num_threads(1)


def _ann_path(path: Path) -> Path:
    return path.with_suffix(ANN_SUFFIX)


def ann_spec(dimension: int, nlist: int) -> str:
    """IVF with 4-bit product-quantized codes scanned by SIMD (FAISS "fast scan"), 4 dimensions a
    sub-quantizer: 96 bytes of codes a 384-d vector. At 1M synthetic rows, with the same probes and exact
    re-scoring, it searched in 0.9 ms where 8-bit scalar codes took 13 ms, at the same recall@10 (0.96):
    the probed lists, not the codes, limit recall once candidates are re-scored exactly."""
    if dimension % 4 == 0 and (dimension // 4) % 2 == 0:
        return f"IVF{nlist},PQ{dimension // 4}x4fs"
    return f"IVF{nlist},SQ8"


def build_ivf(data: np.ndarray, seed: int = 0) -> Any:
    """Train an IVF (see `ann_spec`) on a sample, add every row, and pick the smallest probe count whose
    recall at TUNING_DEPTH (after exact re-scoring) reaches TARGET_RECALL on hard queries: midpoints
    of two rows."""
    import faiss

    n, dimension = data.shape
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # this thread may have searched single-threaded before
    nlist = max(16, int(2 * np.sqrt(n)))
    index: Any = faiss.index_factory(dimension, ann_spec(dimension, nlist), faiss.METRIC_INNER_PRODUCT)
    faiss.extract_index_ivf(index).cp.niter = 10
    rng = np.random.default_rng(seed)
    sample = data[np.sort(rng.choice(n, size=min(n, 50 * nlist), replace=False))]
    index.train(np.ascontiguousarray(sample))
    for start in range(0, n, 100_000):
        index.add(np.ascontiguousarray(data[start : start + 100_000]))
    index.nprobe = tune_nprobe(index, data, rng)
    return index


def tune_nprobe(index: Any, data: np.ndarray, rng: np.random.Generator, queries: int = 200) -> int:
    import faiss

    pairs = rng.choice(len(data), size=(queries, 2))
    probes = data[pairs[:, 0]] + data[pairs[:, 1]]
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    probes = np.ascontiguousarray(probes, dtype=np.float32)
    _, truth = faiss.knn(probes, data, TUNING_DEPTH, metric=faiss.METRIC_INNER_PRODUCT)
    store = TieredStore(data.shape[1], data, index)
    for nprobe in PROBES:
        if nprobe > index.nlist:
            break
        index.nprobe = nprobe
        _, found = store.search(probes, TUNING_DEPTH)
        if recall_at(found, truth) >= TARGET_RECALL:
            return nprobe
    return int(min(PROBES[-1], index.nlist))


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true top-k rows found, averaged over queries."""
    hits = sum(
        len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / max(1, int((truth >= 0).sum()))
