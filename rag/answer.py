"""The extractive answerer: no language model, every word of the answer is quoted.

Sentences of the retrieved passages are scored against the question by meaning
(embedding cosine), by the IDF-weighted share of the question's terms they contain,
and by whether they hold the kind of thing asked for (a number for "how many", a date
for "when", a name for "who"). The best one or two become the answer, each followed by
a marker [n] for the passage it was copied from, so support is true by construction and
checked again before anything is returned. Below the support threshold the answerer
declines and lists the closest passages instead. The threshold, 0.40, is where
benchmarks/refusal_sweep.py shows the fewest wrong refusals for the most right ones: on RealTime QA
dev questions asked of the archive as it was and as it stood 60 days earlier, precision 0.87 at 4.5%
wrong refusals (0.45: 0.85 at 7.4%); on the demo set 0.75 at 2.6% (0.45: 0.60 at 5.3%).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from index.embedding import Embedder
from index.lexical import TermStatistics, terms
from index.sentences import sentence_spans
from rag.features import SentenceFeatures
from rag.question import AnswerKind, frame_question
from rag.records import MARKER, Citation, Hit
from rag.scoring import LinearScorer, Scorer
from rag.weights import HAND_WEIGHTS, AnsweringWeights

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
_CAPITALIZED = re.compile(r"(?<!^)\b[A-Z][\w'’-]+")


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    max_sentences: int = 2
    max_answer_words: int = 55  # sentences after the first join while the answer stays this short
    short_answers: bool = True  # the answer phrase alone, from the best sentences (spaCy entities)
    weights: AnsweringWeights = HAND_WEIGHTS  # the hand weights (also features of the learned reader)


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    hit_index: int
    start: int
    end: int
    support: float  # the hand-weighted support: short-answer candidates add it up
    matched: frozenset[str]
    features: SentenceFeatures
    score: float  # the scorer's: what orders the sentences and decides a refusal

    @property
    def semantic(self) -> float:
        return self.features.cosine

    @property
    def coverage(self) -> float:
        return self.features.coverage

    @property
    def typed(self) -> bool:
        return self.features.typed


def _has_type(kind: AnswerKind | None, sentence: str, question: str) -> bool:
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "date":
        return bool(_DATE.search(sentence))
    if kind == "entity":
        asked = {w.lower() for w in re.findall(r"\w+", question)}
        return any(m.group(0).lower() not in asked for m in _CAPITALIZED.finditer(sentence.strip()))
    return True


def _counts_focus(sentence: str, focus: frozenset[str]) -> bool:
    """Whether a number in the sentence counts the thing asked about ("26 cruise missiles")."""
    words = sentence.split()
    for i, word in enumerate(words):
        if _NUMBER.search(word) and focus & set(terms(" ".join(words[i + 1 : i + 5]))):
            return True
    return False


def _years_present(years: frozenset[str], hit: Hit) -> bool:
    """A year named in the question must be in the passage, its title or its date."""
    if not years:
        return True
    passage = hit.passage
    haystack = f"{passage.title} {passage.text} {(passage.published_at or '')[:4]}"
    return all(year in haystack for year in years)


def _ranks(scores: Sequence[float | None]) -> list[int]:
    """Each passage's rank by one retriever's score, 0 the best; passages it did not score come last."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))
    ranks = [0] * len(scores)
    for rank, i in enumerate(order):
        ranks[i] = rank
    return ranks


def _age_days(published_at: str | None, as_of: date | None) -> int:
    """Days from publication to the day asked, -1 when either is unknown (or the date unreadable)."""
    if as_of is None or not published_at:
        return -1
    try:
        return (as_of - date.fromisoformat(published_at[:10])).days
    except ValueError:
        return -1


def _may_answer(
    question_terms: set[str], sentence_terms: set[str], kind: AnswerKind | None, question: str, sentence: str
) -> bool:
    """The cheap half of eligibility (a question term, something new, the asked-for type)."""
    return (
        bool(question_terms & sentence_terms)
        and bool(sentence_terms - question_terms)
        and _has_type(kind, sentence, question)
    )


