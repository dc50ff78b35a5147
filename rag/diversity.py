"""Wire copies collapsed: the same story from several outlets is read once, and the citation says
who else reported it ("Northern Wire; also Harbor Ledger and Civic Herald").

Two passages of different articles are copies when their word sets (stemmed, stop words aside)
overlap by at least COPY_OVERLAP (Jaccard). The first, better-ranked one is kept; the outlets of
its copies are added to it. Only the passages the answer reads are collapsed; the ranking that
search and evaluation report keeps every article.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from index.lexical import terms
from rag.records import Hit

COPY_OVERLAP = 0.8
LOOK_AHEAD = 2  # how far past k (as a multiple of k) copies of the kept passages are looked for


def overlap(first: set[str], second: set[str]) -> float:
    return len(first & second) / len(first | second) if first or second else 0.0


def distinct_hits(ranking: Sequence[Hit], k: int) -> list[Hit]:
    """The first `k` passages of `ranking` that are not copies of a better-ranked one."""
    kept: list[tuple[Hit, set[str]]] = []
    for hit in ranking[: k * LOOK_AHEAD]:
        words = set(terms(hit.passage.text))
        twin = next(
            (
                i
                for i, (other, other_words) in enumerate(kept)
                if other.passage.article_id != hit.passage.article_id
                and overlap(words, other_words) >= COPY_OVERLAP
            ),
            None,
        )
        if twin is not None:
            other, other_words = kept[twin]
            outlet = hit.passage.source
            if outlet and outlet != other.passage.source and outlet not in other.also_reported_by:
                kept[twin] = (replace(other, also_reported_by=(*other.also_reported_by, outlet)), other_words)
        elif len(kept) < k:
            kept.append((hit, words))
    return [hit for hit, _ in kept]
