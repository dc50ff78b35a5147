"""Fitting the model reader's phrase model (rag.phrase_model) and judging it on later date folds.

The rows are features.jsonl lines written by `newsdesk eval` with a judging model
(NEWSDESK_LLM_GGUF set, NEWSDESK_LLM_READING=judge): each judged candidate with its label and its
rag.phrase_model row. The model is one logistic regression, pointwise (the chance a candidate is an
acceptable answer); a question's answer is its best candidate. Folds follow question dates, as the
learned reader's do (eval.train.date_folds): fold b is judged by a model fitted on folds before b only.

`judge_folds` compares, on the same questions, the learned reader's best candidate (what the
extractive reader answers), the candidate the local model finds most likely, and the combined choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from eval.train import TrainingError, date_folds
from rag.features import SentenceFeatures
from rag.phrase_model import FEATURES, REFUSAL_FEATURES, PhraseModel, PhraseRefusal, refusal_row

# Rows whose best chance is under this are not given a short answer, unless more than this share of
# the training questions so withheld had it right (then the threshold is lowered until they do not).
WITHHOLD_RIGHT_SHARE = 0.10
# The refusal declines the least likely answers until it would lose this share of the right ones.
RIGHT_LOST = 0.05
Chooser = Callable[[np.ndarray], int]


def judged(row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """One question's phrase rows and labels (empty when no phrase was judged)."""
    items = row.get("phrases") or []
    x = np.asarray([item[1] for item in items], dtype=float).reshape(len(items), len(FEATURES))
    return x, np.asarray([int(item[0]) for item in items], dtype=int)


def fit_phrase_model(rows: Sequence[dict[str, Any]], about: dict[str, Any]) -> PhraseModel:
    """The phrase model on the answerable questions of `rows`; with its refusal when `rows` also hold
    unanswerable ones with judged phrases (`newsdesk eval --unanswerable-days`)."""
    model = fit_phrases([row for row in rows if row.get("answerable", True)], about)
    if not any(not row.get("answerable", True) and row.get("phrases") for row in rows):
        return model
    x, right, answerable = refusal_data(model, rows)
    refusal = fit_refusal(x, right)
    about = {**model.about, "refusal": describe_refusal(refusal, x, right, answerable)}
    return replace(model, refusal=refusal, about=about)


def fit_phrases(rows: Sequence[dict[str, Any]], about: dict[str, Any]) -> PhraseModel:
    from sklearn.linear_model import LogisticRegression

    blocks = [judged(row) for row in rows]
    kept = [(x, y) for x, y in blocks if len(y)]
    if not kept:
        raise TrainingError("no question has judged phrases: run newsdesk eval with a judging model first")
    x, y = np.vstack([b[0] for b in kept]), np.concatenate([b[1] for b in kept])
    if len(set(y.tolist())) < 2:
        raise TrainingError(f"cannot learn phrases: {int(y.sum())} right of {len(y)}")
    fitted = LogisticRegression(max_iter=5000, C=1.0).fit(x, y)
    model = PhraseModel(tuple(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]), 0.0)
    threshold = withholding_threshold(model, kept)
    return PhraseModel(model.weights, model.intercept, threshold, {**about, "questions": len(kept)})


