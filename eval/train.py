"""Fitting the learned reader from features.jsonl lines, and the folds it is judged on.

Each kind (sentences, short-answer candidates, choices) gets one gradient-boosted tree ensemble
(scikit-learn), pointwise: the chance that the item holds an acceptable answer, from the design
features of rag.reader_model (the record, its hand score, and how it compares with the question's
best item). The fitted trees are copied into a `Trees` record and checked to give scikit-learn's
own scores before they are returned: the shipped JSON is the model, nothing is pickled.

Folds follow question dates: the questions sorted by date are cut into blocks; fold b is judged
by a model fitted on blocks before b only, so no later news leaks into a judged answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from index.errors import NewsdeskError
from rag.features import SentenceFeatures
from rag.reader_model import KINDS, RECORDS, ReaderModel, Refusal, Trees, design, design_names, refusal_row
from rag.scoring import Scorer
from rag.weights import HAND_WEIGHTS

ROW_KEYS = {"sentence": "sentences", "candidate": "candidates", "choice": "choices"}
TREES = 150
DEPTH = 3
RATE = 0.05


class TrainingError(NewsdeskError):
    """Too little to learn from: a kind with no right or no wrong item among the questions given."""


def _record(kind: str, vector: Sequence[float]) -> Any:
    """A feature record back from its vector (the header of features.jsonl names the order)."""
    cls = RECORDS[kind]
    cast: dict[str, Callable[[float], Any]] = {"bool": bool, "int": int, "float": float}
    return cls(*(cast[str(f.type)](v) for f, v in zip(fields(cls), vector, strict=True)))


def question_items(row: dict[str, Any], kind: str) -> tuple[list[Any], list[int]]:
    """One question's records of a kind and their labels."""
    items = row[ROW_KEYS[kind]]
    return [_record(kind, item[1]) for item in items], [int(item[0]) for item in items]


def case_records(case: dict[str, Any]) -> list[SentenceFeatures]:
    """The sentence records of a refusal case (eval/refusal_cases.py)."""
    return [_record("sentence", vector) for vector in case["sentences"]]


def matrix(rows: Sequence[dict[str, Any]], kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Design rows, labels and the question index of each row, over the questions given."""
    blocks, labels, owners = [], [], []
    for number, row in enumerate(rows):
        records, marks = question_items(row, kind)
        if records:
            blocks.append(design(kind, records, HAND_WEIGHTS))
            labels.extend(marks)
            owners.extend([number] * len(records))
    width = len(design_names(kind))
    stacked = np.vstack(blocks) if blocks else np.zeros((0, width))
    return stacked, np.asarray(labels, dtype=int), np.asarray(owners, dtype=int)


def fit(kind: str, rows: Sequence[dict[str, Any]], seed: int = 0) -> Trees:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y, _ = matrix(rows, kind)
    if len(set(y.tolist())) < 2:
        raise TrainingError(
            f"cannot learn {kind}s: the questions given hold {int(y.sum())} right of {len(y)}"
        )
    leaf = max(1, min(20, len(y) // 50))
    booster = GradientBoostingClassifier(
        n_estimators=TREES,
        max_depth=DEPTH,
        learning_rate=RATE,
        subsample=0.8,
        min_samples_leaf=leaf,
        random_state=seed,
    )
    booster.fit(x, y)
    nodes = []
    for estimator in booster.estimators_[:, 0]:
        tree = estimator.tree_
        nodes.append(
            (
                np.asarray(tree.feature, dtype=int),
                np.asarray(tree.threshold, dtype=float),
                np.asarray(tree.children_left, dtype=int),
                np.asarray(tree.children_right, dtype=int),
                np.asarray(tree.value[:, 0, 0], dtype=float),
            )
        )
    expected = booster.decision_function(x)
    names = design_names(kind)
    importance = {
        n: round(float(v), 4)
        for n, v in sorted(zip(names, booster.feature_importances_, strict=True), key=lambda p: -p[1])
    }
    unbased = Trees(names, 0.0, RATE, tuple(nodes), importance)
    base = float(np.median(expected - unbased.raw(x)))
    trees = Trees(names, base, RATE, tuple(nodes), importance)
    copied = Trees.from_json(trees.to_json())
    gap = float(np.max(np.abs(copied.raw(x) - expected))) if len(x) else 0.0
    if gap > 1e-3:
        raise TrainingError(f"the {kind} trees copied to JSON score {gap:.4f} away from scikit-learn's")
    return copied


def fit_refusal(cases: Sequence[dict[str, Any]], sentence: Trees, budget: float) -> Refusal:
    """Logistic regression of "the passages hold the answer" on each case's refusal features
    (eval/refusal_cases.py); the threshold declines at most `budget` of the answerable cases."""
    from sklearn.linear_model import LogisticRegression

    rows, labels = [], []
    for case in cases:
        records = case_records(case)
        chances = sentence.probability(design("sentence", records)).tolist() if records else []
        rows.append(refusal_row(records, chances))
        labels.append(int(case["answerable"]))
    if len(set(labels)) < 2:
        raise TrainingError(f"cannot learn refusals: {sum(labels)} answerable of {len(labels)} cases")
    x, y = np.vstack(rows), np.asarray(labels)
    fitted = LogisticRegression(max_iter=2000).fit(x, y)
    chances = np.sort(fitted.predict_proba(x)[y == 1, 1])
    # Just under the chance of the answerable case at the budget's rank: that case and those above it answer.
    threshold = float(chances[min(len(chances) - 1, int(budget * len(chances)))]) - 1e-9
    return Refusal(tuple(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]), threshold)


def train(
    rows: Sequence[dict[str, Any]], cases: Sequence[dict[str, Any]], budget: float, about: dict[str, Any]
) -> ReaderModel:
    """All three ensembles and the refusal model; candidates or choices the questions give nothing to
    learn from (a gold set without choices) keep the hand weights, and `about` says so."""
    ensembles = {"sentence": fit("sentence", rows)}
    hand: list[str] = []
    for kind in KINDS[1:]:
        try:
            ensembles[kind] = fit(kind, rows)
        except TrainingError:
            hand.append(kind)
    refusal = fit_refusal(cases, ensembles["sentence"], budget)
    return ReaderModel(ensembles, refusal, {**about, "hand_weighted": hand, "wrong_refusal_budget": budget})


def date_folds(rows: Sequence[dict[str, Any]], folds: int) -> list[int]:
    """Each question's fold, 0 the earliest: the questions sorted by date cut into `folds` blocks of
    about equal size, never splitting one day's questions. Undated questions come first, in file order."""

    def day(i: int) -> str:
        return str(rows[i].get("question_date") or "")[:10] or f"#{i:08d}"

    order = sorted(range(len(rows)), key=lambda i: (str(rows[i].get("question_date") or ""), i))
    assigned = [0] * len(rows)
    block, size = 0, len(rows) / folds
    for position, i in enumerate(order):
        starts_day = position > 0 and day(i) != day(order[position - 1])
        if position >= (block + 1) * size and starts_day and block < folds - 1:
            block += 1
        assigned[i] = block
    return assigned


def top_hits(scorer: Scorer, rows: Sequence[dict[str, Any]], kind: str) -> float:
    """The share of questions (with any item of the kind) whose best-scored item is right."""
    right = total = 0
    for row in rows:
        records, labels = question_items(row, kind)
        if not records:
            continue
        scores = getattr(scorer, f"{kind}_scores")(records)
        total += 1
        right += labels[int(np.argmax(scores))]
    return right / total if total else 0.0
