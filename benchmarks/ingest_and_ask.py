"""Ingest throughput and ask latency, each beside its baseline measured in the same run.

    python benchmarks/ingest_and_ask.py [--corpus FILE] [--gold FILE] [--limit N]

Ingest: end-to-end chunks/s (load, clean, chunk, embed, store) against plain
`SentenceTransformer.encode` of the same chunk texts with the same batch size.
Ask: retrieval and full-answer latency p50/p95 over the gold questions, against BM25 alone.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

from index.embedding import SentenceTransformerEmbedder, passage_for_embedding
from rag.retrieval import RetrievalSettings
from rag.service import Newsdesk


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    demo = resources.files("rag.demo")
    parser.add_argument("--corpus", type=Path, default=Path(str(demo / "articles.jsonl")))
    parser.add_argument("--gold", type=Path, default=Path(str(demo / "gold.jsonl")))
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up the model so that loading is not timed"])
    with tempfile.TemporaryDirectory() as folder:
        desk = Newsdesk(Path(folder) / "index", embedder=embedder)
        began = time.perf_counter()
        report = desk.ingest([args.corpus], None)
        ingest_s = time.perf_counter() - began
        chunks = report.chunks_written
        snapshot = desk.snapshot()
        texts = [
            passage_for_embedding(title, text)
            for title, text in snapshot.catalog.db.execute(
                "SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.row"
            )
        ]
        began = time.perf_counter()
        embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True)
        raw_s = time.perf_counter() - began
        print(f"ingest: {len(report.added)} articles, {chunks} chunks")
        print(f"  newsdesk ingest end to end   {chunks / ingest_s:8.1f} chunks/s  ({ingest_s:.1f} s)")
        print(f"  raw SentenceTransformer      {chunks / raw_s:8.1f} chunks/s  ({raw_s:.1f} s)")
        print(f"  ratio to raw                 {raw_s / ingest_s:8.2f}")

        lines = args.gold.read_text(encoding="utf-8").splitlines()
        questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.limit]
        bm25 = Newsdesk(desk.index_dir, embedder=embedder, retrieval=RetrievalSettings(dense_weight=0.0))
        for label, service in (("hybrid (default)", desk), ("BM25 alone", bm25)):
            service.ask(questions[0])  # warm
            search_ms, ask_ms = [], []
            for question in questions:
                began = time.perf_counter()
                service.search(question, 5)
                search_ms.append((time.perf_counter() - began) * 1000)
                ask_ms.append(service.ask(question, 5).timings_ms["total"])
            print(
                f"{label:18s} search p50 {statistics.median(search_ms):6.1f} ms"
                f"  p95 {percentile(search_ms, 0.95):6.1f} ms"
                f" | ask p50 {statistics.median(ask_ms):6.1f} ms  p95 {percentile(ask_ms, 0.95):6.1f} ms"
                f"  ({len(questions)} questions)"
            )


if __name__ == "__main__":
    main()
