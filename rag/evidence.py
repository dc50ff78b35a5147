"""What a language model is shown: the sentences the reader scores best, each with its neighbours,
packed best first into a small token budget.

Why not the retrieved passages whole (rag.generators.pack_passages)? A 1.5B model answers right
about two times in three when the answer is in what it is shown and almost never when it is not, so
the sentences of the top articles (the retrieved passages, then the rest of their articles) are
scored by the extractive reader (rag.answer: the learned sentence scorer), and the best ones are
shown with the sentence before and after them, for the names and dates a sentence leaves to its
neighbours. Windows that touch or overlap in one passage become one; a window that is a copy of a
better one from another outlet (rag.diversity's overlap) is dropped and its outlet kept on the
better one. EVIDENCE_TOKENS = 800 is the smallest budget whose windows hold the answer within about
4 points of whole passages (RealTime QA dev: 0.814 against 0.854, for 18% fewer prompt tokens;
benchmarks/evidence_presence.py). Measured so far, windows do not beat whole passages, in presence
or in the model's accuracy (docs/results/2026-12-06/model-reading.md).

A window is shown to the model, and checked by rag.verify, as a `Hit` whose passage text is the
window; `cited_in_passages` then maps each citation back to the whole passage it was cut from, so
citations keep their meaning (text the passage, quote a span of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from index.catalog import Passage
from index.lexical import terms
from index.sentences import sentence_spans
from index.tokens import count_tokens
from rag.answer import ScoredSentence
from rag.diversity import COPY_OVERLAP, overlap
from rag.records import Citation, Hit

EVIDENCE_TOKENS = 800
HEADER_TOKENS = 25  # the "[n] Title (Outlet, date)" line and markers around each window
NEIGHBOURS = 1  # sentences shown either side of a chosen one
TOP_ARTICLES = 5  # the articles whose other passages are read beside the retrieved ones


@dataclass(frozen=True, slots=True)
class Window:
    """A span of one passage, as the model sees it (`hit`) and where it came from (`source`)."""

    hit: Hit  # passage text = the window; start/end = its offsets in the article
    source: Hit  # the passage it was cut from
    offset: int  # where the window starts in source.passage.text
    score: float  # the best reader score of a sentence it was built around


def widened(
    hits: Sequence[Hit], passages_of: Callable[[str], Sequence[Passage]], articles: int = TOP_ARTICLES
) -> list[Hit]:
    """The retrieved hits, then the other passages of their first `articles` articles in rank and
    reading order (unretrieved: no retriever scores, so the reader ranks them after the hits)."""
    seen = {hit.passage.chunk_id for hit in hits}
    reported = {hit.passage.article_id: hit.also_reported_by for hit in hits}
    more: list[Hit] = []
    for article_id in list(dict.fromkeys(hit.passage.article_id for hit in hits))[:articles]:
        for passage in passages_of(article_id):
            if passage.chunk_id not in seen:
                seen.add(passage.chunk_id)
                more.append(Hit(passage, 0.0, also_reported_by=reported[article_id]))
    return [*hits, *more]


def _span_hit(source: Hit, start: int, end: int) -> Hit:
    p = source.passage
    window = replace(p, text=p.text[start:end], start=p.start + start, end=p.start + end)
    return replace(source, passage=window)


def select_windows(
    scored: Sequence[ScoredSentence],
    hits: Sequence[Hit],
    budget: int = EVIDENCE_TOKENS,
    neighbours: int = NEIGHBOURS,
) -> list[Window]:
    """Windows around the best-scored sentences (`scored`, best first, indexing `hits`), merged where
    they touch, wire copies collapsed, best first, within `budget` tokens (at least one window)."""
    if budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    spans = {i: sentence_spans(hit.passage.text) for i, hit in enumerate(hits)}
    chosen: dict[int, list[tuple[int, int, float]]] = {}  # hit index -> [(start, end, score)]
    outlets: dict[tuple[int, int], tuple[str, ...]] = {}  # (hit index, start) -> copies' outlets
    used = 0
    for sentence in scored:
        sentences = spans[sentence.hit_index]
        at = next((n for n, (s, e) in enumerate(sentences) if s <= sentence.start < e), None)
        if at is None:
            continue
        text = hits[sentence.hit_index].passage.text
        start = sentences[max(0, at - neighbours)][0]
        end = sentences[min(len(sentences), at + neighbours + 1) - 1][1]
        mine = chosen.get(sentence.hit_index, [])
        if any(w[0] <= start and end <= w[1] for w in mine):
            continue  # already shown
        touching = [w for w in mine if _touch(text, (w[0], w[1]), (start, end))]
        merged_start = min([start, *(w[0] for w in touching)])
        merged_end = max([end, *(w[1] for w in touching)])
        copy = _copy_of(text[start:end], sentence.hit_index, chosen, hits)
        if copy is not None:
            outlet = hits[sentence.hit_index].passage.source
            if outlet:
                key = (copy[0], copy[1])
                if outlet != hits[copy[0]].passage.source and outlet not in outlets.get(key, ()):
                    outlets[key] = (*outlets.get(key, ()), outlet)
            continue
        cost = count_tokens(text[merged_start:merged_end])
        cost -= sum(count_tokens(text[w[0] : w[1]]) for w in touching)
        cost += HEADER_TOKENS * (1 - len(touching))
        if chosen and used + cost > budget:
            continue
        used += cost
        score = max([sentence.score, *(w[2] for w in touching)])
        kept = [w for w in mine if w not in touching]
        chosen[sentence.hit_index] = [*kept, (merged_start, merged_end, score)]
    windows = []
    for index, spans_kept in chosen.items():
        source = hits[index]
        for start, end, score in spans_kept:
            extra = outlets.get((index, start), ())
            also = (*source.also_reported_by, *(o for o in extra if o not in source.also_reported_by))
            hit = replace(_span_hit(source, start, end), also_reported_by=also)
            windows.append(Window(hit, source, start, score))
    windows.sort(key=lambda w: -w.score)
    return windows


def _touch(text: str, one: tuple[int, int], other: tuple[int, int]) -> bool:
    """Whether two spans of `text` overlap or only whitespace lies between them."""
    first, second = sorted((one, other))
    return first[1] >= second[0] or text[first[1] : second[0]].isspace()


def _copy_of(
    text: str, index: int, chosen: dict[int, list[tuple[int, int, float]]], hits: Sequence[Hit]
) -> tuple[int, int] | None:
    """The chosen window (hit index, start) of another article that `text` copies, if any."""
    words = set(terms(text))
    article = hits[index].passage.article_id
    for other, kept in chosen.items():
        if hits[other].passage.article_id == article:
            continue
        for start, end, _ in kept:
            if overlap(words, set(terms(hits[other].passage.text[start:end]))) >= COPY_OVERLAP:
                return other, start
    return None


def cited_in_passages(citations: Sequence[Citation], windows: Sequence[Window]) -> list[Citation]:
    """Citations of windows (rag.verify over `[w.hit for w in windows]`) as citations of the passages
    they were cut from: the whole passage as text, the quote's offsets moved into it."""
    by_window = {(w.hit.passage.chunk_id, w.hit.passage.text): w for w in windows}
    mapped = []
    for citation in citations:
        window = by_window.get((citation.chunk_id, citation.text))
        if window is None:
            mapped.append(citation)
            continue
        p, shift = window.source.passage, window.offset
        mapped.append(
            replace(
                citation,
                text=p.text,
                start=p.start,
                end=p.end,
                quote_start=None if citation.quote_start is None else citation.quote_start + shift,
                quote_end=None if citation.quote_end is None else citation.quote_end + shift,
            )
        )
    return mapped
