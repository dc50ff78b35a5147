"""LlamaIndex's documented path: Documents → SentenceSplitter(256, 32) → HuggingFaceEmbedding →
VectorStoreIndex (its default in-memory SimpleVectorStore, exact search) → retriever top 5.

The splitter counts with the model's own tokenizer (its `tokenizer` argument; the default would count
cl100k tokens) so that chunks come out near 256 word pieces. LlamaIndex embeds each chunk with its
metadata ("key: value" lines), as it does by default, and the splitter leaves room for them.
Configuration is passed explicitly; the global `Settings` is not touched.
"""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, VectorStoreIndex  # type: ignore[import-not-found]
from llama_index.core.node_parser import SentenceSplitter  # type: ignore[import-not-found]
from llama_index.core.schema import MetadataMode  # type: ignore[import-not-found]
from llama_index.embeddings.huggingface import HuggingFaceEmbedding  # type: ignore[import-not-found]
from transformers import AutoTokenizer

from peers.taskkit import (
    BATCH_SIZE,
    CHUNK_OVERLAP,
    CHUNK_TOKENS,
    TOP_K,
    Task,
    document_metadata,
    document_text,
)


def main() -> None:
    task = Task("llamaindex", "llama-index-core")
    tokenizer = AutoTokenizer.from_pretrained(task.model_path)
    embed_model = HuggingFaceEmbedding(
        model_name=task.model_path, embed_batch_size=BATCH_SIZE, device="cpu", normalize=True
    )
    embed_model.get_text_embedding("warm up the model so that loading is not timed")
    splitter = SentenceSplitter(
        chunk_size=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP, tokenizer=tokenizer.tokenize
    )

    def ingest() -> Any:
        documents = [
            Document(id_=article.get("id"), text=document_text(article), metadata=document_metadata(article))
            for article in task.read_articles()
        ]
        return VectorStoreIndex.from_documents(documents, transformations=[splitter], embed_model=embed_model)

    index = task.measure_ingest(ingest)
    nodes = list(index.docstore.docs.values())
    task.record_chunks([node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes])
    retriever = index.as_retriever(similarity_top_k=TOP_K)
    task.measure_queries(retriever.retrieve)
    task.finish(
        "Document → SentenceSplitter(256, 32, model tokenizer) → HuggingFaceEmbedding(batch 32) "
        "→ VectorStoreIndex (SimpleVectorStore) → retriever(similarity_top_k=5)",
        len(index.vector_store.data.embedding_dict),
        vector_store=type(index.vector_store).__name__,
    )


if __name__ == "__main__":
    main()
