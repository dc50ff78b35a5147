"""Ingest time and search latency of each vector store, measured in one run on the same archive.

    python benchmarks/vector_stores.py [--model NAME] [--rounds 3] [--repeat 5] [--json out.json]

The archive and questions default to the bundled demo (rag/demo). Every store ingests the same
articles into a fresh index with its vectors already in a private embedding cache (filled by one
untimed ingest first), so the ingest time is the store's own cost plus the catalog and BM25, the same
for all, and not the model's. Search latency is taken per question over the gold questions, their
vectors embedded once beforehand:
  dense           the store's search alone, 100 deep (what the retriever asks for);
  dense, filtered the same under a date filter (FAISS: the catalog's rows; Milvus: a scalar filter);
  hybrid          Newsdesk.search, k=5: query embedding, BM25 and dense in parallel, rank fusion.
Ratios are against the default store (tiered: exact FAISS search) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.measure import percentile
from index.ingest import IngestOptions
from index.vectors import DEFAULT_BACKEND, RowFilter, filtered_search
from rag.records import SearchFilters
from rag.service import Newsdesk

DEMO = Path(__file__).resolve().parents[1] / "rag" / "demo"
DEPTH = 100
SINCE = "2020-01-01"


def questions_from(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def p50_ms(action: Callable[[Any], object], items: Sequence[Any], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        for item in items:
            began = time.perf_counter()
            action(item)
            timings.append((time.perf_counter() - began) * 1000)
    return percentile(timings, 0.5)


def measure(
    label: str,
    store: str,
    articles: Path,
    questions: list[str],
    work: Path,
    model: str | None,
    rounds: int,
    repeat: int,
) -> dict[str, Any]:
    seconds = []
    desks = [Newsdesk(work / f"index-{n}") for n in range(rounds)]
    for desk in desks:
        began = time.perf_counter()
        report = desk.ingest([articles], IngestOptions(model=model, vector_backend=store))
        seconds.append(time.perf_counter() - began)
        if report.chunks_embedded:
            raise RuntimeError("the vectors were meant to come from the embedding cache")
    desk = desks[-1]
    snapshot = desk.snapshot()
    embedder = desk.embedder_for(snapshot.manifest.model)
    vectors = [embedder.embed([q]) for q in questions]
    allowed = np.asarray(snapshot.catalog.filtered_rows(SINCE, None, ()), dtype=np.int64)
    where = RowFilter(since=SINCE)
    filters = SearchFilters(since=SINCE)
    for vector in vectors[:3]:  # warm: first calls open connections and caches
        snapshot.vectors.search(vector, DEPTH)
    return {
        "store": label,
        "chunks": len(snapshot.vectors),
        "ingest_s": statistics.median(seconds),
        "dense_p50_ms": p50_ms(lambda v: snapshot.vectors.search(v, DEPTH), vectors, repeat),
        "filtered_p50_ms": p50_ms(
            lambda v: filtered_search(snapshot.vectors, v, DEPTH, allowed, where), vectors, repeat
        ),
        "hybrid_p50_ms": p50_ms(lambda q: desk.search(q, 5, filters=filters), questions, repeat),
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=DEMO / "articles.jsonl")
    parser.add_argument("--gold", type=Path, default=DEMO / "gold.jsonl")
    parser.add_argument("--model", default=None, help="Embedding model (default: the index default).")
    parser.add_argument("--rounds", type=int, default=3, help="Ingests per store (the median is shown).")
    parser.add_argument("--repeat", type=int, default=5, help="Passes over the questions per search.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args(argv)
    questions = questions_from(args.gold)
    previous_cache = os.environ.get("NEWSDESK_EMBEDDING_CACHE")
    with tempfile.TemporaryDirectory(prefix="newsdesk-stores-") as folder:
        work = Path(folder)
        os.environ["NEWSDESK_EMBEDDING_CACHE"] = str(work / "embeddings.sqlite")
        try:
            # One untimed ingest fills the cache: the timed ones then embed nothing.
            Newsdesk(work / "warm").ingest([args.articles], IngestOptions(model=args.model))
            stores = {
                f"{DEFAULT_BACKEND} (exact FAISS)": DEFAULT_BACKEND,
                "faiss-flat-ip": "faiss-flat-ip",
                "milvus (Milvus Lite)": f"milvus:{work / 'milvus.db'}",
            }
            figures = []
            for n, (label, store) in enumerate(stores.items()):
                folder_n = work / str(n)
                folder_n.mkdir()
                figures.append(
                    measure(
                        label, store, args.articles, questions, folder_n, args.model, args.rounds, args.repeat
                    )
                )
        finally:
            if previous_cache is None:
                os.environ.pop("NEWSDESK_EMBEDDING_CACHE", None)
            else:
                os.environ["NEWSDESK_EMBEDDING_CACHE"] = previous_cache
    base = figures[0]
    print(f"{len(questions)} questions, {base['chunks']} chunks; ratios against {base['store']} in this run")
    print(
        "| store | ingest s | × | dense p50 ms | × | dense, filtered p50 ms | × | hybrid search p50 ms | × |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in figures:
        cells = [row["store"]]
        for key in ("ingest_s", "dense_p50_ms", "filtered_p50_ms", "hybrid_p50_ms"):
            cells += [f"{row[key]:.3g}", f"{row[key] / base[key]:.2f}"]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


if __name__ == "__main__":
    main()
