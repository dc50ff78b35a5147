"""Multiple-choice questions: the choice the evidence names most, weighed by rank.

Signals, as a `ChoiceFeatures` record per choice: how often it is named in the full text of the top
10 retrieved articles, each article counting 1/rank and at most `mention_cap` mentions; the support
and cosine of its best sentence in the passages read (`ExtractiveAnswerer.choice_evidence`); the
passages naming it; its mentions in the best article; the hand score of the short-answer candidate
it names. The hand weights (rag.weights) use the first three: measured on the RealTime QA dev set,
mentions alone reached 0.791, the best sentence alone 0.752, together 0.807; the baseline of counting
mentions in the top 5 BM25 articles reached 0.781. The learned reader weighs them all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from rag.answer import ExtractiveAnswerer, padded_words
from rag.features import CandidateFeatures, ChoiceFeatures, hand_score
from rag.records import Hit
from rag.scoring import LinearScorer, Scorer
from rag.weights import HAND_WEIGHTS, AnsweringWeights

TOP_ARTICLES = 10


@lru_cache(maxsize=4096)
def mention_pattern(choice: str) -> re.Pattern[str]:
    """`choice` as whole words, ignoring case; a blank choice matches nothing."""
    wanted = choice.strip()
    return re.compile(rf"(?<!\w){re.escape(wanted)}(?!\w)" if wanted else r"(?!)", re.IGNORECASE)


def mentions(choice: str, text: str) -> int:
    """Times `choice` appears in `text` as whole words, ignoring case."""
    return len(mention_pattern(choice).findall(text))


def _candidate_score(
    choice: str, candidates: Sequence[tuple[str, CandidateFeatures]], w: AnsweringWeights
) -> float:
    """The best hand score of a short-answer candidate that names the choice or is named by it."""
    wanted = padded_words(choice)
    return max(
        (
            hand_score(f, w.agreement_weight, w.other_name_weight, w.meaning_weight)
            for text, f in candidates
            if wanted.strip() and (wanted in padded_words(text) or padded_words(text) in wanted)
        ),
        default=0.0,
    )


def choice_features(
    answerer: ExtractiveAnswerer,
    question: str,
    hits: Sequence[Hit],
    choices: Sequence[str],
    article_texts: Sequence[str],
    question_vector: np.ndarray | None = None,
    candidates: Sequence[tuple[str, CandidateFeatures]] = (),
) -> list[ChoiceFeatures]:
    """Each choice's record; `article_texts` are the top retrieved articles, best first; `candidates`
    the short-answer candidates weighed for the question."""
    w = answerer.settings.weights
    evidence = answerer.choice_evidence(question, hits, choices, question_vector)
    return [
        ChoiceFeatures(
            best_support=support,
            passage_mentions=passages,
            article_mentions=sum(
                min(mentions(choice, text), w.mention_cap) / rank
                for rank, text in enumerate(article_texts, 1)
            ),
            best_cosine=cosine,
            first_article_mentions=min(mentions(choice, article_texts[0]), w.mention_cap)
            if article_texts
            else 0,
            candidate_score=_candidate_score(choice, candidates, w),
        )
        for choice, (support, passages, cosine) in zip(choices, evidence, strict=True)
    ]


def pick_choice(
    records: Sequence[ChoiceFeatures], scorer: Scorer | None = None, weights: AnsweringWeights = HAND_WEIGHTS
) -> int | None:
    """Index of the best-evidenced choice, from `choice_features`' records; None when nothing names
    any choice."""
    if not records or not any(r.best_support or r.passage_mentions or r.article_mentions for r in records):
        return None
    scores = (scorer or LinearScorer(weights)).choice_scores(records)
    return int(np.argmax(scores))
