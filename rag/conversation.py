"""Follow-up questions rewritten into standalone ones, by rules, from the conversation.

"Who directed it?" after "Which film won the Oscar for best picture in February 2020?" cannot be
retrieved on its own words. When a question leans on what came before (a pronoun, or too few words
of its own), the pronoun is replaced by what it refers to:

- the short answer of the previous reply when there is one ("Parasite": "Who directed Parasite?");
- else the thing the previous question asked about ("the film that won the Oscar for best picture
  in February 2020"), read from its "which …", "what …" or "who …";
- else the longest run of capitalized words of the previous question ("Typhoon Rai").

"their manager" becomes "the manager of …". When no pronoun can be replaced ("And in 2019?"), the
question carries the latest exchange along in parentheses instead. The result is the retrieval
query and is returned as `standalone_question`; the answer is still scored against the user's own
question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from index.lexical import terms
from rag.question import frame_question
from rag.records import Answer

_REFERRING = re.compile(
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|him|his|she|her|there|then|the same)\b", re.I
)
_MARKERS = re.compile(r"\s*\[\d+\]")
_POSSESSIVE = re.compile(r"\b(its|his|their|her)\s+(?!own\b)([\w'’-]+)", re.I)
_PERSONAL = re.compile(r"\b(it|he|she|they|him|her|them)\b(?!\s*')", re.I)
_CAPITALIZED_RUN = re.compile(r"(?<!^)(?<![.?!]\s)\b(?:[A-Z][\w'’-]*(?:\s+(?:of\s+)?[A-Z][\w'’-]*)*)")
MAX_SHORT_ANSWER_WORDS = 8


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str
    # The structured reply, when the door that asked kept it (the web UI and `newsdesk chat` do; an
    # OpenAI-style client sends text only). Not part of equality: the text stands for it in cache keys.
    answer: Answer | None = field(default=None, compare=False)


def needs_context(question: str) -> bool:
    return bool(_REFERRING.search(question)) or len(terms(question)) < 2


def standalone_question(question: str, history: Sequence[Turn]) -> str | None:
    """`question` with the pronoun that leans on the earlier turns (oldest first) replaced by what
    it refers to; None when it needs no context or no rule applies."""
    if not history or not needs_context(question):
        return None
    return _standalone(question, *_latest_exchange(history))


def rewrite(question: str, history: Sequence[Turn]) -> str:
    """The retrieval query for `question`: its standalone form, else the question with the latest
    exchange in parentheses, else the question itself."""
    if not history or not needs_context(question):
        return question
    asked, replied = _latest_exchange(history)
    standalone = _standalone(question, asked, replied)
    if standalone is not None:
        return standalone
    context = [text for text in (asked, _MARKERS.sub("", replied).strip()) if text]
    return f"{question} ({' '.join(context)})" if context else question


def _standalone(question: str, asked: str, replied: str) -> str | None:
    referent = _short_answer(replied) or frame_question(asked).subject or _longest_name(asked)
    standalone = _replace_pronoun(question, referent) if referent else question
    return None if standalone == question else standalone


def _latest_exchange(history: Sequence[Turn]) -> tuple[str, str]:
    """The last user question and the reply to it ("" when there is none); older turns drift."""
    replied = ""
    for turn in reversed(history):
        if turn.role == "assistant" and not replied:
            replied = turn.content.strip()
        elif turn.role == "user":
            return turn.content.strip(), replied
    return "", replied


def _short_answer(reply: str) -> str | None:
    """The reply's first line when it is an answer phrase (the UI and CLI put it there)."""
    first, _, rest = reply.partition("\n\n")
    first = first.strip()
    if rest and first and not _MARKERS.search(first) and len(first.split()) <= MAX_SHORT_ANSWER_WORDS:
        return first.strip("*")
    return None


def _longest_name(question: str) -> str | None:
    runs = [run for run in _CAPITALIZED_RUN.findall(question) if run.lower() not in ("i", "which", "what")]
    return max(runs, key=lambda run: len(run.split()), default=None)


def _replace_pronoun(question: str, referent: str) -> str:
    """`question` with its first pronoun standing for `referent`."""
    possessive = _POSSESSIVE.search(question)
    personal = _PERSONAL.search(question)
    if possessive and (personal is None or possessive.start() <= personal.start()):
        phrase = f"the {possessive.group(2)} of {referent}"
        return question[: possessive.start()] + phrase + question[possessive.end() :]
    if personal:
        return question[: personal.start()] + referent + question[personal.end() :]
    return question
