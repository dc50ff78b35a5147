"""Follow-up questions read in the context of the conversation.

"Who approved it?" after "Which provinces were struck?" cannot be retrieved on its own
words. When a question leans on what came before (a pronoun, "that", or too few words
of its own), the retrieval query carries the previous question and answer along.
The answer is still scored against the user's own question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from index.lexical import terms

_REFERRING = re.compile(
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|him|his|she|her|there|then|the same)\b", re.I
)
_MARKERS = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


def needs_context(question: str) -> bool:
    return bool(_REFERRING.search(question)) or len(terms(question)) < 2


def rewrite(question: str, history: Sequence[Turn]) -> str:
    """The retrieval query for `question` given the earlier turns (oldest first)."""
    if not history or not needs_context(question):
        return question
    context: list[str] = []
    for turn in reversed(history):
        text = _MARKERS.sub("", turn.content).strip()
        if text:
            context.insert(0, text)
        if turn.role == "user":
            break  # the latest exchange is the context; older ones drift
    return f"{question} ({' '.join(context)})" if context else question
