"""The learned reader's model: boosted trees over the feature records, kept as readable JSON.

`newsdesk train-reader` (eval/train.py) fits one tree ensemble per thing read — sentences,
short-answer candidates, choices — each predicting the chance that the item holds an acceptable
answer. The file names its format version, the feature record version and, per ensemble, the
design features in order; a file that disagrees with this code is refused with both lists, never
guessed at. Trees are plain lists: an inner node is [feature, threshold, left, right] (x ≤
threshold goes left), a leaf is [value]; the score is base + rate · Σ leaves.

Design features are the record's fields, its hand-weighted score, and how each main quantity
compares with the best item of the same question ("_below_best"), since an answer is chosen
among rivals.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import NewsdeskError
from rag.features import (
    FORMAT_VERSION,
    CandidateFeatures,
    ChoiceFeatures,
    SentenceFeatures,
    hand_choice_scores,
    hand_score,
    hand_support,
)
from rag.weights import HAND_WEIGHTS, AnsweringWeights

MODEL_FORMAT = "newsdesk-reader"
MODEL_VERSION = 2  # 2: a logistic refusal model instead of a threshold on the best sentence
SHIPPED_MODEL = Path(__file__).with_name("reader_model.json")
Record = SentenceFeatures | CandidateFeatures | ChoiceFeatures

# Quantities compared with the question's best item, per kind (besides the hand score).
_RELATIVE = {
    "sentence": ("cosine", "coverage"),
    "candidate": ("mention_support", "agreement", "nearby", "focus_cosine"),
    "choice": ("best_support", "passage_mentions", "article_mentions", "best_cosine"),
}
RECORDS: dict[str, type[Any]] = {
    "sentence": SentenceFeatures,
    "candidate": CandidateFeatures,
    "choice": ChoiceFeatures,
}
KINDS = tuple(RECORDS)


class ReaderModelError(NewsdeskError):
    """A reader model file that cannot be used: unreadable, another format, or other features."""


def design_names(kind: str) -> tuple[str, ...]:
    record: Any = RECORDS[kind]
    relative = tuple(f"{name}_below_best" for name in _RELATIVE[kind])
    return (*record.FEATURES, "hand", "hand_below_best", "hand_rank", *relative, "items")


def _hand(kind: str, records: Sequence[Any], w: AnsweringWeights) -> np.ndarray:
    if kind == "sentence":
        values = [hand_support(r, w.semantic_weight, w.focus_bonus, w.other_count_penalty) for r in records]
    elif kind == "candidate":
        values = [hand_score(r, w.agreement_weight, w.other_name_weight, w.meaning_weight) for r in records]
    else:
        values = hand_choice_scores(records, w.passage_weight, w.support_bonus)
    return np.asarray(values, dtype=float)


def design(kind: str, records: Sequence[Any], weights: AnsweringWeights = HAND_WEIGHTS) -> np.ndarray:
    """One row per record (the items of one question), columns in `design_names(kind)` order."""
    names = RECORDS[kind].FEATURES
    if not records:
        return np.zeros((0, len(design_names(kind))))
    base = np.asarray([r.as_vector() for r in records], dtype=float)
    hand = _hand(kind, records, weights)
    order = np.argsort(-hand, kind="stable")
    rank = np.empty(len(hand))
    rank[order] = np.arange(len(hand))
    relative = [base[:, names.index(n)] - base[:, names.index(n)].max() for n in _RELATIVE[kind]]
    count = np.full(len(hand), float(len(hand)))
    return np.column_stack([base, hand, hand - hand.max(), rank, *relative, count])


@dataclass(frozen=True, slots=True)
class Trees:
    """One boosted tree ensemble, as arrays for vectorized walking."""

    features: tuple[str, ...]
    base: float
    rate: float
    nodes: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    importance: dict[str, float]

    def raw(self, rows: np.ndarray) -> np.ndarray:
        # The trees were fitted on float32 inputs (scikit-learn casts): compare the same values.
        rows = rows.astype(np.float32).astype(float)
        total = np.full(len(rows), self.base)
        every = np.arange(len(rows))
        for feature, threshold, left, right, value in self.nodes:
            at = np.zeros(len(rows), dtype=int)
            while True:
                inner = feature[at] >= 0
                if not inner.any():
                    break
                goes_left = rows[every, np.maximum(feature[at], 0)] <= threshold[at]
                at = np.where(inner, np.where(goes_left, left[at], right[at]), at)
            total += self.rate * value[at]
        return total

    def probability(self, rows: np.ndarray) -> np.ndarray:
        chance: np.ndarray = 1.0 / (1.0 + np.exp(-self.raw(rows)))
        return chance

    def to_json(self) -> dict[str, Any]:
        trees = []
        for feature, threshold, left, right, value in self.nodes:
            trees.append(
                [
                    [int(f), float(t), int(lo), int(hi)] if f >= 0 else [round(float(v), 6)]
                    for f, t, lo, hi, v in zip(feature, threshold, left, right, value, strict=True)
                ]
            )
        return {
            "features": list(self.features),
            "base": self.base,
            "rate": self.rate,
            "importance": self.importance,
            "trees": trees,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trees:
        nodes = []
        for tree in data["trees"]:
            inner = [node if len(node) == 4 else [-1, 0.0, -1, -1] for node in tree]
            nodes.append(
                (
                    np.asarray([n[0] for n in inner], dtype=int),
                    np.asarray([n[1] for n in inner], dtype=float),
                    np.asarray([n[2] for n in inner], dtype=int),
                    np.asarray([n[3] for n in inner], dtype=int),
                    np.asarray([node[0] if len(node) == 1 else 0.0 for node in tree], dtype=float),
                )
            )
        return cls(
            tuple(data["features"]),
            float(data["base"]),
            float(data["rate"]),
            tuple(nodes),
            data["importance"],
        )


REFUSAL_FEATURES = (
    "best_chance",  # the sentence model's chance for the best sentence
    "second_chance",
    "best_support",  # the hand support of the best-supported sentence
    "second_support",
    "best_cosine",
    "best_coverage",
    "log_sentences",  # log(1 + sentences that could answer)
)


def refusal_row(records: Sequence[SentenceFeatures], chances: Sequence[float]) -> np.ndarray:
    """A question's refusal features, from the sentences that could answer it and their chances."""
    if not records:
        return np.zeros(len(REFUSAL_FEATURES))
    top = [*sorted(chances, reverse=True), 0.0]
    hand = [*sorted(_hand("sentence", records, HAND_WEIGHTS), reverse=True), 0.0]
    return np.asarray(
        [
            top[0],
            top[1],
            hand[0],
            hand[1],
            max(r.cosine for r in records),
            max(r.coverage for r in records),
            float(np.log1p(len(records))),
        ]
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A logistic model of whether the passages read hold the answer, and the chance under which
    the answerer declines (chosen by newsdesk train-reader on date-filtered unanswerable questions)."""

    weights: tuple[float, ...]  # one per feature
    intercept: float
    threshold: float
    features: tuple[str, ...] = REFUSAL_FEATURES  # what each weight weighs, in order

    def chance(self, row: np.ndarray) -> float:
        return float(1.0 / (1.0 + np.exp(-(self.intercept + float(np.dot(self.weights, row))))))

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "weights": dict(zip(self.features, self.weights, strict=True)),
            "intercept": self.intercept,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> Refusal:
        if tuple(data.get("features", ())) != REFUSAL_FEATURES:
            raise ReaderModelError(
                f"{source}: the refusal model was trained on features {data.get('features')}, but this"
                f" version computes {list(REFUSAL_FEATURES)}: retrain with newsdesk train-reader"
            )
        weights = tuple(float(data["weights"][name]) for name in REFUSAL_FEATURES)
        return cls(weights, float(data["intercept"]), float(data["threshold"]))


@dataclass(frozen=True, slots=True)
class ReaderModel:
    ensembles: dict[str, Trees]  # one per kind learned; a kind without one keeps the hand weights
    refusal: Refusal
    about: dict[str, Any]  # how it was trained: gold file, questions, dates, fold figures

    def probability(
        self, kind: str, records: Sequence[Any], weights: AnsweringWeights = HAND_WEIGHTS
    ) -> np.ndarray:
        if not records:
            return np.zeros(0)
        return self.ensembles[kind].probability(design(kind, records, weights))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "feature_records_version": FORMAT_VERSION,
            "refusal": self.refusal.to_json(),
            "about": self.about,
            "ensembles": {kind: trees.to_json() for kind, trees in self.ensembles.items()},
        }

    def save(self, path: Path) -> None:
        """Indented JSON, one tree a line; written whole to a temporary name, then renamed."""
        data = self.to_json()
        trees = {}
        for kind, ensemble in data["ensembles"].items():
            trees[kind] = ensemble["trees"]
            ensemble["trees"] = f"@trees:{kind}@"
        text = json.dumps(data, ensure_ascii=False, indent=1)
        for kind, listed in trees.items():
            lines = ",\n".join(json.dumps(tree, separators=(",", ":")) for tree in listed)
            text = text.replace(f'"@trees:{kind}@"', f"[\n{lines}\n]")
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text + "\n", encoding="utf-8")
        partial.replace(path)


def model_from_json(data: Any, source: str) -> ReaderModel:
    """The model in `data`, checked against this code's feature lists (`source` names it in errors)."""
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ReaderModelError(f'{source}: not a Newsdesk reader model (no "format": "{MODEL_FORMAT}")')
    if data.get("version") != MODEL_VERSION or data.get("feature_records_version") != FORMAT_VERSION:
        raise ReaderModelError(
            f"{source}: model format {data.get('version')!r} on feature records"
            f" {data.get('feature_records_version')!r}; this version reads format {MODEL_VERSION} on records"
            f" {FORMAT_VERSION}: retrain with newsdesk train-reader"
        )
    ensembles = {}
    for kind in KINDS:
        found = data.get("ensembles", {}).get(kind)
        if found is None:
            if kind == "sentence":  # refusals are read from it
                raise ReaderModelError(f"{source}: no sentence model")
            continue  # nothing of this kind was in the training questions: the hand weights score it
        if tuple(found.get("features", ())) != design_names(kind):
            raise ReaderModelError(
                f"{source}: the {kind} model was trained on features {found.get('features')},"
                f" but this version computes {list(design_names(kind))}: retrain with newsdesk train-reader"
            )
        ensembles[kind] = Trees.from_json(found)
    if "refusal" not in data:
        raise ReaderModelError(f"{source}: no refusal model")
    refusal = Refusal.from_json(data["refusal"], source)
    return ReaderModel(ensembles, refusal, dict(data.get("about", {})))


def load_model(path: Path) -> ReaderModel:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReaderModelError(f"{path}: cannot read the reader model: {error}") from error
    try:
        return model_from_json(data, str(path))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ReaderModelError(f"{path}: a damaged reader model: {error!r}") from error
