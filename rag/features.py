"""What the answerer knows about a sentence or a short-answer candidate, as typed records.

Each quantity the hand-weighted scoring reads is computed once, into a `SentenceFeatures` or a
`CandidateFeatures`; the hand score is a function of the record (`hand_support`, `hand_score`) and
gives the same numbers the scoring gave before the records existed. `newsdesk eval` writes the
records with labels (eval/features.py), so a learned scorer can be trained on the same inputs.
`FEATURES` names the fields in the order of `as_vector()`; a model trained on one order refuses
another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from typing import ClassVar

FORMAT_VERSION = 3
# 2: noun-chunk candidates, their length; choices' cosine, first article, candidate score.
# 3: what the question asks for, on sentences and candidates; a candidate's own kind and shape.


@dataclass(frozen=True, slots=True)
class SentenceFeatures:
    cosine: float  # embedding cosine between the question and the sentence
    coverage: float  # IDF-weighted share of the question's terms the sentence holds
    focus_hit: bool  # holds a word of the thing asked about
    novel: bool  # holds a term that is not the question's
    typed_match: bool  # holds the kind asked for (a number, a date, a name not in the question)
    counts_other: bool  # "how many X" and the sentence's numbers count something else than X
    year_present: bool  # every year the question names is in the passage, its title or its date
    passage_rank: int  # 0 for the best fused passage
    dense_rank: int  # the passage's rank among those read by dense score (0 best; unscored last)
    lexical_rank: int  # the same by BM25 score
    article_offset: int  # characters from the start of the article to the sentence
    age_days: int  # days from the passage's publication to the day asked; -1 when either is unknown
    asks_number: bool  # the question asks for a number ("how many", "what share")
    asks_date: bool  # … for a date ("when", "which year")
    asks_name: bool  # … for a name not in the question ("who", "which provinces")

    FEATURES: ClassVar[tuple[str, ...]] = ()

    def as_vector(self) -> tuple[float, ...]:
        return tuple(float(value) for value in astuple(self))

    @property
    def typed(self) -> bool:
        """Whether the sentence may answer: something new, of the asked-for kind, in the asked-for year."""
        return self.novel and self.typed_match and self.year_present


@dataclass(frozen=True, slots=True)
class CandidateFeatures:
    label_match: bool  # named at least once with the entity label asked for (else another name)
    mention_support: float  # Σ over its mentions: sentence support * label * mention weight * nearness
    mentions: int  # mentions in the sentences read
    nearby: float  # the largest share of the question's words near one of its mentions
    best_sentence: int  # index of the sentence whose mention scores highest (0 the best sentence)
    agreement: float  # Σ over the top articles of min(mentions, cap) / rank
    outlets: int  # distinct outlets among the sentences naming it
    focus_cosine: float  # cosine to the thing asked about; 0 when not measured (no focus, one candidate)
    age_days: int  # days its best sentence is older than the newest sentence read (0 when undated)
    noun_chunk: bool  # a noun phrase of the parse ("broad beans"), not a named entity
    words: int  # its length in words
    is_number: bool  # labelled a number at least once (CARDINAL, QUANTITY, MONEY, PERCENT)
    is_date: bool  # … a date or time
    is_person: bool  # … a person
    is_place: bool  # … a place (GPE, LOC, FAC)
    is_organisation: bool  # … an organisation
    asks_number: bool  # the question asks for a number
    asks_date: bool  # … a date
    asks_person: bool  # … a person ("who")
    asks_place: bool  # … a place ("which provinces", "where")
    asks_organisation: bool  # … an organisation ("which company")
    asks_several: bool  # … a list ("which provinces")
    capitalized: bool  # holds a capital letter (a name, whatever its label)
    sentence_support: float  # the best hand support of a sentence naming it
    distance: int  # characters from its closest mention to a word of the question (at most 300)
    in_question: float  # the share of its words that are the question's
    in_titles: float  # Σ 1/rank over the top articles whose title names it
    first_article: int  # mentions in the best-ranked article, at most the cap
    has_longer: bool  # another candidate holds all its words and more ("Simz" in "Little Simz")
    shorter_support: float  # Σ mention support of the shorter candidates it holds

    FEATURES: ClassVar[tuple[str, ...]] = ()

    def as_vector(self) -> tuple[float, ...]:
        return tuple(float(value) for value in astuple(self))


@dataclass(frozen=True, slots=True)
class ChoiceFeatures:
    best_support: float  # support of the best sentence read that names it (0 when none does)
    passage_mentions: float  # Σ 1/rank over the passages read that name it
    article_mentions: float  # Σ min(mentions, cap)/rank over the top articles
    best_cosine: float  # the highest embedding cosine to the question of a sentence read naming it
    first_article_mentions: int  # mentions in the best-ranked article, at most the cap
    candidate_score: float  # hand score of the short-answer candidate it names (0 when none)

    FEATURES: ClassVar[tuple[str, ...]] = ()

    def as_vector(self) -> tuple[float, ...]:
        return tuple(float(value) for value in astuple(self))


# ClassVar defaults cannot be set from fields() inside the class body; set once the classes exist.
SentenceFeatures.FEATURES = tuple(f.name for f in fields(SentenceFeatures))
CandidateFeatures.FEATURES = tuple(f.name for f in fields(CandidateFeatures))
ChoiceFeatures.FEATURES = tuple(f.name for f in fields(ChoiceFeatures))


def hand_support(
    f: SentenceFeatures, semantic_weight: float, focus_bonus: float, other_count_penalty: float
) -> float:
    """The hand-weighted support of a sentence (rag.answer.AnswerSettings holds the weights)."""
    support = semantic_weight * f.cosine + (1 - semantic_weight) * f.coverage
    if f.counts_other:
        support -= other_count_penalty  # a number, but of something else
    elif f.focus_hit:
        support += focus_bonus
    return support


def hand_score(
    f: CandidateFeatures, agreement_weight: float, other_name_weight: float, meaning_weight: float
) -> float:
    """The hand-weighted score of a short-answer candidate (rag.short_answer holds the weights)."""
    label = 1.0 if f.label_match else other_name_weight  # a name of another kind agrees for less
    score = f.mention_support + agreement_weight * label * f.agreement
    return score * (1 + meaning_weight * f.focus_cosine)


def _best_supported(records: Sequence[ChoiceFeatures], passage_weight: float) -> int | None:
    """The choice best supported by the passages read: best sentence, plus passage_weight per passage."""
    supported: tuple[float, int] | None = None
    for index, f in enumerate(records):
        score = f.best_support + passage_weight * f.passage_mentions
        if score > 0 and (supported is None or score > supported[0]):
            supported = (score, index)
    return None if supported is None else supported[1]


def hand_choice_scores(
    records: Sequence[ChoiceFeatures], passage_weight: float, support_bonus: float
) -> list[float]:
    """The hand-weighted score of each choice (rag.weights holds the weights): its mentions in the
    top articles, plus support_bonus for the choice best supported by the passages read."""
    picked = _best_supported(records, passage_weight)
    return [f.article_mentions + (support_bonus if i == picked else 0.0) for i, f in enumerate(records)]


def hand_choice(records: Sequence[ChoiceFeatures], passage_weight: float, support_bonus: float) -> int | None:
    """The hand-weighted pick among choices; None when nothing names any choice."""
    scores = hand_choice_scores(records, passage_weight, support_bonus)
    best = max(scores, default=0.0)
    return scores.index(best) if best > 0 else _best_supported(records, passage_weight)