class ExtractiveAnswerer:
    def __init__(
        self,
        embedder: Embedder,
        lexical: TermStatistics,
        settings: AnswerSettings | None = None,
        as_of: date | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        """`as_of`: the day the question is asked, for the sentences' age. `scorer` orders the sentences
        and decides refusals (default: the hand weights of `settings`)."""
        self.embedder = embedder
        self.lexical = lexical
        self.settings = settings or AnswerSettings()
        self.as_of = as_of
        self.scorer = scorer or LinearScorer(self.settings.weights)

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        question_vector: np.ndarray | None = None,
        lead: ScoredSentence | None = None,
        short: str | None = None,
    ) -> tuple[str, bool, list[Citation]]:
        """The best sentences, quoted and cited. With a short answer, `lead` is the sentence it was
        read from and the answer quotes only sentences that hold it: a citation vouches for the
        answer, not for a sentence that merely resembles the question."""
        return self.answer_from(
            self.best_scored(question, hits, question_vector, limit=None), hits, lead, short
        )

    def answer_from(
        self,
        eligible: Sequence[ScoredSentence],
        hits: Sequence[Hit],
        lead: ScoredSentence | None = None,
        short: str | None = None,
    ) -> tuple[str, bool, list[Citation]]:
        """`answer`, from the sentences that could answer (`could_answer`), already scored."""
        if self.declines(eligible):
            return NOT_FOUND, False, closest_passages(hits)
        if lead is not None and short:
            text = padded_words(short)
            chosen = [
                lead,
                *(s for s in eligible if not _same(s, lead) and text in padded_words(sentence_text(s, hits))),
            ]
            chosen = chosen[: self.settings.max_sentences]
        else:
            chosen = self._choose(eligible)
        return self._compose(self._within_words(chosen, hits), hits)

    def declines(self, eligible: Sequence[ScoredSentence]) -> bool:
        """Whether the sentences that could answer (`best_scored(limit=None)`) are too weak to answer from."""
        return not eligible or not self.scorer.answers(
            [s.features for s in eligible], [s.score for s in eligible]
        )

    def _within_words(self, chosen: Sequence[ScoredSentence], hits: Sequence[Hit]) -> list[ScoredSentence]:
        """The first sentence, then the others in turn while the answer stays within max_answer_words."""
        kept: list[ScoredSentence] = []
        words = 0
        for sentence in chosen:
            count = len(sentence_text(sentence, hits).split())
            if kept and words + count > self.settings.max_answer_words:
                continue
            kept.append(sentence)
            words += count
        return kept

    def best_scored(
        self,
        question: str,
        hits: Sequence[Hit],
        question_vector: np.ndarray | None = None,
        limit: int | None = 5,
    ) -> list[ScoredSentence]:
        """The sentences that could answer (a question term, something new, the asked-for type), best
        scored first; `limit` None for all of them."""
        return could_answer(self.score_sentences(question, hits, question_vector, answer_only=True))[:limit]

    def score_sentences(
        self,
        question: str,
        hits: Sequence[Hit],
        question_vector: np.ndarray | None = None,
        *,
        answer_only: bool = False,
    ) -> list[ScoredSentence]:
        """Every distinct sentence of the hits, best supported first. With `answer_only`, sentences that
        could never be an answer (no question term, nothing new, or not of the asked-for type) are
        neither embedded nor returned: embedding is most of an answer's cost."""
        return self._score_sentences(question, hits, question_vector, answer_only)

    def _score_sentences(
        self, question: str, hits: Sequence[Hit], question_vector: np.ndarray | None, answer_only: bool
    ) -> list[ScoredSentence]:
        question_terms = set(terms(question))
        weights = self._term_weights(question, question_terms)
        total_weight = sum(weights.values()) or 1.0
        frame = frame_question(question)
        kind, focus = frame.kind, frame.focus_terms
        counted = focus if frame.counts_focus else frozenset()
        candidates: list[tuple[int, int, int, set[str]]] = []
        seen: set[str] = set()
        for index, hit in enumerate(hits):
            text = hit.passage.text
            for start, end in sentence_spans(text):
                key = " ".join(text[start:end].lower().split())
                if key in seen or len(key) < 12:
                    continue
                seen.add(key)
                sentence_terms = set(terms(text[start:end]))
                if answer_only and not _may_answer(
                    question_terms, sentence_terms, kind, question, text[start:end]
                ):
                    continue
                candidates.append((index, start, end, sentence_terms))
        if not candidates:
            return []
        if question_vector is None:
            question_vector = self.embedder.embed([question])[0]
        sentences = [hits[i].passage.text[s:e] for i, s, e, _ in candidates]
        semantic = self.embedder.embed(sentences) @ question_vector
        w = self.settings.weights
        dense_rank = _ranks([hit.dense_score for hit in hits])
        lexical_rank = _ranks([hit.lexical_score for hit in hits])
        records: list[tuple[int, int, int, frozenset[str], SentenceFeatures]] = []
        for (index, start, end, sentence_terms), sentence, cosine in zip(
            candidates, sentences, semantic, strict=True
        ):
            matched = question_terms & sentence_terms
            features = SentenceFeatures(
                cosine=float(cosine),
                coverage=sum(weights[t] for t in matched) / total_weight,
                focus_hit=bool(focus & sentence_terms),
                novel=bool(sentence_terms - question_terms),
                typed_match=_has_type(kind, sentence, question),
                counts_other=bool(counted) and not _counts_focus(sentence, counted),
                year_present=_years_present(frame.years, hits[index]),
                passage_rank=index,
                dense_rank=dense_rank[index],
                lexical_rank=lexical_rank[index],
                article_offset=hits[index].passage.start + start,
                age_days=_age_days(hits[index].passage.published_at, self.as_of),
                asks_number=kind == "number",
                asks_date=kind == "date",
                asks_name=kind == "entity",
            )
            records.append((index, start, end, frozenset(matched), features))
        supports = LinearScorer(w).sentence_scores([r[4] for r in records])
        scores = self.scorer.sentence_scores([r[4] for r in records])
        scored = [
            ScoredSentence(index, start, end, support, matched, features, score)
            for (index, start, end, matched, features), support, score in zip(
                records, supports, scores, strict=True
            )
        ]
        scored.sort(key=lambda s: (-s.score, s.hit_index, s.start))
        return scored

    def _term_weights(self, question: str, question_terms: set[str]) -> dict[str, float]:
        """IDF weights; a term absent from the archive weighs as much as the rarest present one,
        since it cannot be matched at all and must not make every sentence look unsupported."""
        weights = self.lexical.term_weights(question)
        ceiling = max(weights.values(), default=1.0)
        return {t: weights.get(t, ceiling) for t in question_terms}

    def _choose(self, eligible: Sequence[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence, plus close runners-up that add a term it lacks or that come from
        another passage (a second report, or another reading of an ambiguous question)."""
        best = eligible[0]
        chosen = [best]
        covered = set(best.matched)
        for other in eligible[1:]:
            if len(chosen) >= self.settings.max_sentences:
                break
            if other.score < best.score * self.settings.weights.second_sentence_ratio:
                break
            elsewhere = all(other.hit_index != c.hit_index for c in chosen)
            if other.matched - covered or elsewhere:
                chosen.append(other)
                covered |= other.matched
        # Best-supported passage first; sentences of one passage in reading order.
        rank: dict[int, int] = {}
        for sentence in chosen:
            rank.setdefault(sentence.hit_index, len(rank))
        return sorted(chosen, key=lambda s: (rank[s.hit_index], s.start))

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
            parts.append(f"{sentence_text(sentence, hits)} [{number}]")
        citations = [Citation.from_hit(numbers[i], hits[i], spans[i], support=1.0) for i in numbers]
        answer = " ".join(parts)
        problems = unsupported_claims(answer, citations)
        if problems:  # cannot happen for quoted sentences; guards future edits
            raise RuntimeError("; ".join(problems))
        return answer, True, citations


def _same(one: ScoredSentence, other: ScoredSentence) -> bool:
    """The same sentence of the same passage (scored once or again)."""
    return (one.hit_index, one.start, one.end) == (other.hit_index, other.start, other.end)


def sentence_text(sentence: ScoredSentence, hits: Sequence[Hit]) -> str:
    """The sentence's words, from the passage of the hit it was scored in."""
    return hits[sentence.hit_index].passage.text[sentence.start : sentence.end]


def could_answer(scored: Sequence[ScoredSentence]) -> list[ScoredSentence]:
    """The scored sentences that could answer: of the asked-for type and holding a question term."""
    return [s for s in scored if s.typed and s.matched]


def padded_words(text: str) -> str:
    """Lower case, words only, space-padded: "in" on two of these finds a phrase as whole words."""
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def closest_passages(hits: Sequence[Hit], count: int = 3) -> list[Citation]:
    """What a declined answer lists instead: the best passages, cited without a quote."""
    return [Citation.from_hit(n, hit, None) for n, hit in enumerate(hits[:count], start=1)]


def unsupported_claims(answer: str, citations: Sequence[Citation]) -> list[str]:
    """Each problem found: a marked sentence absent from the quote its marker names, or unmarked text."""
    by_number = {c.n: c for c in citations}
    problems = []
    position = 0
    for marker in MARKER.finditer(answer):
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
