"""One way for every door (web UI, HTTP API, OpenAI-compatible API, terminal) to stream an answer.

`Newsdesk.ask_stream` yields a language model's text pieces as it writes them, then the verified
`Answer`, always last. The doors read it through `reply_stream`, so they stream alike:

- a model's pieces come as drafts, when the model writes them; the verified answer that follows may
  differ (unsupported sentences dropped, markers renumbered), so a door shows it in their place;
- an answer that arrives whole (the extractive answerer, the cache, a model that cannot stream) comes
  as its words, all at once: a client of a token protocol gets tokens either way, and nobody waits
  for a delay put there to look like typing.

The short answer comes only with the `Answer`: a model's "Short answer:" line is held back until it
is checked (rag.generators.answer_pieces), and the extractive answer streams the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rag.conversation import Turn
from rag.records import Answer

_WORD = re.compile(r"\s*\S+\s*|\s+")  # a word with the spaces around it; spaces alone only if no word


def words(text: str) -> list[str]:
    """`text` a word at a time, each with the spaces after it; joined, they are `text` exactly."""
    return _WORD.findall(text)


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    draft: bool  # True: the model's text, which the verified answer replaces; False: the answer's own words


def reply_stream(items: Iterable[str | Answer]) -> Iterator[Piece | Answer]:
    """`ask_stream`'s items as every door streams them: the model's pieces as drafts, as they come;
    else the answer's words at once; then the `Answer`, always last."""
    drafted = False
    for item in items:
        if isinstance(item, Answer):
            if not drafted:
                for word in words(item.answer):
                    yield Piece(word, draft=False)
            yield item
            return
        drafted = True
        yield Piece(item, draft=True)


def reply_text(answer: Answer) -> str:
    """The reply as the web UI shows it and a conversation keeps it: the short answer, a blank line,
    then the cited sentences (a turn without its `Answer` is read back from this first line)."""
    if answer.short_answer:
        return f"{answer.short_answer}\n\n{answer.answer}"
    return answer.answer


def exchange(question: str, answer: Answer) -> list[Turn]:
    """The two turns one question adds to a conversation; the reply carries its structured answer,
    so a follow-up refers to its short answer without re-reading the text."""
    return [Turn("user", question), Turn("assistant", reply_text(answer), answer=answer)]
