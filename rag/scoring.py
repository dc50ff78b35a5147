"""How the extractive answerer weighs what it read: by hand (`LinearScorer`) or learned (`LearnedScorer`).

Both score the same feature records (rag.features): each sentence that could answer, each
short-answer candidate, each choice; higher is better. `answers` says whether the sentences that
could answer, with the scores it gave them, are good enough to answer from rather than decline.
The service uses the learned reader shipped in the package (rag/reader_model.json) when it is
there (`default_scorer`); the application reads NEWSDESK_READER (`scorer_from_env`): "hand" chooses
the hand weights, a path another trained model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from rag.features import (
    CandidateFeatures,
    ChoiceFeatures,
    SentenceFeatures,
    hand_choice_scores,
    hand_score,
    hand_support,
)
from rag.reader_model import SHIPPED_MODEL, ReaderModel, load_model, refusal_row
from rag.weights import HAND_WEIGHTS, AnsweringWeights


class Scorer(Protocol):
    name: str

    def sentence_scores(self, records: Sequence[SentenceFeatures]) -> list[float]: ...

    def candidate_scores(self, records: Sequence[CandidateFeatures]) -> list[float]: ...

    def choice_scores(self, records: Sequence[ChoiceFeatures]) -> list[float]: ...

    def answers(self, records: Sequence[SentenceFeatures], scores: Sequence[float]) -> bool: ...


class LinearScorer:
    """The hand weights of rag.weights; noun-chunk candidates are left to the learned reader."""

    name = "hand"

    def __init__(self, weights: AnsweringWeights = HAND_WEIGHTS) -> None:
        self.weights = weights

    def sentence_scores(self, records: Sequence[SentenceFeatures]) -> list[float]:
        w = self.weights
        return [hand_support(r, w.semantic_weight, w.focus_bonus, w.other_count_penalty) for r in records]

    def candidate_scores(self, records: Sequence[CandidateFeatures]) -> list[float]:
        w = self.weights
        weights = (w.agreement_weight, w.other_name_weight, w.meaning_weight)
        return [float("-inf") if r.noun_chunk else hand_score(r, *weights) for r in records]

    def choice_scores(self, records: Sequence[ChoiceFeatures]) -> list[float]:
        return hand_choice_scores(records, self.weights.passage_weight, self.weights.support_bonus)

    def answers(self, records: Sequence[SentenceFeatures], scores: Sequence[float]) -> bool:
        """Whether the best sentence's hand support reaches min_support."""
        return max(scores, default=0.0) >= self.weights.min_support


class LearnedScorer:
    """Chances from the trained reader (rag.reader_model); it declines under the model's threshold."""

    name = "learned"

    def __init__(
        self, model: ReaderModel, weights: AnsweringWeights = HAND_WEIGHTS, refusal: str = "hand"
    ) -> None:
        """`refusal`: "hand" declines by the hand support (min_support), "learned" by the model's refusal
        model; "hand" by default — the learned one did not beat it (README)."""
        self.model = model
        self.weights = weights  # for the hand score, one of the model's features
        self.hand = LinearScorer(weights)  # for a kind the model did not learn (none in its gold set)
        self.refusal = refusal
        if self.refusal not in ("hand", "learned"):
            raise ValueError(f'refusal (NEWSDESK_REFUSAL) must be "hand" or "learned", not {self.refusal!r}')

    def sentence_scores(self, records: Sequence[SentenceFeatures]) -> list[float]:
        return [float(p) for p in self.model.probability("sentence", records, self.weights)]

    def candidate_scores(self, records: Sequence[CandidateFeatures]) -> list[float]:
        if "candidate" not in self.model.ensembles:
            return self.hand.candidate_scores(records)
        return [float(p) for p in self.model.probability("candidate", records, self.weights)]

    def choice_scores(self, records: Sequence[ChoiceFeatures]) -> list[float]:
        if "choice" not in self.model.ensembles:
            return self.hand.choice_scores(records)
        return [float(p) for p in self.model.probability("choice", records, self.weights)]

    def answers(self, records: Sequence[SentenceFeatures], scores: Sequence[float]) -> bool:
        """By the hand support, or whether the refusal model's chance that the passages hold the
        answer reaches its threshold."""
        if self.refusal == "hand":
            return self.hand.answers(records, self.hand.sentence_scores(records))
        refusal = self.model.refusal
        return refusal.chance(refusal_row(records, scores)) >= refusal.threshold


@lru_cache(maxsize=4)
def _learned(path: Path, refusal: str) -> LearnedScorer:
    return LearnedScorer(load_model(path), refusal=refusal)


def default_scorer(weights: AnsweringWeights = HAND_WEIGHTS) -> Scorer:
    """The learned reader shipped in the package when it is there, else the hand weights."""
    if not SHIPPED_MODEL.exists():
        return LinearScorer(weights)
    return learned_scorer(SHIPPED_MODEL, weights)


def learned_scorer(path: Path, weights: AnsweringWeights = HAND_WEIGHTS, refusal: str = "hand") -> Scorer:
    """The reader model at `path` (loaded once per path for the hand weights)."""
    if weights == HAND_WEIGHTS:
        return _learned(path, refusal)
    return LearnedScorer(load_model(path), weights, refusal)


def refusal_from_env() -> str:
    """NEWSDESK_REFUSAL: how a learned reader declines, "hand" (the default) or "learned"."""
    return os.environ.get("NEWSDESK_REFUSAL", "").strip() or "hand"


def scorer_from_env(weights: AnsweringWeights = HAND_WEIGHTS) -> Scorer:
    """NEWSDESK_READER: "hand", "learned" (the shipped model) or a model file; by default the shipped
    model when the package has one, else the hand weights (`default_scorer`). NEWSDESK_REFUSAL: how
    a learned reader declines ("hand", the default, or "learned"). A named model that cannot be loaded
    is an error (ReaderModelError), never a silent fall-back."""
    chosen = os.environ.get("NEWSDESK_READER", "").strip()
    refusal = refusal_from_env()
    if chosen == "hand" or (not chosen and not SHIPPED_MODEL.exists()):
        return LinearScorer(weights)
    path = SHIPPED_MODEL if chosen in ("", "learned") else Path(chosen).expanduser()
    return learned_scorer(path, weights, refusal)
