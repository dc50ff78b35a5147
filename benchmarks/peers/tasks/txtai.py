"""txtai's documented path: Embeddings(path=model, content=True) indexing (id, {"text": ..., metadata}, None)
rows, then Embeddings.search(question, 5). txtai does not split documents itself when indexing, so it
gets the raw floor's windows (the model tokenizer's 256 word pieces, 32 overlap). Its defaults pick a
faiss flat index ("IDMap,Flat" at this size) and an SQLite content store; the model runs through txtai's
own transformers mean pooling, not sentence-transformers.
"""

from __future__ import annotations

from typing import Any

from transformers import AutoTokenizer
from txtai import Embeddings  # type: ignore[import-not-found]

from peers.taskkit import BATCH_SIZE, TOP_K, Task, document_metadata, document_text, token_windows


def main() -> None:
    task = Task("txtai", "txtai")
    tokenizer = AutoTokenizer.from_pretrained(task.model_path)
    embeddings = Embeddings(path=task.model_path, content=True, encodebatch=BATCH_SIZE)
    embeddings.transform("warm up the model so that loading is not timed")
    chunks: list[str] = []

    def rows() -> Any:
        for article in task.read_articles():
            metadata = document_metadata(article)
            for number, window in enumerate(token_windows(tokenizer, document_text(article))):
                chunks.append(window)
                yield f"{metadata['article_id']}#{number}", {"text": window, **metadata}, None

    task.measure_ingest(lambda: embeddings.index(rows()))
    task.record_chunks(chunks)
    task.measure_queries(lambda question: embeddings.search(question, TOP_K))
    task.finish(
        "model-tokenizer windows 256/32 → Embeddings(path=model, content=True, encodebatch=32).index "
        "→ Embeddings.search(limit=5)",
        embeddings.count(),
        ann=embeddings.config.get("backend"),
        ann_type=type(embeddings.ann).__name__,
    )


if __name__ == "__main__":
    main()
