"""Follow-up questions rewritten into standalone ones, by rules, from the conversation.

"Who directed it?" after "Which film won the Oscar for best picture in February 2020?" cannot be
retrieved on its own words. When a question leans on what came before (a pronoun, or too few words
of its own), the pronoun is replaced by what it refers to:

- the short answer of the previous reply when there is one ("Parasite": "Who directed Parasite?"),
  unless it lists several names and the pronoun is a singular "it": after "Which provinces were
  struck?" answered "Hama, Homs and Latakia", "Who approved it?" asks about the strikes, the event
  the previous question's verb names ("Who approved the strikes?"), or about the thing that verb
  acted on ("Which countries signed the accord?" … "When does it take effect?");
- else the thing the previous question asked about ("the film that won the Oscar for best picture
  in February 2020"), read from its "which …", "what …" or "who …";
- else the longest run of capitalized words of the previous question ("Typhoon Rai").

"their manager" becomes "the manager of …". When no pronoun can be replaced ("And in 2019?"), the
question carries the latest exchange along in parentheses instead. The result is the retrieval
query and is returned as `standalone_question`; the answer is still scored against the user's own
question.

The previous reply is read from its `Answer` when the turn carries it (the web UI, `newsdesk chat`):
its short answer and its question's frame. A door that sends text only (an OpenAI-style client) has
its short answer read back from the reply's first line, where the UI and the CLI put it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from index.lexical import terms
from rag.question import QuestionFrame, frame_question
from rag.records import MARKER, Answer

_REFERRING = re.compile(
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|him|his|she|her|there|then|the same)\b", re.I
)
_POSSESSIVE = re.compile(r"\b(its|his|their|her)\s+(?!own\b)([\w'’-]+)", re.I)
_PERSONAL = re.compile(r"\b(it|he|she|they|him|her|them)\b(?!\s*')", re.I)
_CAPITALIZED_RUN = re.compile(r"(?<!^)(?<![.?!]\s)\b(?:[A-Z][\w'’-]*(?:\s+(?:of\s+)?[A-Z][\w'’-]*)*)")
MAX_SHORT_ANSWER_WORDS = 8


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str
    # The structured reply, when the door that asked kept it (the web UI and `newsdesk chat` do; an
    # OpenAI-style client sends text only). Not part of equality: `history_key` adds what of it the
    # rewrite reads.
    answer: Answer | None = field(default=None, compare=False)


def history_key(history: Sequence[Turn]) -> Hashable:
    """The history as far as a follow-up's reading depends on it, hashable (for the answer cache):
    each turn's role and text, and whether it carries an Answer and that answer's short answer and
    frame."""
    return tuple(
        (t.role, t.content, None if t.answer is None else (t.answer.short_answer, _frame(t.answer)))
        for t in history
    )


def _frame(answer: Answer) -> QuestionFrame:
    return answer.frame or frame_question(answer.question)


def needs_context(question: str) -> bool:
    return bool(_REFERRING.search(question)) or len(terms(question)) < 2


def standalone_question(question: str, history: Sequence[Turn]) -> str | None:
    """`question` with the pronoun that leans on the earlier turns (oldest first) replaced by what
    it refers to; None when it needs no context or no rule applies."""
    if not history or not needs_context(question):
        return None
    return _standalone(question, _latest_exchange(history))


def rewrite(question: str, history: Sequence[Turn]) -> str:
    """The retrieval query for `question`: its standalone form, else the question with the latest
    exchange in parentheses, else the question itself."""
    if not history or not needs_context(question):
        return question
    exchange = _latest_exchange(history)
    standalone = _standalone(question, exchange)
    if standalone is not None:
        return standalone
    context = [text for text in (exchange.asked, MARKER.sub("", exchange.replied).strip()) if text]
    return f"{question} ({' '.join(context)})" if context else question


@dataclass(frozen=True, slots=True)
class _Exchange:
    asked: str  # the last user question ("" when there is none)
    replied: str  # the reply to it, as text ("" when there is none)
    short_answer: str | None  # the reply's answer phrase
    frame: QuestionFrame  # what the question asked for


def _latest_exchange(history: Sequence[Turn]) -> _Exchange:
    """The last user question and the reply to it; older turns drift. The reply's short answer and
    the question's frame come from its Answer when the turn carries one, else from the texts."""
    reply: Turn | None = None
    asked = ""
    for turn in reversed(history):
        if turn.role == "assistant" and reply is None:
            reply = turn
        elif turn.role == "user":
            asked = turn.content.strip()
            break
    replied = reply.content.strip() if reply else ""
    if reply is not None and reply.answer is not None:
        return _Exchange(asked, replied, reply.answer.short_answer, _frame(reply.answer))
    return _Exchange(asked, replied, _short_answer(replied), frame_question(asked))


