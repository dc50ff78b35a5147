"""The model reader's choice among answer phrases: the learned reader's score and the local model's
likelihood of each candidate, combined by one logistic model kept as readable JSON.

For each short-answer candidate of a question (the extractive reader's, best first), `phrase_rows`
gives the features in `FEATURES` order: how the learned reader scores it (rag.reader_model) and how
the local model does (rag.likelihood), each also against the question's best, and whether the model
writes the phrase itself. `PhraseModel.chances` is the chance each candidate is an acceptable answer;
the best is the short answer when its chance reaches `threshold`, else the short answer is withheld
and the sentences stand alone. `newsdesk train-phrase-model` fits it on earlier questions
(eval/phrase_training.py) and writes this file; a file naming other features is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import NewsdeskError
from rag.answer import padded_words
from rag.likelihood import PhraseReading
from rag.reader_model import Refusal

FORMAT = "newsdesk-phrase-model"
VERSION = 1
SHIPPED_PHRASE_MODEL = Path(__file__).with_name("phrase_model.json")
MAX_PHRASES = 8  # candidates the model judges, the learned reader's best first (10 judged 0.5 points better
# on held-back dev questions, for 0.27 s more a question)
FLOOR = -40.0  # log-probabilities below this are all "never": clipped so one token cannot dominate
FEATURES = (
    "candidate",  # 1 for a candidate of the extractive reader, 0 for a phrase only the model wrote
    "learned",  # the learned reader's log-odds that the candidate is right (its lowest for the model's own)
    "learned_below_best",
    "learned_rank",  # 0 for the learned reader's best
    "model",  # the model's log-probability of the phrase and its turn ending
    "model_below_best",
    "model_per_token",
    "model_rank",  # 0 for the model's most likely
    "own",  # the model writes this phrase itself (words equal)
    "own_overlap",  # share of the phrase's words in the model's own phrase
    "model_confirms",  # the question's: how sure the model is that the text states its likeliest phrase
)


REFUSAL_FEATURES = (
    "best_chance",  # the log-odds of the best phrase's chance (PhraseModel.chances)
    "learned_best",  # the learned reader's log-odds of its best candidate
    "model_best",  # the model's log-probability of the phrase it finds likeliest
    "model_best_per_token",
    "own_quoted",  # 1 when the phrase the model writes is among those judged (a sentence shown quotes it)
    "model_confirms",  # log P(yes) - log P(no): the text states the model's likeliest phrase (rag.likelihood)
    "cosine",  # the best question-sentence cosine of the sentences that could answer
    "coverage",  # the best share of the question's terms in one of them
    "sentences",  # log(1 + how many sentences could answer)
)


class PhraseModelError(NewsdeskError):
    """A phrase model file that cannot be used: unreadable, another format, or other features."""


def _log_odds(chance: float) -> float:
    clipped = min(max(chance, 1e-6), 1 - 1e-6)
    return float(np.log(clipped / (1 - clipped)))


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def phrase_rows(
    candidates: Sequence[str], learned: Sequence[float], reading: PhraseReading, *, own_added: bool = False
) -> np.ndarray:
    """One row per candidate, columns in FEATURES order; `learned` are the learned reader's chances.
    With `own_added`, one more row, last, for the phrase the model wrote itself (`reading.own`)."""
    scores = [*reading.scores, *([reading.own_score] if own_added and reading.own_score else [])]
    phrases = [*candidates, *([reading.own] if len(scores) > len(candidates) else [])]
    if not phrases:
        return np.zeros((0, len(FEATURES)))
    odds = [_log_odds(c) for c in learned]
    odds += [min(odds, default=_log_odds(0.0))] * (len(phrases) - len(candidates))
    learned_odds = np.asarray(odds)
    model = np.asarray([max(s.total, FLOOR) for s in scores])
    per_token = np.asarray([max(s.per_token, FLOOR) for s in scores])
    own_words = set(padded_words(reading.own).split())
    own = [float(bool(own_words) and padded_words(p) == padded_words(reading.own)) for p in phrases]
    overlap = [
        len(set(words) & own_words) / len(words) if (words := padded_words(p).split()) else 0.0
        for p in phrases
    ]
    candidate = [1.0] * len(candidates) + [0.0] * (len(phrases) - len(candidates))
    return np.column_stack(
        [
            candidate,
            learned_odds,
            learned_odds - learned_odds.max(),
            _ranks(learned_odds),
            model,
            model - model.max(),
            per_token,
            _ranks(model),
            own,
            overlap,
            np.full(len(phrases), reading.confirms),
        ]
    )


def refusal_row(
    rows: np.ndarray, chances: np.ndarray, cosines: Sequence[float], coverages: Sequence[float]
) -> np.ndarray:
    """A question's refusal features (REFUSAL_FEATURES) from its phrase rows (`phrase_rows`), their
    chances and the cosine and coverage of each sentence that could answer."""
    column = FEATURES.index
    likeliest = int(np.argmax(rows[:, column("model")]))
    return np.asarray(
        [
            _log_odds(float(chances.max())),
            float(rows[:, column("learned")].max()),
            float(rows[likeliest, column("model")]),
            float(rows[likeliest, column("model_per_token")]),
            float(rows[:, column("own")].max()),
            float(rows[0, column("model_confirms")]),
            max(cosines, default=0.0),
            max(coverages, default=0.0),
            float(np.log1p(len(cosines))),
        ]
    )


@dataclass(frozen=True, slots=True)
class PhraseRefusal(Refusal):
    """A logistic model of the chance that the answer's short answer is right, over REFUSAL_FEATURES,
    fitted on answerable questions and on unanswerable ones (asked of the archive before their answer
    existed); under `threshold` the answer declines."""

    features: tuple[str, ...] = REFUSAL_FEATURES


@dataclass(frozen=True, slots=True)
class PhraseModel:
    weights: tuple[float, ...]  # one per FEATURES
    intercept: float
    threshold: float  # the best candidate's chance under which no short answer is given
    about: dict[str, Any] = field(default_factory=dict)
    refusal: PhraseRefusal | None = None  # None: only the extractive reader declines

    def chances(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        chance: np.ndarray = 1.0 / (1.0 + np.exp(-(self.intercept + rows @ np.asarray(self.weights))))
        return chance

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "features": list(FEATURES),
            "weights": dict(zip(FEATURES, self.weights, strict=True)),
            "intercept": self.intercept,
            "threshold": self.threshold,
            **({"refusal": self.refusal.to_json()} if self.refusal else {}),
            "about": self.about,
        }

    def save(self, path: Path) -> None:
        from index.atomic import atomic_write

        atomic_write(path, json.dumps(self.to_json(), indent=1) + "\n")


def load_phrase_model(path: Path = SHIPPED_PHRASE_MODEL) -> PhraseModel:
    """The model in `path`, checked against this code's format, version and features."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PhraseModelError(f"{path}: cannot read the phrase model: {error}") from error
    if not isinstance(data, dict) or (data.get("format"), data.get("version")) != (FORMAT, VERSION):
        found = (data.get("format"), data.get("version")) if isinstance(data, dict) else type(data).__name__
        raise PhraseModelError(f"{path}: not a {FORMAT} file of version {VERSION} (found {found})")
    if tuple(data.get("features", ())) != FEATURES:
        raise PhraseModelError(
            f"{path}: fitted on features {data.get('features')}, but this version computes {list(FEATURES)}:"
            " refit it with newsdesk train-phrase-model"
        )
    refusal = data.get("refusal")
    if refusal is not None and not isinstance(refusal, dict):
        raise PhraseModelError(f"{path}: a damaged phrase model: its refusal is a {type(refusal).__name__}")
    if refusal is not None and tuple(refusal.get("features", ())) != REFUSAL_FEATURES:
        raise PhraseModelError(
            f"{path}: its refusal was fitted on features {refusal.get('features')}, but this version computes"
            f" {list(REFUSAL_FEATURES)}: refit it with newsdesk train-phrase-model"
        )
    try:
        weights = tuple(float(data["weights"][name]) for name in FEATURES)
        return PhraseModel(
            weights,
            float(data["intercept"]),
            float(data["threshold"]),
            dict(data.get("about", {})),
            _refusal(refusal) if refusal is not None else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PhraseModelError(f"{path}: a damaged phrase model: {error!r}") from error


def _refusal(data: dict[str, Any]) -> PhraseRefusal:
    weights = tuple(float(data["weights"][name]) for name in REFUSAL_FEATURES)
    return PhraseRefusal(weights, float(data["intercept"]), float(data["threshold"]))
