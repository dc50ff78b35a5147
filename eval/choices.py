"""Multiple-choice questions: the choice the evidence names most, weighed by rank.

Signals, as a `ChoiceFeatures` record per choice: how often it is named in the full text of the top
10 retrieved articles, each article counting 1/rank and at most `mention_cap` mentions; the support
and cosine of its best sentence in the passages read (`choice_evidence`); the
passages naming it; its mentions in the best article; the hand score of the short-answer candidate
it names. The hand weights (rag.weights) use the first three: measured on the RealTime QA dev set,
mentions alone reached 0.791, the best sentence alone 0.752, together 0.807; the baseline of counting
mentions in the top 5 BM25 articles reached 0.781. The learned reader weighs them all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.lexical import terms
from rag.answer import ScoredSentence, padded_words, sentence_text
from rag.features import CandidateFeatures, ChoiceFeatures, hand_score
from rag.records import Hit
from rag.scoring import LinearScorer, Scorer
from rag.short_answer import mention_pattern
from rag.weights import HAND_WEIGHTS, AnsweringWeights


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


def choice_evidence(
    scored: Sequence[ScoredSentence], hits: Sequence[Hit], choices: Sequence[str]
) -> list[tuple[float, float, float]]:
    """For each choice, the hand support of the best sentence that names it (0 when none does), the
    passages naming it, each counting 1/rank, and that best sentence's cosine. `scored`: the sentences
    of `hits` as the extractive answerer weighed them."""
    sentence_terms = [(s.support, s.features.cosine, set(terms(sentence_text(s, hits)))) for s in scored]
    passage_terms = [set(terms(f"{h.passage.title} {h.passage.text}")) for h in hits]
    evidence = []
    for choice in choices:
        wanted = set(terms(choice)) or {choice.strip().lower()}
        naming = [(support, cosine) for support, cosine, found in sentence_terms if wanted <= found]
        mentioned = sum(1.0 / (rank + 1) for rank, found in enumerate(passage_terms) if wanted <= found)
        best_support = max((support for support, _ in naming), default=0.0)
        best_cosine = max((cosine for _, cosine in naming), default=0.0)
        evidence.append((best_support, mentioned, best_cosine))
    return evidence


def choice_features(
    scored: Sequence[ScoredSentence],
    hits: Sequence[Hit],
    choices: Sequence[str],
    article_texts: Sequence[str],
    candidates: Sequence[tuple[str, CandidateFeatures]] = (),
    weights: AnsweringWeights = HAND_WEIGHTS,
) -> list[ChoiceFeatures]:
    """Each choice's record; `scored` the sentences of `hits` as the answerer weighed them (every one,
    not only those that could answer), `article_texts` the top retrieved articles, best first,
    `candidates` the short-answer candidates weighed for the question."""
    w = weights
    evidence = choice_evidence(scored, hits, choices)
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