def _standalone(question: str, exchange: _Exchange) -> str | None:
    short, frame = exchange.short_answer, exchange.frame
    # "it" stands for no list of names ("Hama, Homs and Latakia"), nor for the several things a question
    # asked for ("which provinces"), but for what was done to them, or the thing it was done to.
    several = bool(_LISTED.search(short)) if short else frame.several
    done = _what_was_done(frame) if several and _singular_pronoun(question) else None
    referent = done or short or frame.subject or _longest_name(exchange.asked)
    standalone = _replace_pronoun(question, referent) if referent else question
    return None if standalone == question else standalone


def _short_answer(reply: str) -> str | None:
    """The reply's first line when it is an answer phrase (the UI and CLI put it there)."""
    first, _, rest = reply.partition("\n\n")
    first = first.strip()
    if rest and first and not MARKER.search(first) and len(first.split()) <= MAX_SHORT_ANSWER_WORDS:
        return first.strip("*")
    return None


# Several names, as rag.records.join_names writes them: "Hama, Homs and Latakia".
_LISTED = re.compile(r"\S,\s+\S|\S\s+and\s+\S")
# "Which provinces were struck (by …)?": the noun asked about, a passive verb, what follows.
_PASSIVE = re.compile(
    r"^\s*(?:which|what)\s+(?P<noun>[\w'’-]+(?:\s+[\w'’-]+)?)\s+(?:was|were|have been|has been|had been)"
    r"\s+(?P<verb>[\w'’-]+)(?P<rest>(?:\s+[^?]*)?)\?*\s*$",
    re.I,
)
# "Which countries signed the accord?": the noun asked about, a verb in the past, its object.
_ACTIVE = re.compile(
    r"^\s*(?:which|what)\s+(?P<noun>[\w'’-]+(?:\s+[\w'’-]+)?)\s+(?P<verb>[\w'’-]+ed|[\w'’-]+)"
    r"\s+(?P<rest>(?:the|a|an)\s+[^?]+?)\?*\s*$",
    re.I,
)
# Verbs whose event has a noun of its own (the gerund serves the others: "the closing of the schools").
_EVENTS = {
    "attacked": "attacks",
    "banned": "bans",
    "bombed": "bombings",
    "evacuated": "evacuations",
    "flooded": "floods",
    "hit": "strikes",
    "invaded": "invasion",
    "raided": "raids",
    "sanctioned": "sanctions",
    "shelled": "shelling",
    "struck": "strikes",
    "targeted": "attacks",
}
_GERUNDS = {"hit": "hitting", "shot": "shooting", "struck": "striking", "won": "winning", "sold": "selling"}


def _singular_pronoun(question: str) -> bool:
    """Whether the pronoun the rewrite would replace is "it" or "its" (it cannot stand for several)."""
    found = _pronoun(question)
    return found is not None and found.group(1).lower() in ("it", "its")


def _what_was_done(frame: QuestionFrame) -> str | None:
    """What a singular pronoun after a list answer refers to: the event the question's verb names
    ("Which provinces were struck?" → "the strikes"), or the thing that verb acted on ("Which
    countries signed the Paris accord?" → "the Paris accord"); None when the question shows neither."""
    passive = _PASSIVE.match(frame.question)
    if passive:
        verb, rest = passive.group("verb").lower(), passive.group("rest").strip()
        if verb in _EVENTS:
            event = f"the {_EVENTS[verb]}"
        else:
            event = f"the {_gerund(verb)} of the {passive.group('noun')}"
        return f"{event} {rest}" if rest.lower().startswith(("by ", "on ", "in ", "at ")) else event
    active = _ACTIVE.match(frame.question)
    if active and active.group("verb").lower() not in ("did", "does", "do", "is", "are", "was", "were"):
        return active.group("rest").strip()
    return None


def _gerund(participle: str) -> str:
    """ "closed" → "closing", "carried" → "carrying"; a few irregular verbs by name."""
    if participle in _GERUNDS:
        return _GERUNDS[participle]
    if participle.endswith("ied"):
        return participle[:-3] + "ying"
    if participle.endswith("ed"):
        return participle[:-2] + "ing"
    return participle


def _longest_name(question: str) -> str | None:
    runs = [run for run in _CAPITALIZED_RUN.findall(question) if run.lower() not in ("i", "which", "what")]
    return max(runs, key=lambda run: len(run.split()), default=None)


def _pronoun(question: str) -> re.Match[str] | None:
    """The first pronoun of `question` that the rewrite replaces, possessive ("its") or personal."""
    possessive = _POSSESSIVE.search(question)
    personal = _PERSONAL.search(question)
    if possessive and (personal is None or possessive.start() <= personal.start()):
        return possessive
    return personal


def _replace_pronoun(question: str, referent: str) -> str:
    """`question` with its first pronoun standing for `referent`."""
    found = _pronoun(question)
    if found is None:
        return question
    if found.re is _POSSESSIVE:
        phrase = f"the {found.group(2)} of {referent}"
        return question[: found.start()] + phrase + question[found.end() :]
    return question[: found.start()] + referent + question[found.end() :]
