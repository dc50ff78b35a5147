"""Embedding speed of each model on the same chunks, measured in one run: chunks/s and the ratio to the first.

    python benchmarks/embedders.py [--corpus FILE ...] [--chunks 120] [--models M1,M2] [--json out.json]

The corpus defaults to the bundled demo (rag/demo). Its articles are chunked as `ingest` chunks them (200
tokens, 40 overlapping) and the first N chunks, with their titles, are what every model embeds: the same
texts as an index would hold. Each model is loaded and warmed up first (not timed), then the chunks are
embedded in one call, as the ingest engine hands them over. The models run one after the other in one
process, so their ratio holds even on a machine whose load changes slowly; the absolute figures are only
this machine's at this moment. Prints figures and never asserts them.

The default models: the default for new indexes (MiniLM-L6 int8 ONNX) and nomic-embed-text-v1.5
(index.gguf_embedding; needs its optional packages).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from index.chunking import Chunker
from index.embedding import DEFAULT_INDEX_MODEL, NOMIC_MODEL, make_embedder, passage_for_embedding
from index.loaders import load_paths

DEMO = Path(__file__).resolve().parents[1] / "rag" / "demo" / "articles.jsonl"


def chunk_texts(paths: list[Path], count: int) -> list[str]:
    """The first `count` chunks of the articles, each with its title, as ingest embeds them."""
    chunker = Chunker()
    texts: list[str] = []
    for article in load_paths(paths).articles:
        texts.extend(passage_for_embedding(article.title, c.text) for c in chunker.chunk(article))
        if len(texts) >= count:
            break
    return texts[:count]


def measure(model: str, texts: list[str]) -> dict[str, Any]:
    embedder = make_embedder(model)
    began = time.perf_counter()
    embedder.warm_up()
    embedder.embed(texts[:2])
    load_s = time.perf_counter() - began
    began = time.perf_counter()
    embedder.embed(texts)
    seconds = time.perf_counter() - began
    return {
        "model": embedder.name,
        "dimension": embedder.dimension,
        "chunks": len(texts),
        "load_and_warm_up_s": round(load_s, 2),
        "seconds": round(seconds, 2),
        "chunks_per_s": round(len(texts) / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, nargs="+", default=[DEMO])
    parser.add_argument("--chunks", type=int, default=120, help="chunks each model embeds (default 120)")
    parser.add_argument("--models", default=f"{DEFAULT_INDEX_MODEL},{NOMIC_MODEL}")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    texts = chunk_texts(args.corpus, args.chunks)
    print(
        f"{len(texts)} chunks, {statistics.mean(map(len, texts)):.0f} characters on average, "
        f"from {', '.join(map(str, args.corpus))}"
    )
    rows = [measure(model, texts) for model in args.models.split(",")]
    first = rows[0]["chunks_per_s"]
    for row in rows:
        row["ratio_to_first"] = round(row["chunks_per_s"] / first, 3)
        print(
            f"{row['model']:<24} {row['dimension']:>4} d  {row['chunks_per_s']:>8.2f} chunks/s  "
            f"({row['seconds']:.1f} s; load {row['load_and_warm_up_s']:.1f} s)  x{row['ratio_to_first']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
