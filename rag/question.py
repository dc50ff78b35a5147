"""What a question asks for, read once from its words: one `QuestionFrame` per question.

The answerer (which sentences can answer), the short answer (which named entities can be the answer
phrase), the choices (through the answerer's scoring) and the conversation (what a follow-up's
pronoun refers to) all read the same frame, so "What proportion of…?" cannot ask for a number in
one place and a name in another. The rules are plain regular expressions over the question's words,
tried in order: a number ("how many", "what share"), then a date ("when", "which year"), then a name
("who", "where", "which provinces"); questions that ask why, how, or what happened ask for no phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from index.lexical import terms
from rag.when import read_time

AnswerKind = Literal["number", "date", "entity"]

PEOPLE = frozenset({"PERSON"})
ORGANISATIONS = frozenset({"ORG"})
PLACES = frozenset({"GPE", "LOC", "FAC"})
NUMBERS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})
DATES = frozenset({"DATE", "TIME"})
WORKS = frozenset({"WORK_OF_ART"})
# Every label that names something; the small model often mislabels a name ("SpaceX" a person), so a
# name of another label still counts, for less (rag.weights.AnsweringWeights.other_name_weight).
NAMES = PEOPLE | ORGANISATIONS | PLACES | WORKS | {"PRODUCT", "EVENT", "LAW", "NORP", "LANGUAGE"}


def _nouns(words: str) -> frozenset[str]:
    return frozenset(words.split())


# The noun after "which"/"what" says what kind of name answers: "which provinces" a place.
NOUN_KINDS: dict[frozenset[str], frozenset[str]] = {
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

_HOW_WORDS = r"many|much|old|long|far|big|tall|large|often"
_WHAT_WORDS = r"number|percentage|percent|share|proportion|amount|age|fraction"
_COUNTING = rf"how (?:{_HOW_WORDS})|what (?:{_WHAT_WORDS})"
_NUMBER = re.compile(rf"\b(?:{_COUNTING})\b", re.I)
_DURATION = re.compile(r"\bhow (?:old|long)\b", re.I)  # a number or a date answers ("since 2019")
_HOW_MANY = re.compile(r"\bhow (?:many|much)\b", re.I)
_DATE = re.compile(
    r"^\W*when\b|\bwhen (?:did|was|were|is|are|will|does|do|has|had)\b"
    r"|\b(?:what|which) (?:year|date|day|month)\b",
    re.I,
)
_WHERE = re.compile(r"\bwhere\b", re.I)
_WHO = re.compile(r"\bwho\b", re.I)
# A number or a date is asked for wherever the words stand ("Queen Elizabeth II … marking how many
# years on the throne?"); a name only by the opening words ("In which province…?", "Who chaired…?"),
# since a later "who" or "which" is often a relative clause ("…, who said what?").
_LEAD = r"^\s*(?:(?:in|on|at|from|of|for|to|by|with|during|under|after|before)\s+)?"
_NOT_NOUNS = (
    r"(?:is|was|are|were|did|does|do|has|have|had|will|can|could|would|should"
    r"|happened|happens|caused|made)\b"
)
_OPENS_DATE = re.compile(_LEAD + r"(?:when|(?:what|which) time)\b", re.I)  # "From when…?", "At what time…?"
_OPENS_ENTITY = re.compile(_LEAD + rf"(?:who|whom|whose|where|(?:which|what) (?!{_NOT_NOUNS})\w+)\b", re.I)
_WHICH_WORDS = re.compile(r"\b(?:which|what)((?:\s+[\w'’-]+){1,4})", re.I)  # "what well-known company"
_FOCUS = re.compile(r"\b(?:which|what)((?:\s+[\w'’-]+){1,3})", re.I)
_FOCUS_LEAD = re.compile(_LEAD + rf"(?:which|what|how many|how much) (?!{_NOT_NOUNS})(\w+)(?: (\w+))?", re.I)
# Questions a name cannot answer: why, how (but not how many), what happened, what did they do.
_NO_PHRASE = re.compile(
    rf"\bwhy\b|\bhow\b(?!\s+(?:{_HOW_WORDS})\b)"
    r"|\bwhat\s+(?:happened|happens|caused|prompted|led|made)\b|\bwhat\b.*\b(?:do|doing|done)\?",
    re.I,
)
_YEAR = re.compile(r"\b(?:1[89]\d\d|20\d\d)\b")
# What a which/what/who question asks about, as a noun phrase (for a follow-up's pronoun).
_ASKED_THING = re.compile(r"^\s*(?:which|what)\s+(.+?)\?*\s*$", re.I)
_ASKED_PERSON = re.compile(r"^\s*who\s+(?!was\b|is\b|were\b|are\b)(.+?)\?*\s*$", re.I)
_AUXILIARIES = frozenset(
    ["was", "were", "is", "are", "did", "does", "do", "has", "have", "had", "will", "would", "can", "could"]
)
_IRREGULAR_PAST = frozenset(
    [
        "won",
        "lost",
        "beat",
        "made",
        "took",
        "gave",
        "hit",
        "left",
        "became",
        "led",
        "ran",
        "struck",
        "shot",
        "said",
        "told",
        "began",
        "came",
        "went",
        "sold",
        "bought",
        "held",
        "met",
        "set",
        "found",
        "built",
        "broke",
        "chose",
        "drew",
        "fell",
        "fought",
        "flew",
        "got",
        "grew",
        "kept",
        "knew",
        "paid",
        "put",
        "rose",
        "saw",
        "sent",
        "sank",
        "spent",
        "stood",
        "swept",
        "threw",
        "wrote",
        "overtook",
        "withdrew",
    ]
)


@dataclass(frozen=True, slots=True)
class QuestionFrame:
    """What one question asks for. Frozen: computed once (`frame_question`) and shared by every
    stage that reads the question, so they cannot disagree about it."""

    question: str
    kind: AnswerKind | None
    """What a sentence must hold to answer: a number ("how many…", "what proportion…") or a date
    ("when did…", "which year…") wherever the question asks it, the same words the labels are read
    from; a name not in the question when its opening words ask ("Who…", "Which provinces…"). None:
    the wording does not say ("What did the minister say?"), so sentences are not filtered by type."""
    labels: frozenset[str]
    """The spaCy entity labels the short answer may carry (PLACES for "which provinces", NUMBERS
    for "how many", any name for a "which …" of no known kind); empty when no phrase answers."""
    several: bool
    """Whether it asks for a list ("Which provinces…?"): the short answer is then the longest run
    of names joined by commas or "and", not one name."""
    focus: str | None
    """The words after "which"/"what" ("provinces were struck"): the thing asked about, whose
    meaning weighs a short-answer candidate ("superstar athlete" and "Serena Williams")."""
    focus_terms: frozenset[str]
    """The stemmed noun that opens a which/what/how-many question ("which provinces" → provinc): a
    sentence naming it is about the thing asked."""
    counts_focus: bool
    """A "how many"/"how much" question: a sentence's number must count the focus ("26 cruise
    missiles"), not something else."""
    years: frozenset[str]
    """Years the question names: the evidence must name them too (in its text, title or date)."""
    period: str | None
    """A period the question names ("in September 2015", "this week"), as its words; retrieval reads
    it against the date the question is asked (rag.when)."""
    phrase: bool
    """Whether a short phrase can answer it at all: not "Why…", "How did…", "What happened…"."""
    subject: str | None
    """What it asks about as a noun phrase ("Which club won the title?" → "the club that won the
    title"), which a follow-up's pronoun ("Who manages it?") stands for."""


