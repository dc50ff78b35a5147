"""Citations checked, not trusted: each sentence of a generated answer against the passages it cites.

A sentence is supported by a passage when most of its content words (stemmed, stop words aside),
and every number it states, are in one or two adjacent sentences of that passage; those sentences
become the citation's quote.
A marker that points to a passage that does not support its sentence is moved to the passage that
does; a sentence no passage supports is dropped. The summary says how many of each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from index.lexical import terms
from index.sentences import sentence_spans
from rag.records import MARKER, Citation, Hit

MIN_SUPPORT = 0.6  # share of a sentence's content words found in the quoted span


@dataclass(frozen=True, slots=True)
class Verification:
    sentences: int
    supported: int  # as cited
    repointed: int  # supported, by another passage than the one cited
    dropped: int  # supported by no passage

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


Window = tuple[tuple[int, int], set[str]]


def _windows(text: str) -> list[Window]:
    """Every sentence of `text`, and every two adjacent ones, with their words; the single sentence
    first, so a shorter quote wins a tie."""
    spans = sentence_spans(text)
    return [
        ((start, end), set(terms(text[start:end])))
        for i, (start, _) in enumerate(spans)
        for _, end in spans[i : i + 2]
    ]


def _support(claim: set[str], windows: Sequence[Window]) -> tuple[float, tuple[int, int] | None]:
    """The best share of `claim` covered by one window of a passage, and its span. A number the claim
    states must be in the window, or the window does not support it at all."""
    numbers = {t for t in claim if any(ch.isdigit() for ch in t)}
    best: tuple[float, tuple[int, int] | None] = (0.0, None)
    for span, found in windows:
        share = len(claim & found) / len(claim) if numbers <= found else 0.0
        if share > best[0] + 1e-9:
            best = (share, span)
    return best


def _claims(text: str) -> list[str]:
    """The answer's sentences, each with the markers that follow it ("… Latakia. [1]" is one):
    markers are moved before the full stop so the sentence splitter keeps them with their claim."""
    inside = re.sub(r"([.!?][\"”’)]?)((?:\s*\[\d+\])+)", r"\2\1", text)
    return [inside[start:end].strip() for start, end in sentence_spans(inside) if inside[start:end].strip()]


def verify(text: str, hits: Sequence[Hit]) -> tuple[str, list[Citation], Verification]:
    """The answer with every kept sentence cited to a passage that supports it, renumbered from 1."""
    kept: list[str] = []
    numbers: dict[int, int] = {}  # passage index -> citation number
    quotes: dict[int, tuple[int, int]] = {}
    shares: dict[int, float] = {}  # passage index -> the weakest support it gives a sentence citing it
    counts = {"sentences": 0, "supported": 0, "repointed": 0, "dropped": 0}
    passages = [_windows(hit.passage.text) for hit in hits]  # tokenized once, for every sentence
    for sentence in _claims(text):
        cited = [int(n) - 1 for n in MARKER.findall(sentence) if 0 < int(n) <= len(hits)]
        claim = set(terms(MARKER.sub("", sentence)))
        if not claim:
            continue
        counts["sentences"] += 1
        scores = [_support(claim, windows) for windows in passages]
        good = [i for i in cited if scores[i][0] >= MIN_SUPPORT]
        if good:
            counts["supported"] += 1
        else:
            best = max(range(len(hits)), key=lambda i: scores[i][0], default=None)
            if best is None or scores[best][0] < MIN_SUPPORT:
                counts["dropped"] += 1
                continue
            counts["repointed"] += 1
            good = [best]
        for index in good:
            numbers.setdefault(index, len(numbers) + 1)
            quotes.setdefault(index, scores[index][1] or (0, 0))
            shares[index] = min(shares.get(index, 1.0), scores[index][0])
        markers = " ".join(f"[{numbers[i]}]" for i in good)
        kept.append(f"{MARKER.sub('', sentence).strip()} {markers}")
    citations = [
        Citation.from_hit(n, hits[i], quotes[i], shares[i])
        for i, n in sorted(numbers.items(), key=lambda x: x[1])
    ]
    return " ".join(kept), citations, Verification(**counts)


def unsupported_sentences(text: str, citations: Sequence[Citation]) -> list[str]:
    """The sentences of a written answer that no passage they cite supports (by the rule `verify`
    applies): what an evaluation counts for an answer that paraphrases rather than quotes."""
    texts = {c.n: c.text for c in citations}
    problems = []
    for sentence in _claims(text):
        claim = set(terms(MARKER.sub("", sentence)))
        if not claim:
            continue
        cited = [texts[int(n)] for n in MARKER.findall(sentence) if int(n) in texts]
        if not any(_support(claim, _windows(passage))[0] >= MIN_SUPPORT for passage in cited):
            problems.append(sentence)
    return problems
