"""The answer stage, two ways behind one protocol: quote the passages read, or have a language model
write from them and check every sentence it wrote.

`Newsdesk` retrieves, picks one `Answerer` and turns its `Draft` into an `Answer`; neither answerer
knows about the index, the cache or the conversation beyond the history a model is shown.

- `QuotingAnswerer` (the default, no language model): rag.answer's extractive answerer quotes the best
  sentences, and rag.short_answer reads the answer phrase from them. Its draft also keeps what it
  weighed (every sentence scored, the short-answer candidates), which `newsdesk eval` writes to
  features.jsonl and weighs choices with.
- `GeneratedAnswerer`: a `rag.generators.Generator` writes the answer, streamed piece by piece when it
  can and the caller asks for it; rag.verify then checks each sentence against the passages. Given the
  extractive reader, it shows the model windows around the sentences the reader scores best
  (rag.evidence) instead of whole passages, and its short answer must be quoted (`checked`).

Every draft keeps the texts its answerer was shown (`Draft.evidence`), so an evaluation can tell an
answer missing from the evidence (selection) from one missed in it (reading).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from index.catalog import Passage
from rag.answer import (
    NOT_FOUND,
    ExtractiveAnswerer,
    ScoredSentence,
    closest_passages,
    could_answer,
    padded_words,
    sentence_text,
)
from rag.conversation import Turn
from rag.evidence import EVIDENCE_TOKENS, Window, cited_in_passages, select_windows, widened
from rag.features import CandidateFeatures, SentenceFeatures
from rag.generators import Generated, Generator, StreamingGenerator, answer_pieces, pack_passages, parse_reply
from rag.records import MARKER, Citation, EarlierAnswer, Hit
from rag.short_answer import MAX_SENTENCES, ShortAnswer, short_answer
from rag.verify import verify


def _no_articles() -> list[str]:
    return []


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an answerer reads for one question."""

    question: str  # the user's own words (a follow-up is retrieved in its standalone form, answered on these)
    hits: Sequence[Hit]  # the passages to answer from, best first
    question_vector: np.ndarray  # the question embedded, as the sentences will be
    history: Sequence[Turn] = ()  # the conversation so far, oldest first (a language model is shown it)
    # Title and text of the top retrieved articles, best first; called only when an answer needs them.
    articles: Callable[[], list[str]] = _no_articles
    retrieved_as: str | None = None  # a follow-up's standalone form ("Who approved the strikes?")


