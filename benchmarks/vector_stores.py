"""Ingest time and search latency of each vector store, measured in one run on the same archive.

    python benchmarks/vector_stores.py [--model NAME] [--rounds 3] [--repeat 5] [--synthetic N]
                                       [--json out.json]

The archive and questions default to the bundled demo (rag/demo). Every store ingests the same
articles into a fresh index with its vectors already in a private embedding cache (filled by one
untimed ingest first), so the ingest time is the store's own cost plus the catalog and BM25, the same
for all, and not the model's. Search latency is taken per question over the gold questions, their
vectors embedded once beforehand:
  dense           the store's search alone, 100 deep (what the retriever asks for);
  dense, filtered the same under a date filter (FAISS: the catalog's rows; Milvus: a scalar filter);
  bm25            BM25 alone, 100 deep: newsdesk's index, or the engine's where it runs BM25;
  hybrid          Newsdesk.search, k=5, under the date filter: query embedding, BM25 and dense, rank
                  fusion (with the engine's BM25 where it has one).
Ratios are against the default store (tiered: exact FAISS search) measured in the same run. Milvus runs as
Milvus Lite 3.2.2 (the embedded file) and, when it is installed (index.milvus_engine), as the Milvus 2.5
engine started here on 127.0.0.1 and reached over TCP, as a server is.

--cache PATH reads the vectors from that embedding cache (e.g. the user's, filled by an earlier ingest)
instead of filling a private one: for a large archive such as the RealTime QA dev corpus, whose embedding
would take half an hour. --questions N times the first N questions only.

The demo is 62 chunks. --synthetic N adds dense searches over N random 384-d unit rows, dated over ten
years, with a date filter that about a tenth of them pass: the tiered store is given the allowed rows
as the catalog would find them (that SQL query not timed); Milvus filters by itself. Its insert time
includes the flush that seals the rows, as a write does before it publishes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.measure import percentile
from index.archive import Snapshot
from index.ingest import IngestOptions
from index.milvus_engine import LocalEngine, engine_binary
from index.milvus_store import MilvusStore
from index.tiered import TieredStore
from index.vectors import DEFAULT_BACKEND, RowFields, RowFilter, VectorStore, filtered_search
from rag.records import SearchFilters
from rag.service import Newsdesk

DEMO = Path(__file__).resolve().parents[1] / "rag" / "demo"
DEPTH = 100
SINCE = "2020-01-01"
SYNTHETIC_DIMENSION = 384
SYNTHETIC_SINCE = "2024-01-01"
ENGINE_LABEL = "milvus (2.5 engine, TCP)"


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
        "bm25_p50_ms": p50_ms(bm25_search(snapshot), questions, repeat),
        "hybrid_p50_ms": p50_ms(lambda q: desk.search(q, 5, filters=filters), questions, repeat),
    }


def bm25_search(snapshot: Snapshot) -> Callable[[str], object]:
    """BM25 alone, DEPTH deep: in the engine where it runs BM25, else newsdesk's own index."""
    store = snapshot.vectors
    if isinstance(store, MilvusStore) and store.has_text:
        return lambda question: store.search_text_where([question], DEPTH, RowFilter())
    return lambda question: snapshot.lexical.search(question, DEPTH)


def synthetic(
    rows: int, work: Path, repeat: int, milvus_uris: dict[str, str], seed: int = 0
) -> list[dict[str, Any]]:
    """Dense search p50 over `rows` random rows in the tiered store and in each Milvus (label: URI)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, SYNTHETIC_DIMENSION)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    near = data[rng.choice(rows, size=50, replace=False)] + rng.normal(
        scale=0.05, size=(50, SYNTHETIC_DIMENSION)
    )
    queries = [np.asarray(q[None, :] / np.linalg.norm(q), dtype=np.float32) for q in near]
    days = np.datetime64("2015-01-01") + rng.integers(0, 3652, size=rows).astype("timedelta64[D]")
    fields = [RowFields(str(day), f"Outlet {i % 6}") for i, day in enumerate(days)]
    allowed = np.flatnonzero(days >= np.datetime64(SYNTHETIC_SINCE))
    where = RowFilter(since=SYNTHETIC_SINCE)
    stores: list[tuple[str, VectorStore, float | None]] = [
        (f"{DEFAULT_BACKEND} (exact FAISS)", TieredStore(SYNTHETIC_DIMENSION, data), None)
    ]
    for label, uri in milvus_uris.items():
        began = time.perf_counter()
        milvus = MilvusStore.empty(f"{uri}#synthetic", SYNTHETIC_DIMENSION).successor(np.zeros(0, np.int64))
        milvus.add_rows(data, fields)
        milvus.save(work / "synthetic.json")  # as a write publishes it: the rows sealed
        stores.append((label, milvus, time.perf_counter() - began))
    figures = []
    for label, store, insert_s in stores:
        store.search(queries[0], DEPTH)  # warm
        figures.append(
            {
                "store": label,
                "rows": rows,
                "insert_s": insert_s,
                "dense_p50_ms": p50_ms(partial(store.search, k=DEPTH), queries, repeat),
                "filtered_p50_ms": p50_ms(
                    partial(filtered_search, store, k=DEPTH, allowed=allowed, where=where), queries, repeat
                ),
            }
        )
    return figures


def print_table(header: list[str], rows: list[dict[str, Any]], keys: list[str], first: list[str]) -> None:
    """A Markdown table: the `first` columns as they are, then each key's value and its ratio to row 0."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [
            "—" if row[key] is None else f"{row[key]:.3g}" if isinstance(row[key], float) else str(row[key])
            for key in first
        ]
        for key in keys:
            cells += [f"{row[key]:.3g}", f"{row[key] / rows[0][key]:.2f}"]
        print("| " + " | ".join(cells) + " |")


