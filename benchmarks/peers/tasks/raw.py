"""The floor: what any framework must spend at least, with no framework at all.

The model tokenizer's 256-token windows (32 overlap) of each article, one
`SentenceTransformer.encode(batch_size=32, normalize_embeddings=True)` call, a faiss IndexFlatIP.
"""

from __future__ import annotations

import faiss
import numpy as np
from sentence_transformers import SentenceTransformer

from peers.taskkit import BATCH_SIZE, TOP_K, Task, document_text, token_windows


def main() -> None:
    task = Task("raw", "sentence-transformers")
    model = SentenceTransformer(task.model_path, device="cpu")
    model.encode(["warm up the model so that loading is not timed"], batch_size=BATCH_SIZE)
    chunks: list[str] = []

    def ingest() -> faiss.IndexFlatIP:
        for article in task.read_articles():
            chunks.extend(token_windows(model.tokenizer, document_text(article)))
        vectors = model.encode(
            chunks, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
        )
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return index

    index = task.measure_ingest(ingest)
    task.record_chunks(chunks)

    def search(question: str) -> list[str]:
        query = model.encode([question], batch_size=BATCH_SIZE, normalize_embeddings=True)
        _, ids = index.search(np.asarray(query, dtype=np.float32), TOP_K)
        return [chunks[i] for i in ids[0] if i >= 0]

    task.measure_queries(search)
    task.finish(
        "model-tokenizer windows 256/32 → SentenceTransformer.encode(batch 32, normalized) "
        "→ faiss IndexFlatIP",
        index.ntotal,
        faiss=faiss.__version__,
    )


if __name__ == "__main__":
    main()