@dataclass(frozen=True, slots=True)
class Draft:
    """An answerer's answer, before the service adds the question, timings and rewrite."""

    text: str
    answered: bool
    citations: list[Citation]
    short_answer: str | None = None
    verification: dict[str, int] | None = None  # a generated answer's check by rag.verify
    earlier_answers: tuple[EarlierAnswer, ...] = ()
    # What the extractive answerer weighed, best first: every sentence it scored, the ones of them that
    # could answer (text and features), and the short-answer candidates. Empty for a generated answer.
    scored: tuple[ScoredSentence, ...] = ()
    sentences: tuple[tuple[str, SentenceFeatures], ...] = ()
    candidates: tuple[tuple[str, CandidateFeatures], ...] = ()
    # The texts the answer could be read from: the sentences the extractive answerer could quote, or
    # the passages (or windows) a language model was shown.
    evidence: tuple[str, ...] = ()
    # The candidates a local model judged (rag.phrase_reading), each with its rag.phrase_model row.
    phrases: tuple[tuple[str, tuple[float, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Weighed:
    """What the extractive reader weighed for one question: every sentence scored, those that could
    answer, the answer phrase it reads (None: none, or the answer declines) and the sentences read for
    it, best first (a candidate's `best_sentence` indexes them)."""

    scored: list[ScoredSentence]
    eligible: list[ScoredSentence]
    found: ShortAnswer | None
    read: list[ScoredSentence]


class Answerer(Protocol):
    def answer(self, evidence: Evidence, *, stream: bool = False) -> Iterator[str | Draft]:
        """With `stream`, the answer's text pieces as they are written; the `Draft` always comes last
        (and alone when nothing streams)."""
        ...


def drafted(items: Iterable[str | Draft]) -> Draft:
    """The draft at the end of an answerer's items, the pieces before it passed over."""
    for item in items:
        if isinstance(item, Draft):
            return item
    raise ValueError("the answerer ended without its Draft")


class QuotingAnswerer:
    """The extractive answer: the best sentences quoted and cited, after the answer phrase."""

    def __init__(self, reader: ExtractiveAnswerer, *, weigh_every_sentence: bool = False) -> None:
        """`weigh_every_sentence`: score every sentence of the passages, not only those that could answer
        (slower; `newsdesk eval` weighs a question's choices with them). Its answers are read from the
        sentences that could answer among them, which may then include a sentence that adds no word
        to the question's."""
        self.reader = reader
        self.weigh_every_sentence = weigh_every_sentence

    def answer(self, evidence: Evidence, *, stream: bool = False) -> Iterator[str | Draft]:
        yield self.draft(evidence)

    def draft(self, evidence: Evidence) -> Draft:
        weighed = self.weigh(evidence)
        return self.draft_from(evidence, weighed, weighed.found)

    def weigh(self, evidence: Evidence) -> Weighed:
        """The sentences scored, those that could answer, and the answer phrase read from them."""
        scored = self.reader.score_sentences(
            evidence.question,
            evidence.hits,
            evidence.question_vector,
            answer_only=not self.weigh_every_sentence,
        )
        eligible = could_answer(scored)
        found, read = self.read_short_answer(evidence, eligible)
        return Weighed(scored, eligible, found, read)

    def draft_from(self, evidence: Evidence, weighed: Weighed, short: ShortAnswer | None) -> Draft:
        """The answer from what was weighed, led by the sentence of `short` (one of `weighed.read`)."""
        hits, eligible = evidence.hits, weighed.eligible
        lead = weighed.read[short.sentence] if short else None
        text, answered, citations = self.reader.answer_from(
            eligible, hits, lead, short.text if short else None
        )
        kept = short if short and answered else None
        found = weighed.found
        texts = [sentence_text(s, hits) for s in eligible]
        return Draft(
            text,
            answered,
            citations,
            short_answer=kept.text if kept else None,
            earlier_answers=kept.earlier if kept else (),
            scored=tuple(weighed.scored),
            sentences=tuple((text, s.features) for text, s in zip(texts, eligible, strict=True)),
            candidates=found.candidates if found else (),
            evidence=tuple(texts),
        )

    def short_answer_from(self, evidence: Evidence, eligible: Sequence[ScoredSentence]) -> str | None:
        """The answer phrase this answerer would give from `eligible` (scored over `evidence.hits`)."""
        found, _ = self.read_short_answer(evidence, eligible)
        return found.text if found else None

    def read_short_answer(
        self, evidence: Evidence, eligible: Sequence[ScoredSentence]
    ) -> tuple[ShortAnswer | None, list[ScoredSentence]]:
        """The answer phrase, from the best sentences, checked against the top articles; and the
        sentences it was read from (by hand support, as the candidates' features were learned)."""
        reader, hits = self.reader, evidence.hits
        if not reader.settings.short_answers or reader.declines(eligible):
            return None, []  # nothing to read it from, or the answer will decline
        scored = sorted(eligible, key=lambda s: (-s.support, s.hit_index, s.start))[:MAX_SENTENCES]
        sentences = [(sentence_text(s, hits), s.support) for s in scored]
        origins = [(hits[s.hit_index].passage.published_at, hits[s.hit_index].passage.source) for s in scored]
        outlets = [hit.passage.source for hit in hits if hit.passage.source]
        found = short_answer(
            evidence.question,
            sentences,
            outlets,
            evidence.articles(),
            reader.embedder.embed,
            origins,
            reader.settings.weights,
            reader.scorer,
        )
        return found, scored


class GeneratedAnswerer:
    """A language model's answer, every sentence checked against the passages it was given.

    The model is shown the best whole passages (`pack_passages`). With `reader`, a short answer the
    model does not quote gives way to the extractive one; with `reader` and `windows`, the model is
    shown windows around the sentences the reader scores best in the retrieved passages and the rest
    of their articles (`passages_of`, an article's passages in order) instead, within `budget` tokens
    (rag.evidence). Windows are not the default: on 60 held-back dev questions with Qwen2.5-1.5B they
    held the answer as often (0.783 vs 0.767) but were read worse (short answers 0.317 vs 0.367,
    docs/results/2026-12-06/model-reading.md)."""

    def __init__(
        self,
        generator: Generator,
        reader: ExtractiveAnswerer | None = None,
        passages_of: Callable[[str], Sequence[Passage]] | None = None,
        budget: int = EVIDENCE_TOKENS,
        *,
        windows: bool = False,
    ) -> None:
        if budget <= 0:
            raise ValueError(f"budget must be > 0, got {budget}")
        self.generator = generator
        self.reader = reader
        self.windows = windows
        self.passages_of = passages_of
        self.budget = budget

    def answer(self, evidence: Evidence, *, stream: bool = False) -> Iterator[str | Draft]:
        shown = self.shown(evidence)
        passages = [w.hit for w in shown.windows] if shown.windows else pack_passages(evidence.hits)
        question, history = evidence.question, evidence.history
        if stream and isinstance(self.generator, StreamingGenerator):
            reply: list[str] = []
            yield from answer_pieces(self.generator.stream(question, passages, history), reply)
            generated = parse_reply("".join(reply))
        else:
            generated = self.generator.generate(question, passages, history)
        yield checked(generated, passages, evidence.hits, shown.windows, shown.fallback)

    def shown(self, evidence: Evidence) -> Shown:
        """What the model will be shown for `evidence`: windows (none without a reader, or when the
        reader scores no sentence), and how to read the extractive short answer from them."""
        reader = self.reader
        if reader is None:
            return Shown([], None)
        if not self.windows:

            def from_passages() -> str | None:
                scored = reader.score_sentences(
                    evidence.question, evidence.hits, evidence.question_vector, answer_only=True
                )
                return QuotingAnswerer(reader).short_answer_from(evidence, could_answer(scored))

            return Shown([], from_passages)
        hits = widened(evidence.hits, self.passages_of) if self.passages_of else list(evidence.hits)
        scored = reader.score_sentences(evidence.question, hits, evidence.question_vector, answer_only=True)
        windows = select_windows(scored, hits, self.budget)
        quoting = QuotingAnswerer(reader)
        wide = Evidence(
            evidence.question, hits, evidence.question_vector, evidence.history, evidence.articles
        )
        eligible = could_answer(scored)
        return Shown(windows, lambda: quoting.short_answer_from(wide, eligible))


@dataclass(frozen=True, slots=True)
class Shown:
    windows: list[Window]
    fallback: Callable[[], str | None] | None  # the extractive short answer, read when needed


def quoted(phrase: str, text: str) -> bool:
    """Whether `phrase` is in `text` as whole words, case, punctuation and spacing aside."""
    words = padded_words(phrase)
    return bool(words.strip()) and words in padded_words(text)


def checked(
    generated: Generated,
    passages: Sequence[Hit],
    retrieved: Sequence[Hit] = (),
    windows: Sequence[Window] = (),
    fallback: Callable[[], str | None] | None = None,
) -> Draft:
    """The language model's answer, every sentence checked against the passages it was shown
    (rag.verify), citations of `windows` moved back into their passages. Its short answer is kept only
    when a cited quote holds it; else the extractive one (`fallback`) when a cited passage holds
    that; else none. Nothing cited: declined, with the closest of the `retrieved` passages."""
    text, citations, verification = verify(generated.text, passages)
    shown = tuple(hit.passage.text for hit in passages)
    if generated.declined or not citations:
        closest = closest_passages(retrieved or passages)
        return Draft(NOT_FOUND, False, closest, verification=verification.as_dict(), evidence=shown)
    if windows:
        citations = cited_in_passages(citations, windows)
    short = MARKER.sub("", generated.short_answer or "").strip() or None  # "Short answer: [3]" says nothing
    if short and not any(quoted(short, c.quote) for c in citations):
        short = None  # a short answer is a claim too: kept only when a cited sentence says it
    if short is None and fallback is not None:
        candidate = fallback()
        if candidate and any(quoted(candidate, c.text) for c in citations):
            short = candidate
    return Draft(
        text, True, citations, short_answer=short, verification=verification.as_dict(), evidence=shown
    )