@lru_cache(maxsize=1024)
def frame_question(question: str) -> QuestionFrame:
    """The frame of `question`; cached, as the answerer, the short answer and the choices each ask
    for the same question's frame."""
    labels, several = _labels(question)
    focus = _FOCUS.search(question)
    return QuestionFrame(
        question=question,
        kind=_kind(question),
        labels=labels,
        several=several,
        focus=focus.group(1).strip() if focus else None,
        focus_terms=_focus_terms(question),
        counts_focus=bool(_HOW_MANY.search(question)),
        years=frozenset(_YEAR.findall(question)),
        period=read_time(question, None).phrase,
        phrase=bool(labels),
        subject=_subject(question),
    )


def _kind(question: str) -> AnswerKind | None:
    if _NUMBER.search(question):
        return "number"
    if _DATE.search(question) or _OPENS_DATE.search(question):
        return "date"
    if _OPENS_ENTITY.search(question):
        return "entity"
    return None


def _labels(question: str) -> tuple[frozenset[str], bool]:
    if _NUMBER.search(question):
        return NUMBERS | ({"DATE"} if _DURATION.search(question) else frozenset()), False
    if _DATE.search(question):
        return DATES, False
    if _WHERE.search(question):
        return PLACES, False
    for words in _WHICH_WORDS.findall(question):
        for noun in re.split(r"[\s-]+", words.lower()):
            for nouns, labels in NOUN_KINDS.items():
                if noun in nouns:
                    return labels, noun.endswith("s") and noun not in ("series", "news")
    if _WHO.search(question):
        return PEOPLE | ORGANISATIONS, False
    return (frozenset(), False) if _NO_PHRASE.search(question) else (NAMES, False)


def _focus_terms(question: str) -> frozenset[str]:
    match = _FOCUS_LEAD.search(question)
    if not match:
        return frozenset()
    return frozenset(terms(" ".join(word for word in match.groups() if word)))


def _subject(question: str) -> str | None:
    person = _ASKED_PERSON.match(question)
    if person:
        return f"the person who {person.group(1)}"
    thing = _ASKED_THING.match(question)
    if not thing:
        return None
    words = thing.group(1).split()
    if not words or words[0].lower() in _AUXILIARIES:
        return None  # "What was Typhoon Rai called?" asks about no noun of its own
    for i, word in enumerate(words[1:], start=1):
        lower = word.lower()
        if lower in _AUXILIARIES or lower in _IRREGULAR_PAST or lower.endswith("ed"):
            noun, rest = " ".join(words[:i]), words[i:]
            if lower in ("did", "does", "do"):
                rest = rest[1:]  # "which warplane did jets shoot down" → "that jets shoot down"
            return f"the {noun} that {' '.join(rest)}"
    return None