def main(argv: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=DEMO / "articles.jsonl")
    parser.add_argument("--gold", type=Path, default=DEMO / "gold.jsonl")
    parser.add_argument("--model", default=None, help="Embedding model (default: the index default).")
    parser.add_argument("--rounds", type=int, default=3, help="Ingests per store (the median is shown).")
    parser.add_argument("--repeat", type=int, default=5, help="Passes over the questions per search.")
    parser.add_argument("--synthetic", type=int, default=0, help="Also search N random rows (see above).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    parser.add_argument("--cache", type=Path, default=None, help="An embedding cache that holds the vectors.")
    parser.add_argument("--questions", type=int, default=0, help="Time the first N questions only.")
    args = parser.parse_args(argv)
    questions = questions_from(args.gold)[: args.questions or None]
    previous_cache = os.environ.get("NEWSDESK_EMBEDDING_CACHE")
    with tempfile.TemporaryDirectory(prefix="newsdesk-stores-") as folder, contextlib.ExitStack() as engines:
        work = Path(folder)
        os.environ["NEWSDESK_EMBEDDING_CACHE"] = str(args.cache or work / "embeddings.sqlite")
        try:
            if args.cache is None:  # one untimed ingest fills the cache: the timed ones then embed nothing
                Newsdesk(work / "warm").ingest([args.articles], IngestOptions(model=args.model))
            milvus = {"milvus (Milvus Lite)": str(work / "milvus.db")}
            if engine_binary() is not None:
                engine = engines.enter_context(LocalEngine(work / "engine" / "milvus.db"))
                milvus[ENGINE_LABEL] = engine.uri
            stores = {
                f"{DEFAULT_BACKEND} (exact FAISS)": DEFAULT_BACKEND,
                "faiss-flat-ip": "faiss-flat-ip",
                **{label: f"milvus:{uri}" for label, uri in milvus.items()},
            }
            archive = []
            for n, (label, store) in enumerate(stores.items()):
                (work / str(n)).mkdir()
                archive.append(
                    measure(
                        label,
                        store,
                        args.articles,
                        questions,
                        work / str(n),
                        args.model,
                        args.rounds,
                        args.repeat,
                    )
                )
            at_scale = synthetic(args.synthetic, work, args.repeat, milvus) if args.synthetic else []
        finally:
            if previous_cache is None:
                os.environ.pop("NEWSDESK_EMBEDDING_CACHE", None)
            else:
                os.environ["NEWSDESK_EMBEDDING_CACHE"] = previous_cache
    print(
        f"{len(questions)} questions, {archive[0]['chunks']} chunks; ratios against the first row, same run"
    )
    header = [
        "store",
        "ingest s",
        "×",
        "dense p50 ms",
        "×",
        "dense, filtered p50 ms",
        "×",
        "BM25 p50 ms",
        "×",
        "hybrid search p50 ms",
        "×",
    ]
    keys = ["ingest_s", "dense_p50_ms", "filtered_p50_ms", "bm25_p50_ms", "hybrid_p50_ms"]
    print_table(header, archive, keys, ["store"])
    if at_scale:
        print(f"\n{args.synthetic:,} random {SYNTHETIC_DIMENSION}-d rows, 50 queries, {DEPTH} deep")
        header = ["store", "insert s", "dense p50 ms", "×", "dense, filtered p50 ms", "×"]
        print_table(header, at_scale, ["dense_p50_ms", "filtered_p50_ms"], ["store", "insert_s"])
    results = {"archive": archive, "synthetic": at_scale}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
