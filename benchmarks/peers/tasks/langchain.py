"""LangChain's documented path: Documents → RecursiveCharacterTextSplitter.from_huggingface_tokenizer(256, 32)
(lengths counted with the model's tokenizer) → HuggingFaceEmbeddings → FAISS.from_documents (its default
flat L2 index; on normalized vectors it ranks as inner product does) → similarity_search(k=5).
"""

from __future__ import annotations

from typing import Any

from langchain_community.vectorstores import FAISS  # type: ignore[import-not-found]
from langchain_core.documents import Document  # type: ignore[import-not-found]
from langchain_huggingface import HuggingFaceEmbeddings  # type: ignore[import-not-found]
from langchain_text_splitters import RecursiveCharacterTextSplitter  # type: ignore[import-not-found]
from transformers import AutoTokenizer

from peers.taskkit import (
    BATCH_SIZE,
    CHUNK_OVERLAP,
    CHUNK_TOKENS,
    TOP_K,
    Task,
    document_metadata,
    document_text,
    version_of,
)


def main() -> None:
    task = Task("langchain", "langchain-community")
    tokenizer = AutoTokenizer.from_pretrained(task.model_path)
    embeddings = HuggingFaceEmbeddings(
        model_name=task.model_path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"batch_size": BATCH_SIZE, "normalize_embeddings": True},
    )
    embeddings.embed_query("warm up the model so that loading is not timed")
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        tokenizer, chunk_size=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP
    )
    chunks: list[Any] = []

    def ingest() -> Any:
        documents = [
            Document(page_content=document_text(article), metadata=document_metadata(article))
            for article in task.read_articles()
        ]
        chunks.extend(splitter.split_documents(documents))
        return FAISS.from_documents(chunks, embeddings)

    store = task.measure_ingest(ingest)
    task.record_chunks([chunk.page_content for chunk in chunks])
    task.measure_queries(lambda question: store.similarity_search(question, k=TOP_K))
    task.finish(
        "Document → RecursiveCharacterTextSplitter.from_huggingface_tokenizer(256, 32) "
        "→ HuggingFaceEmbeddings(batch 32, normalized) → FAISS.from_documents (IndexFlatL2) "
        "→ similarity_search(k=5)",
        store.index.ntotal,
        langchain_core=version_of("langchain-core"),
        langchain_huggingface=version_of("langchain-huggingface"),
        langchain_text_splitters=version_of("langchain-text-splitters"),
    )


if __name__ == "__main__":
    main()
