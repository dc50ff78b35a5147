"""Haystack 2.x's documented path: an indexing Pipeline DocumentSplitter →
SentenceTransformersDocumentEmbedder → DocumentWriter(InMemoryDocumentStore), and a query Pipeline
SentenceTransformersTextEmbedder → InMemoryEmbeddingRetriever(top_k=5).

DocumentSplitter counts words, not tokens: 190 words with 24 overlap come out near 256 / 32 word pieces on
news text (about 1.35 pieces a word), as in ../shared/PEERS.md; the longest chunks exceed the model's 256
positions and are truncated, which the mean/max/% columns show.
"""

from __future__ import annotations

from typing import Any

from haystack import Document, Pipeline  # type: ignore[import-not-found]
from haystack.components.embedders import (  # type: ignore[import-not-found]
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)
from haystack.components.preprocessors import DocumentSplitter  # type: ignore[import-not-found]
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever  # type: ignore[import-not-found]
from haystack.components.writers import DocumentWriter  # type: ignore[import-not-found]
from haystack.document_stores.in_memory import InMemoryDocumentStore  # type: ignore[import-not-found]

from peers.taskkit import BATCH_SIZE, TOP_K, Task, document_metadata, document_text

SPLIT_WORDS = 190
SPLIT_OVERLAP_WORDS = 24


def main() -> None:
    task = Task("haystack", "haystack-ai")
    store = InMemoryDocumentStore()
    document_embedder = SentenceTransformersDocumentEmbedder(
        model=task.model_path, batch_size=BATCH_SIZE, normalize_embeddings=True, progress_bar=False
    )
    indexing = Pipeline()
    indexing.add_component(
        "splitter",
        DocumentSplitter(split_by="word", split_length=SPLIT_WORDS, split_overlap=SPLIT_OVERLAP_WORDS),
    )
    indexing.add_component("embedder", document_embedder)
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("splitter.documents", "embedder.documents")
    indexing.connect("embedder.documents", "writer.documents")

    querying = Pipeline()
    querying.add_component(
        "embedder",
        SentenceTransformersTextEmbedder(
            model=task.model_path, batch_size=BATCH_SIZE, normalize_embeddings=True, progress_bar=False
        ),
    )
    querying.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=TOP_K))
    querying.connect("embedder.embedding", "retriever.query_embedding")

    indexing.warm_up()
    querying.warm_up()
    document_embedder.run(documents=[Document(content="warm up the model so that loading is not timed")])

    def ingest() -> Any:
        documents = [
            Document(content=document_text(article), meta=document_metadata(article))
            for article in task.read_articles()
        ]
        return indexing.run({"splitter": {"documents": documents}})

    task.measure_ingest(ingest)
    stored = store.filter_documents()
    task.record_chunks([document.content for document in stored])

    def search(question: str) -> list[Any]:
        found: list[Any] = querying.run({"embedder": {"text": question}})["retriever"]["documents"]
        return found

    task.measure_queries(search)
    task.finish(
        f"Pipeline: DocumentSplitter(word, {SPLIT_WORDS}/{SPLIT_OVERLAP_WORDS}) "
        "→ SentenceTransformersDocumentEmbedder(batch 32, normalized) "
        "→ DocumentWriter(InMemoryDocumentStore); "
        "Pipeline: SentenceTransformersTextEmbedder → InMemoryEmbeddingRetriever(top_k=5)",
        sum(document.embedding is not None for document in stored),
    )


if __name__ == "__main__":
    main()