def withholding_threshold(model: PhraseModel, questions: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """The highest best-candidate chance under which no more than WITHHOLD_RIGHT_SHARE of the
    questions withheld would have had their short answer right (0: withhold none)."""
    best = []
    for x, y in questions:
        chances = model.chances(x)
        top = int(np.argmax(chances))
        best.append((float(chances[top]), int(y[top])))
    return highest_cut(best, lambda right, count: right / count <= WITHHOLD_RIGHT_SHARE)


def highest_cut(pairs: Sequence[tuple[float, int]], acceptable: Callable[[int, int], bool]) -> float:
    """Over (chance, right) pairs: the highest threshold whose pairs under it, and every smaller such
    set, are `acceptable(right ones, how many)`; pairs of one chance fall on the same side (0: none is
    acceptable)."""
    ordered = sorted(pairs)
    threshold, right = 0.0, 0
    for count, (chance, label) in enumerate(ordered, start=1):
        right += label
        following = ordered[count][0] if count < len(ordered) else None
        if following == chance:
            continue
        if not acceptable(right, count):
            break
        threshold = chance + 1e-9  # just above the last pair let under it
    return threshold


def choosers(model: PhraseModel) -> dict[str, Chooser]:
    column = FEATURES.index
    return {
        "learned reader": lambda x: int(np.argmin(x[:, column("learned_rank")])),
        "local model": lambda x: int(np.argmin(x[:, column("model_rank")])),
        "combined": lambda x: int(np.argmax(model.chances(x))),
    }


def judge_folds(rows: Sequence[dict[str, Any]], folds: int) -> dict[str, Any]:
    """Top-candidate accuracy on folds 2..n (each judged by a model fitted on the folds before it),
    over every answerable question of those folds (one without judged phrases counts as wrong), per
    chooser; and, when the rows hold unanswerable questions, what the refusal so fitted declines."""
    assigned = date_folds(rows, folds)
    right: dict[str, int] = {}
    judged_questions = total = 0
    declined: dict[str, list[int]] = {"answerable": [], "unanswerable": [], "right": []}
    for fold in range(1, folds):
        earlier = [row for row, f in zip(rows, assigned, strict=True) if f < fold]
        model = fit_phrase_model(earlier, {"fold": fold})
        later = [row for row, f in zip(rows, assigned, strict=True) if f == fold]
        for row in later:
            if not row.get("answerable", True):
                continue
            total += 1
            x, y = judged(row)
            if not len(y):
                continue
            judged_questions += 1
            for name, choose in choosers(model).items():
                right[name] = right.get(name, 0) + int(y[choose(x)])
            right["any candidate"] = right.get("any candidate", 0) + int(y.max())
        if model.refusal is not None:
            x, right_answers, answerable = refusal_data(model, later)
            says_no = declined_by(model.refusal, x).astype(int)
            for says, is_right, is_answerable in zip(says_no, right_answers, answerable, strict=True):
                declined["answerable" if is_answerable else "unanswerable"].append(says)
                declined["right"].extend([says] if is_right else [])
    result: dict[str, Any] = {
        "questions": total,
        "with_phrases": judged_questions,
        "top_right": {name: round(count / total, 4) for name, count in right.items()} if total else {},
    }
    if declined["unanswerable"]:
        result["declined"] = {
            name: round(float(np.mean(says)), 4) if says else None for name, says in declined.items()
        }
    return result


def refusal_data(
    model: PhraseModel, rows: Sequence[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each question with judged phrases: its refusal row (rag.phrase_model.refusal_row), whether
    the short answer the model would choose is right (never, for an unanswerable one), and whether it
    is answerable."""
    cosine, coverage = SentenceFeatures.FEATURES.index("cosine"), SentenceFeatures.FEATURES.index("coverage")
    x, right, answerable = [], [], []
    for row in rows:
        phrases, labels = judged(row)
        if not len(labels):
            continue
        chances = model.chances(phrases)
        sentences = [vector for _, vector in row.get("sentences") or []]
        x.append(
            refusal_row(phrases, chances, [v[cosine] for v in sentences], [v[coverage] for v in sentences])
        )
        is_answerable = bool(row.get("answerable", True))
        right.append(int(is_answerable and labels[int(np.argmax(chances))]))
        answerable.append(int(is_answerable))
    width = len(REFUSAL_FEATURES)
    return (
        np.asarray(x).reshape(len(x), width),
        np.asarray(right, dtype=int),
        np.asarray(answerable, dtype=int),
    )


def fit_refusal(x: np.ndarray, right: np.ndarray) -> PhraseRefusal:
    """Logistic regression of "the short answer is right" on the refusal rows (`refusal_data`); the
    threshold is the highest under which the answers declined would lose at most RIGHT_LOST of the
    answerable questions' right short answers."""
    from sklearn.linear_model import LogisticRegression

    if len(set(right.tolist())) < 2:
        raise TrainingError(f"cannot learn refusals: {int(right.sum())} right of {len(right)} questions")
    fitted = LogisticRegression(max_iter=5000, C=1.0).fit(x, right)
    refusal = PhraseRefusal(tuple(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]), 0.0)
    chances = np.asarray([refusal.chance(r) for r in x])
    return replace(refusal, threshold=declining_threshold(chances, right))


def declining_threshold(chances: np.ndarray, right: np.ndarray) -> float:
    """The highest chance under which declining loses at most RIGHT_LOST of the right answers
    (0: decline none)."""
    allowed = RIGHT_LOST * max(int(right.sum()), 1)
    pairs = list(zip(chances.tolist(), right.tolist(), strict=True))
    return highest_cut(pairs, lambda lost, _: lost <= allowed)


def declined_by(refusal: PhraseRefusal, x: np.ndarray) -> np.ndarray:
    """For each refusal row, whether the refusal declines that answer."""
    return np.asarray([refusal.chance(row) < refusal.threshold for row in x], dtype=bool)


def describe_refusal(
    refusal: PhraseRefusal, x: np.ndarray, right: np.ndarray, answerable: np.ndarray
) -> dict[str, Any]:
    """How the refusal does on the questions it was fitted on (in-sample), from `refusal_data`."""
    declined = declined_by(refusal, x)
    unanswerable = answerable == 0
    return {
        "questions": len(x),
        "unanswerable": int(unanswerable.sum()),
        "declined_unanswerable": round(float(declined[unanswerable].mean()), 4)
        if unanswerable.any()
        else None,
        "declined_answerable": round(float(declined[~unanswerable].mean()), 4)
        if (~unanswerable).any()
        else None,
        "right_lost": int((declined & (right == 1)).sum()),
    }
