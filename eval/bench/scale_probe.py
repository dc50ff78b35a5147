"""Child process of the scale stage: load one store, answer the saved queries, print what it cost."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from eval.bench.measure import latency, rss_bytes
from index.tiered import TieredStore


def main(folder: Path, dimension: int) -> None:
    queries = np.load(folder / "queries.npy")
    import faiss  # imported before measuring: its own code is not the index's memory

    del faiss
    before = rss_bytes()
    began = time.perf_counter()
    store = TieredStore.load(folder / "vectors.npy", dimension)
    load_s = time.perf_counter() - began
    store.search(queries[:1], 10)
    times, found = [], []
    for query in queries:
        began = time.perf_counter()
        _, rows = store.search(query[None, :], 10)
        times.append((time.perf_counter() - began) * 1000)
        found.append(rows[0])
    np.save(folder / "found.npy", np.stack(found))
    print(
        json.dumps(
            {
                "index": store.kind,
                "index_detail": store.describe(),
                "load_s": round(load_s, 3),
                "rss_delta_bytes": rss_bytes() - before,
                **latency(times),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
