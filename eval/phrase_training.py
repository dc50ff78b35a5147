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
from typing import Any

import numpy as np

from eval.train import TrainingError, date_folds
from rag.phrase_model import FEATURES, PhraseModel

# Rows whose best chance is under this are not given a short answer, unless more than this share of
# the training questions so withheld had it right (then the threshold is lowered until they do not).
WITHHOLD_RIGHT_SHARE = 0.10
Chooser = Callable[[np.ndarray], int]


def judged(row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """One question's phrase rows and labels (empty when no phrase was judged)."""
    items = row.get("phrases") or []
    x = np.asarray([item[1] for item in items], dtype=float).reshape(len(items), len(FEATURES))
    return x, np.asarray([int(item[0]) for item in items], dtype=int)


def fit_phrase_model(rows: Sequence[dict[str, Any]], about: dict[str, Any]) -> PhraseModel:
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
    best.sort()
    threshold, right = 0.0, 0
    for count, (chance, label) in enumerate(best, start=1):
        right += label
        if right / count > WITHHOLD_RIGHT_SHARE:
            break
        threshold = chance + 1e-9
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
    over every question of those folds (one without judged phrases counts as wrong), per chooser."""
    assigned = date_folds(rows, folds)
    right: dict[str, int] = {}
    judged_questions = total = 0
    for fold in range(1, folds):
        earlier = [row for row, f in zip(rows, assigned, strict=True) if f < fold]
        model = fit_phrase_model(earlier, {"fold": fold})
        for row, f in zip(rows, assigned, strict=True):
            if f != fold:
                continue
            total += 1
            x, y = judged(row)
            if not len(y):
                continue
            judged_questions += 1
            for name, choose in choosers(model).items():
                right[name] = right.get(name, 0) + int(y[choose(x)])
            right["any candidate"] = right.get("any candidate", 0) + int(y.max())
    return {
        "questions": total,
        "with_phrases": judged_questions,
        "top_right": {name: round(count / total, 4) for name, count in right.items()} if total else {},
    }
