"""The vector store at 10k, 100k and 1M rows: synthetic unit vectors clustered like passages around
stories, the store the index would choose, and its recall@10 against exact search.

Each store is loaded and queried in a fresh child process (`python -m eval.bench.scale_probe`), so its
memory is measured alone; disk is every file the store wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.measure import ratio
from index.tiered import TieredStore, recall_at

QUERIES = 200
SPREAD = 0.9  # noise norm around a story's centre: a passage's cosine to its centre is about 0.74


def clustered_vectors(n: int, dimension: int, seed: int, centers: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dimension), np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        rows = centers[rng.integers(len(centers), size=size)]
        rows = rows + rng.normal(scale=SPREAD / np.sqrt(dimension), size=(size, dimension)).astype(np.float32)
        out[start : start + size] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def _centers(count: int, dimension: int, seed: int) -> np.ndarray:
    centers = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return np.asarray(centers / np.linalg.norm(centers, axis=1, keepdims=True), dtype=np.float32)


def run_scale(sizes: Sequence[int], workdir: Path, dimension: int = 384) -> list[dict[str, Any]]:
    return [_one_size(n, workdir / f"scale-{n}", dimension) for n in sizes]


def _one_size(n: int, folder: Path, dimension: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    centers = _centers(max(1, n // 50), dimension, seed=n)
    data = clustered_vectors(n, dimension, seed=n + 1, centers=centers)
    queries = clustered_vectors(QUERIES, dimension, seed=n + 2, centers=centers)
    np.save(folder / "queries.npy", queries)

    store = TieredStore(dimension)
    store.add(data)
    began = time.perf_counter()
    store.save(folder / "vectors.npy")
    build_s = time.perf_counter() - began
    del store
    exact = TieredStore(dimension, data)  # the same rows, no approximate index: the baseline
    _, truth = exact.search(queries, 10)
    exact_ms = []
    for query in queries[:50]:
        began = time.perf_counter()
        exact.search(query[None, :], 10)
        exact_ms.append((time.perf_counter() - began) * 1000)
    del data, exact

    probe = subprocess.run(
        [sys.executable, "-m", "eval.bench.scale_probe", str(folder), str(dimension)],
        check=True,
        capture_output=True,
        text=True,
    )
    measured = json.loads(probe.stdout.strip().splitlines()[-1])
    found = np.load(folder / "found.npy")
    disk = sum(p.stat().st_size for p in folder.glob("vectors.*"))
    exact_p50 = float(np.median(exact_ms))
    return {
        "chunks": n,
        "index": measured["index"],
        "index_detail": measured["index_detail"],
        "build_s": round(build_s, 2),
        "search_p50_ms": measured["p50_ms"],
        "search_p95_ms": measured["p95_ms"],
        "exact_search_p50_ms": round(exact_p50, 2),
        "speedup_to_exact": ratio(exact_p50, measured["p50_ms"]),
        "recall_at_10": round(recall_at(found, truth), 4),
        "disk_bytes_per_chunk": round(disk / n),
        "memory_bytes_per_chunk": round(measured["rss_delta_bytes"] / n),
        "load_s": measured["load_s"],
    }
