"""Newsdesk's own pipeline: `ingest` into a fresh index (default model and chunker, no embedding cache),
then `Newsdesk.search` for the retrieval timings and `Newsdesk.ask` for the full answer.

The model is loaded and warmed up once and passed to both, so that neither times a model load and the
process does not hold two copies of it.
"""

from __future__ import annotations

from index.embedding import make_embedder, passage_for_embedding
from index.ingest import IngestOptions, IngestReport, ingest
from peers.taskkit import TOP_K, Task
from rag.service import Newsdesk


def main() -> None:
    task = Task("newsdesk", "newsdesk")
    embedder = make_embedder(None)  # the default for new indexes
    embedder.embed(["warm up the model so that loading is not timed"])
    index_dir = task.workdir / "index"

    def run_ingest() -> IngestReport:
        return ingest(
            index_dir, [task.articles_path], IngestOptions(embedding_cache=False), embedder=embedder
        )

    report = task.measure_ingest(run_ingest)
    desk = Newsdesk(index_dir, embedder=embedder, answer_cache_size=0)
    snapshot = desk.snapshot()
    texts = [
        passage_for_embedding(title, text)
        for title, text in snapshot.local_catalog().db.execute(
            "SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.row"
        )
    ]
    if len(texts) != report.chunks_written:
        raise RuntimeError(f"index holds {len(texts)} chunks, ingest reported {report.chunks_written}")
    task.record_chunks(texts)
    task.measure_queries(lambda question: desk.search(question, TOP_K))
    task.measure_queries(lambda question: desk.ask(question, TOP_K).citations, "ask", hits_expected=False)
    info = desk.info()
    task.finish(
        f"index.ingest.ingest (chunker {info['chunker']}, {info['vector_backend']} vectors, "
        "embedding cache off) → Newsdesk.search (hybrid BM25 + dense)",
        len(snapshot.vectors),
        articles=len(report.added),
        skipped=len(report.skipped),
        embed_s=round(report.embed_seconds, 3),
    )


if __name__ == "__main__":
    main()
