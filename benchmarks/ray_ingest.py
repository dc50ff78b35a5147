"""Ingest throughput of the Ray engine beside the local engine, in one run on the same articles.

    python benchmarks/ray_ingest.py [--corpus PATH] [--articles 200] [--workers 1,2] [--json out.json]

Each run builds a new index from the first --articles articles with the default model, the embedding
cache off (so every chunk is embedded), end to end: read, clean, chunk, embed, write. Each round runs
the local engine, then the Ray engine with each worker count, on one local cluster started for the
benchmark; rounds interleave so that a shared machine's drift falls on every engine alike, and each
engine's best round is reported. Reported: chunks/s of every run, each Ray engine's best time over the
local engine's (the overhead; with one worker, that worker has every core, as the local engine does),
the cluster's start-up, which `newsdesk ingest --engine ray` pays once on top, and the largest
difference between any run's vectors and the first local run's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.measure import ratio
from index.archive import IndexDirectory
from index.engine import IngestEngine
from index.ingest import IngestOptions, ingest
from index.ray_engine import RayEngine, import_ray

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa" / "corpus.dev.jsonl.gz"
)


def timed_ingest(index: Path, corpus: Path, articles: int, engine: IngestEngine | None) -> dict[str, Any]:
    began = time.perf_counter()
    report = ingest(index, [corpus], IngestOptions(limit=articles, embedding_cache=False), engine=engine)
    seconds = time.perf_counter() - began
    return {
        "articles": len(report.added),
        "chunks": report.chunks_written,
        "seconds": round(seconds, 2),
        "embed_seconds": round(report.embed_seconds, 2),
        "chunks_per_s": round(report.chunks_written / seconds, 1),
    }


def vectors_of(index: Path) -> np.ndarray:
    snapshot = IndexDirectory(index).open()
    try:
        return snapshot.vectors.vectors().copy()
    finally:
        snapshot.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to run, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="each engine once per round, interleaved")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    worker_counts = [int(n) for n in args.workers.split(",")]
    os.environ["NEWSDESK_EMBEDDING_CACHE"] = "off"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")

    runs: dict[str, list[dict[str, Any]]] = {"local": [], **{f"ray_{n}": [] for n in worker_counts}}
    ray = import_ray()
    began = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    cluster_start_s = time.perf_counter() - began
    cpus = int(ray.cluster_resources().get("CPU", 0))
    differences: dict[str, float] = {}
    reference: np.ndarray | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="newsdesk-ray-bench-") as scratch:
            work = Path(scratch)
            for round_number in range(args.rounds):
                for name in runs:
                    index = work / f"{name}-{round_number}"
                    workers = int(name.removeprefix("ray_")) if name.startswith("ray_") else 0
                    # Ray runs use the cluster started above, which the engine leaves running.
                    with RayEngine(workers=workers) if workers else contextlib.nullcontext() as engine:
                        runs[name].append(timed_ingest(index, args.corpus, args.articles, engine))
                    print(f"round {round_number + 1}, {name}: {runs[name][-1]}", file=sys.stderr)
                    vectors = vectors_of(index)
                    reference = vectors if reference is None else reference  # the first local run's
                    difference = float(np.abs(vectors - reference).max())
                    differences[name] = max(differences.get(name, 0.0), difference)
                    shutil.rmtree(index)
    finally:
        ray.shutdown()

    best = {name: min(run["seconds"] for run in done) for name, done in runs.items()}
    chunks = runs["local"][0]["chunks"]
    figures = {
        "corpus": str(args.corpus),
        "articles": runs["local"][0]["articles"],
        "chunks": chunks,
        "cpus": cpus,
        "rounds": args.rounds,
        "runs": runs,
        "best_chunks_per_s": {name: round(chunks / seconds, 1) for name, seconds in best.items()},
        "ray_cluster_start_s": round(cluster_start_s, 2),
        "overhead_vs_local": {name: ratio(best[name], best["local"]) for name in best if name != "local"},
        "overhead_vs_local_with_cluster_start": {
            name: ratio(best[name] + cluster_start_s, best["local"]) for name in best if name != "local"
        },
        "max_vector_difference_from_local": differences,
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
