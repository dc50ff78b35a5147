"""The extractive answerer: no language model, every word of the answer is quoted.

Sentences of the retrieved passages are scored against the question by meaning
(embedding cosine), by the IDF-weighted share of the question's terms they contain,
and by whether they hold the kind of thing asked for (a number for "how many", a date
for "when", a name for "who"). The best one or two become the answer, each followed by
a marker [n] for the passage it was copied from, so support is true by construction and
checked again before anything is returned. Below the support threshold the answerer
declines and lists the closest passages instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.embedding import Embedder
from index.lexical import LexicalIndex, terms
from index.sentences import sentence_spans
from rag.records import Citation, Hit

NOT_FOUND = "I could not find an answer to this question in the archive."

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|dozens?|hundreds?|thousands?|millions?|billions?"
)
_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(
    rf"\b(?:1[6-9]\d\d|20\d\d)\b|\b(?:{_MONTHS})\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\byesterday\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")
_QUESTION_TYPES = (
    (
        "number",
        re.compile(
            r"^\s*(how (many|much|old|long|far|big|tall|large)|what (number|percentage|share|amount))\b", re.I
        ),
    ),
    (
        "date",
        re.compile(r"^\s*(when|(in )?what (year|date|day|month)|(in )?which (year|date|day|month))\b", re.I),
    ),
    (
        "name",
        re.compile(
            r"^\s*(who|whom|whose|where)\b|^\s*(which|what) (country|city|province|provinces|state|states"
            r"|company|team|party|region|regions|town|person|man|woman|official|leader)\b",
            re.I,
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    min_support: float = 0.45
    max_sentences: int = 2
    second_sentence_ratio: float = 0.85
    semantic_weight: float = 0.5


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    hit_index: int
    start: int
    end: int
    support: float
    semantic: float
    coverage: float
    matched: frozenset[str]
    typed: bool


def question_type(question: str) -> str | None:
    for name, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return name
    return None


def _has_type(kind: str | None, sentence: str, question: str) -> bool:
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "date":
        return bool(_DATE.search(sentence))
    if kind == "name":
        asked = {w.lower() for w in re.findall(r"\w+", question)}
        return any(m.group(0).lower() not in asked for m in _NAME.finditer(sentence))
    return True


class ExtractiveAnswerer:
    def __init__(
        self, embedder: Embedder, lexical: LexicalIndex, settings: AnswerSettings | None = None
    ) -> None:
        self.embedder = embedder
        self.lexical = lexical
        self.settings = settings or AnswerSettings()

    def answer(
        self, question: str, hits: Sequence[Hit], question_vector: np.ndarray | None = None
    ) -> tuple[str, bool, list[Citation]]:
        scored = self.score_sentences(question, hits, question_vector)
        eligible = [s for s in scored if s.typed and s.matched]
        if not eligible or eligible[0].support < self.settings.min_support:
            closest = [Citation.from_hit(n, hit, None) for n, hit in enumerate(hits[:3], start=1)]
            return NOT_FOUND, False, closest
        chosen = self._choose(eligible)
        return self._compose(chosen, hits)

    def score_sentences(
        self, question: str, hits: Sequence[Hit], question_vector: np.ndarray | None = None
    ) -> list[ScoredSentence]:
        """Every distinct sentence of the hits, best supported first."""
        question_terms = set(terms(question))
        weights = {t: self.lexical.idf(t) for t in question_terms}
        total_weight = sum(weights.values()) or 1.0
        kind = question_type(question)
        candidates: list[tuple[int, int, int, set[str]]] = []
        seen: set[str] = set()
        for index, hit in enumerate(hits):
            text = hit.passage.text
            for start, end in sentence_spans(text):
                key = " ".join(text[start:end].lower().split())
                if key in seen or len(key) < 12:
                    continue
                seen.add(key)
                candidates.append((index, start, end, set(terms(text[start:end]))))
        if not candidates:
            return []
        if question_vector is None:
            question_vector = self.embedder.embed([question])[0]
        sentences = [hits[i].passage.text[s:e] for i, s, e, _ in candidates]
        semantic = self.embedder.embed(sentences) @ question_vector
        w = self.settings.semantic_weight
        scored = []
        for (index, start, end, sentence_terms), sentence, cosine in zip(
            candidates, sentences, semantic, strict=True
        ):
            matched = question_terms & sentence_terms
            coverage = sum(weights[t] for t in matched) / total_weight
            novel = bool(sentence_terms - question_terms)
            typed = novel and _has_type(kind, sentence, question)
            support = w * float(cosine) + (1 - w) * coverage
            scored.append(
                ScoredSentence(index, start, end, support, float(cosine), coverage, frozenset(matched), typed)
            )
        scored.sort(key=lambda s: (-s.support, s.hit_index, s.start))
        return scored

    def _choose(self, eligible: Sequence[ScoredSentence]) -> list[ScoredSentence]:
        best = eligible[0]
        chosen = [best]
        covered = set(best.matched)
        for other in eligible[1:]:
            if len(chosen) >= self.settings.max_sentences:
                break
            if other.support < best.support * self.settings.second_sentence_ratio:
                break
            if other.matched - covered:  # adds something the first sentence did not address
                chosen.append(other)
                covered |= other.matched
        # Keep the reading order of the archive: by passage rank, then position.
        return sorted(chosen, key=lambda s: (s.hit_index, s.start))

    def _compose(
        self, chosen: Sequence[ScoredSentence], hits: Sequence[Hit]
    ) -> tuple[str, bool, list[Citation]]:
        numbers: dict[int, int] = {}
        spans: dict[int, tuple[int, int]] = {}
        parts = []
        for sentence in chosen:
            number = numbers.setdefault(sentence.hit_index, len(numbers) + 1)
            first, last = spans.get(sentence.hit_index, (sentence.start, sentence.end))
            spans[sentence.hit_index] = (min(first, sentence.start), max(last, sentence.end))
            parts.append(f"{hits[sentence.hit_index].passage.text[sentence.start : sentence.end]} [{number}]")
        citations = [Citation.from_hit(numbers[i], hits[i], spans[i]) for i in numbers]
        answer = " ".join(parts)
        problems = unsupported_claims(answer, citations)
        if problems:  # cannot happen for quoted sentences; guards future edits
            raise RuntimeError("; ".join(problems))
        return answer, True, citations


_MARKER = re.compile(r"\s*\[(\d+)\]")


def unsupported_claims(answer: str, citations: Sequence[Citation]) -> list[str]:
    """Each problem found: a marked sentence absent from the quote its marker names, or unmarked text."""
    by_number = {c.n: c for c in citations}
    problems = []
    position = 0
    for marker in _MARKER.finditer(answer):
        claim = answer[position : marker.start()].strip()
        position = marker.end()
        citation = by_number.get(int(marker.group(1)))
        if citation is None:
            problems.append(f"marker [{marker.group(1)}] names no citation")
        elif not claim or claim not in citation.quote:
            problems.append(f"{claim!r} is not in the quote of citation [{citation.n}]")
    if answer[position:].strip():
        problems.append(f"{answer[position:].strip()!r} carries no citation")
    return problems
