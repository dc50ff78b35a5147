"""The measuring harness every task script shares, so that each row is timed the same way.

A task reads the same inputs (a JSONL of articles, a JSON list of questions, the model folder), loads
its framework and model untimed, warms the model up with one encode, then times its ingest from reading
the JSONL to a searchable store, then times top-5 retrieval for each question after three warm-up
queries, and prints one JSON line. Only the standard library is needed here, plus `tokenizers` (which
every sentence-transformers install brings) to count the word pieces of the texts each framework embeds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence, Sized
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict, TypeVar

T = TypeVar("T")
TOP_K = 5
BATCH_SIZE = 32
CHUNK_TOKENS = 256
CHUNK_OVERLAP = 32
WARM_UP_QUERIES = (
    "What did the government announce this week?",
    "Which team won the championship game?",
    "Who was elected to lead the country?",
)
# Distributions whose versions are worth reporting wherever they are installed.
REPORTED_DISTRIBUTIONS = (
    "torch",
    "transformers",
    "sentence-transformers",
    "tokenizers",
    "faiss-cpu",
    "numpy",
)


class ArticleRecord(TypedDict, total=False):
    """One line of the input JSONL, as in corpus.dev.jsonl.gz (other fields may be present)."""

    id: str
    title: str
    text: str
    published_at: str | None
    source: str
    url: str


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, as `newsdesk bench` computes it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def document_text(article: ArticleRecord) -> str:
    """The text every peer indexes for an article: the headline, a blank line, the body."""
    title = (article.get("title") or "").strip()
    body = article.get("text") or ""
    return f"{title}\n\n{body}" if title else body


def document_metadata(article: ArticleRecord) -> dict[str, str]:
    """What a news application keeps beside each chunk; frameworks that embed metadata embed this."""
    return {
        "article_id": article.get("id") or "",
        "published_at": article.get("published_at") or "",
        "source": article.get("source") or "",
    }


def token_windows(tokenizer: Any, text: str) -> list[str]:
    """Windows of CHUNK_TOKENS word pieces every CHUNK_TOKENS - CHUNK_OVERLAP, cut from the original text
    at the windows' character offsets. `tokenizer` is a Hugging Face fast tokenizer (the model's)."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
        "offset_mapping"
    ]
    windows: list[str] = []
    for start in range(0, len(offsets), CHUNK_TOKENS - CHUNK_OVERLAP):
        window = offsets[start : start + CHUNK_TOKENS]
        windows.append(text[window[0][0] : window[-1][1]])
        if start + CHUNK_TOKENS >= len(offsets):
            break
    return windows


class Task:
    """Parses the common arguments, times the two phases and prints the result line."""

    def __init__(self, framework: str, distribution: str | None) -> None:
        parser = argparse.ArgumentParser(description=f"Measure {framework} (run by benchmarks/peers/run.py)")
        parser.add_argument("--articles", type=Path, required=True, help="JSONL of articles")
        parser.add_argument("--questions", type=Path, required=True, help="JSON list of question strings")
        parser.add_argument("--model", type=Path, required=True, help="sentence-transformers model folder")
        parser.add_argument("--workdir", type=Path, required=True, help="scratch folder for on-disk stores")
        args = parser.parse_args()
        self.framework = framework
        self.version = version_of(distribution) if distribution else None
        self.articles_path: Path = args.articles
        self.questions: list[str] = json.loads(args.questions.read_text(encoding="utf-8"))
        self.model_path: str = str(args.model)
        self.workdir: Path = args.workdir
        config = json.loads((args.model / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_seq_length = int(config.get("max_seq_length", CHUNK_TOKENS))
        self.result: dict[str, Any] = {
            "framework": framework,
            "distribution": distribution,
            "version": self.version,
        }
        self.embedded_texts: list[str] = []

    def read_articles(self) -> list[ArticleRecord]:
        """Called inside the timed ingest: reading the input is part of every framework's ingest."""
        opener = gzip.open if self.articles_path.suffix == ".gz" else open
        with opener(self.articles_path, "rt", encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]

    def measure_ingest(self, ingest: Callable[[], T]) -> T:
        """Time `ingest`, which reads the articles and leaves a searchable store."""
        began = time.perf_counter()
        done = ingest()
        self.result["ingest_s"] = round(time.perf_counter() - began, 3)
        return done

    def record_chunks(self, texts: Sequence[str]) -> None:
        """The text of every chunk as it was embedded, gathered after the clock stopped."""
        self.embedded_texts = list(texts)
        seconds = self.result["ingest_s"]
        self.result["chunks"] = len(self.embedded_texts)
        self.result["chunks_per_s"] = round(len(self.embedded_texts) / seconds, 2) if seconds else None

    def measure_queries(
        self, search: Callable[[str], Sized], label: str = "query", *, hits_expected: bool = True
    ) -> None:
        """Time `search(question)` (embedding the question included) for every question, after three
        warm-up queries that are not among them. A search must return the top 5 (a sized result)."""
        for query in WARM_UP_QUERIES:
            search(query)
        timings: list[float] = []
        for question in self.questions:
            began = time.perf_counter()
            hits = search(question)
            timings.append((time.perf_counter() - began) * 1000)
            if hits_expected and len(hits) != min(TOP_K, len(self.embedded_texts)):
                raise RuntimeError(f"{self.framework}: {len(hits)} hits for {question!r}, expected {TOP_K}")
        if timings:
            self.result[f"{label}_p50_ms"] = round(statistics.median(timings), 2)
            self.result[f"{label}_p95_ms"] = round(percentile(timings, 0.95), 2)
        self.result[f"{label}_count"] = len(timings)

    def finish(self, pipeline: str, vectors: int, **extra: Any) -> None:
        """Read the peak RSS first (before the token counter's tokenizer adds to it), count tokens and
        print the result as the last line of stdout. `vectors`, the count the store holds, must match
        the chunks: a row that embedded less than it chunked would look faster than it is."""
        self.result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        if vectors != len(self.embedded_texts):
            raise RuntimeError(
                f"{self.framework}: {vectors} vectors stored for {len(self.embedded_texts)} chunks"
            )
        self.result["pipeline"] = pipeline
        self.result.update(self._token_counts())
        self.result["packages"] = {
            name: found for name in REPORTED_DISTRIBUTIONS if (found := version_of(name)) is not None
        }
        self.result["python"] = sys.version.split()[0]
        self.result.update(extra)
        sys.stdout.flush()
        print(json.dumps(self.result), flush=True)

    def _token_counts(self) -> dict[str, Any]:
        """Word pieces per embedded text (without [CLS]/[SEP]), with the model's own tokenizer."""
        if not self.embedded_texts:
            return {"mean_chunk_tokens": None, "truncated_pct": None, "tokens_per_s": None}
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(Path(self.model_path) / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        counts = [len(e.ids) for e in tokenizer.encode_batch(self.embedded_texts, add_special_tokens=False)]
        room = self.max_seq_length - 2  # [CLS] and [SEP] take two of the model's positions
        # What the model actually reads: at most max_seq_length positions per chunk.
        seen = sum(min(count, room) + 2 for count in counts)
        seconds = self.result.get("ingest_s") or 0.0
        return {
            "mean_chunk_tokens": round(statistics.fmean(counts), 1),
            "max_chunk_tokens": max(counts),
            "truncated_pct": round(100 * sum(count > room for count in counts) / len(counts), 1),
            "tokens_per_s": round(seen / seconds, 1) if seconds else None,
        }
