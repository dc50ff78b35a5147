"""BM25 over chunks (bm25s, English stemmer), saved beside the vectors and rebuilt with them.

`terms()` is the single definition of a word for Newsdesk: the answerer scores sentences
with the same stemmed, stop-word-free terms the BM25 index was built from.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

logging.getLogger("bm25s").setLevel(logging.ERROR)

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "said",
        "says",
        "say",
        "according",
        "many",
        "much",
    ]
)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default pattern


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed words of two or more characters, English stop words removed: what
    bm25s.tokenize gives the index (tests/test_lexical.py holds them equal), without its per-call
    progress-bar set-up, which cost more than the tokenizing on short texts."""
    return [term for _, term in words_and_terms(text)]


def words_and_terms(text: str) -> list[tuple[str, str]]:
    """Each word `terms` keeps, lower-cased, with its term."""
    words = [word for word in _TOKEN.findall(text.lower()) if word not in STOPWORDS]
    return [(word, str(term)) for word, term in zip(words, _stemmer().stemWords(words), strict=True) if term]


def bm25_idf(rows: int, frequency: int) -> float:
    """BM25's inverse document frequency of a term in `frequency` of `rows` chunks."""
    n = max(rows, 1)
    return math.log(1.0 + (n - frequency + 0.5) / (frequency + 0.5))


class TermStatistics(Protocol):
    """What answering reads of a BM25 index: its search and its term weights. Newsdesk's own index
    (`LexicalIndex`), or the Milvus engine's (`index.milvus_served.EngineTerms`)."""

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def term_weights(self, text: str) -> dict[str, float]:
        """BM25's inverse document frequency of each term of `text` found in the archive."""
        ...


class LexicalIndex:
    def __init__(self, retriever: Any | None, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        if not texts:
            return cls(None, 0)
        import bm25s

        tokens = bm25s.tokenize(
            list(texts), stopwords=list(STOPWORDS), stemmer=_stemmer(), show_progress=False
        )
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._retriever is not None:
            self._retriever.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, size: int) -> LexicalIndex:
        if size == 0:
            return cls(None, 0)
        import bm25s

        # Memory-mapped, like the vectors: the processes of `newsdesk serve --workers N` then share one
        # copy of the index's pages (30 MB for the 51k-chunk dev index) at the same speed per query.
        retriever = bm25s.BM25.load(str(directory), mmap=True, show_progress=False)
        return cls(retriever, size)

    def scores(self, query: str) -> np.ndarray:
        query_terms = terms(query)
        if self._retriever is None or not query_terms:
            return np.zeros(self.size, dtype=np.float32)
        known = [t for t in query_terms if t in self._retriever.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) with a positive score, restricted to `allowed` rows when given."""
        scores = self.scores(query)
        rows = np.arange(self.size) if allowed is None else np.asarray(allowed, dtype=np.int64)
        candidate = scores[rows]
        keep = candidate > 0
        rows, candidate = rows[keep], candidate[keep]
        if len(rows) > k:
            top = np.argpartition(-candidate, k - 1)[:k]
            rows, candidate = rows[top], candidate[top]
        order = np.lexsort((rows, -candidate))
        return candidate[order], rows[order]

    def document_frequency(self, term: str) -> int:
        """Number of chunks containing the (stemmed) term."""
        if self._retriever is None or term not in self._retriever.vocab_dict:
            return 0
        column = self._retriever.vocab_dict[term]
        indptr = self._retriever.scores["indptr"]
        return int(indptr[column + 1] - indptr[column])

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency over chunks."""
        return bm25_idf(self.size, self.document_frequency(term))

    def term_weights(self, text: str) -> dict[str, float]:
        return {t: self.idf(t) for t in set(terms(text)) if self.document_frequency(t)}
