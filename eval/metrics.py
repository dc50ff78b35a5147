"""Metric functions on single questions, and the bootstrap that puts intervals around their means.

Formulas (binary relevance; `ranked` is the list of distinct retrieved article ids, best first):
    hit@k      = 1 if any gold article is in ranked[:k] else 0
    recall@k   = |gold ∩ ranked[:k]| / |gold|
    MRR@10     = 1 / rank of the first gold article within the top 10, else 0
    nDCG@10    = Σ_{i ≤ 10, ranked[i] ∈ gold} 1/log2(i + 1)  /  Σ_{i ≤ min(|gold|, 10)} 1/log2(i + 1)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_THOUSANDS = re.compile(r"(?<=\d)[ ,.\u00a0\u202f](?=\d{3}\b)")


def normalize_answer(text: str) -> str:
    """Lower case; "240,000", "240 000" and "240000" alike; punctuation and a/an/the dropped."""
    text = _THOUSANDS.sub("", text.lower())
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_answer(text: str, answers: Sequence[str], required_terms: Sequence[str] = ()) -> bool:
    """Whether the normalized text holds one acceptable answer (as whole words) and every required term."""
    padded = f" {normalize_answer(text)} "
    found = any(f" {normalize_answer(a)} " in padded for a in answers if normalize_answer(a))
    return found and all(f" {normalize_answer(t)} " in padded for t in required_terms)


def short_answer_matches(short: str | None, answers: Sequence[str]) -> bool:
    """A short answer matches an acceptable one when either holds the other as whole words, the
    shorter covering at least half of the longer's words ("Marcos Jr" for "Ferdinand Marcos Jr.",
    "700" for "about 700"; not "Jr" alone)."""
    said = normalize_answer(short or "")
    if not said:
        return False
    for answer in answers:
        gold = normalize_answer(answer)
        if not gold:
            continue
        shorter, longer = sorted((said, gold), key=len)
        if f" {shorter} " in f" {longer} " and 2 * len(shorter.split()) >= len(longer.split()):
            return True
    return False


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD-style token F1 against the best-matching acceptable answer."""
    predicted = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum((Counter(predicted) & Counter(gold)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def gold_rank(ranked: Sequence[str], gold: Sequence[str]) -> int | None:
    return next((i + 1 for i, article in enumerate(ranked) if article in set(gold)), None)


def hit_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    return float(any(article in set(gold) for article in ranked[:k]))


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    return len(set(gold) & set(ranked[:k])) / len(set(gold)) if gold else 0.0


def mrr_at(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    rank = gold_rank(ranked[:k], gold)
    return 1.0 / rank if rank else 0.0


def ndcg_at(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    wanted = set(gold)
    dcg = sum(1.0 / math.log2(i + 2) for i, article in enumerate(ranked[:k]) if article in wanted)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(wanted), k)))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


Statistic = Callable[[np.ndarray], float | None]


def mean_of(column: int) -> Statistic:
    return lambda rows: float(np.mean(rows[:, column])) if len(rows) else None


def ratio_of(numerator: int, denominator: int) -> Statistic:
    """Σ numerator / Σ denominator over the questions drawn (precision-style metrics)."""

    def statistic(rows: np.ndarray) -> float | None:
        total = float(rows[:, denominator].sum()) if len(rows) else 0.0
        return float(rows[:, numerator].sum()) / total if total else None

    return statistic


def bootstrap_ci(
    rows: np.ndarray, statistic: Statistic, *, samples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile interval of `statistic` over questions drawn with replacement."""
    if len(rows) < 2:
        return None
    generator = np.random.default_rng(seed)
    drawn = []
    for _ in range(samples):
        value = statistic(rows[generator.integers(0, len(rows), len(rows))])
        if value is not None:
            drawn.append(value)
    if not drawn:
        return None
    low, high = np.percentile(drawn, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def paired_bootstrap(
    old: np.ndarray, new: np.ndarray, statistic: Statistic, *, samples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """95% interval of statistic(new) - statistic(old), drawing the same questions for both runs."""
    if len(old) < 2 or len(old) != len(new):
        return None
    generator = np.random.default_rng(seed)
    diffs = []
    for _ in range(samples):
        picks = generator.integers(0, len(old), len(old))
        before, after = statistic(old[picks]), statistic(new[picks])
        if before is not None and after is not None:
            diffs.append(after - before)
    if not diffs:
        return None
    low, high = np.percentile(diffs, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)
