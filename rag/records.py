"""What a question gets back: hits from search, and an answer whose citations point into them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from index.catalog import Passage
from rag.question import QuestionFrame

# A citation marker, "[2]", with the space before it: the answerer writes it, the verifier reads it,
# the conversation strips it from a reply.
MARKER = re.compile(r"\s*\[(\d+)\]")


def join_names(names: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass(frozen=True, slots=True)
class SearchFilters:
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.sources)


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved passage. `score` is the fused rank score; the parts say where it came from."""

    passage: Passage
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    also_reported_by: tuple[str, ...] = ()  # outlets whose copies of this passage were collapsed into it

    def as_dict(self) -> dict[str, Any]:
        p = self.passage
        return {
            "article_id": p.article_id,
            "chunk_id": p.chunk_id,
            "title": p.title,
            "source": p.source,
            "url": p.url,
            "published_at": p.published_at,
            "text": p.text,
            "start": p.start,
            "end": p.end,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "lexical_score": None if self.lexical_score is None else round(self.lexical_score, 6),
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """`text` is the whole cited passage; `text[quote_start:quote_end]` is what the answer relies on."""

    n: int
    article_id: str
    chunk_id: str
    title: str
    source: str | None
    url: str | None
    published_at: str | None
    text: str
    start: int
    end: int
    quote_start: int | None
    quote_end: int | None
    score: float
    also_reported_by: list[str] = field(default_factory=list)  # outlets that ran a copy of the passage
    # Whether the quote was checked to support the sentences citing it, and the lowest share of their
    # words it holds (1.0 for a sentence quoted verbatim). A declined answer's closest passages: False.
    supported: bool = False
    support: float | None = None

    @property
    def quote(self) -> str:
        if self.quote_start is None or self.quote_end is None:
            return ""
        return self.text[self.quote_start : self.quote_end]

    @classmethod
    def from_hit(
        cls, n: int, hit: Hit, quote: tuple[int, int] | None, support: float | None = None
    ) -> Citation:
        p = hit.passage
        return cls(
            n,
            p.article_id,
            p.chunk_id,
            p.title,
            p.source,
            p.url,
            p.published_at,
            p.text,
            p.start,
            p.end,
            quote[0] if quote else None,
            quote[1] if quote else None,
            round(hit.score, 6),
            list(hit.also_reported_by),
            support is not None,
            None if support is None else round(support, 3),
        )


@dataclass(frozen=True, slots=True)
class EarlierAnswer:
    """What an older source said, where it disagrees with the newest one the answer prefers."""

    text: str
    published_at: str
    source: str | None


def earlier_text(earlier: Sequence[EarlierAnswer]) -> str:
    """ "Earlier reports: 240,000 (Wire, 2015-09-30)" for the UI and the CLI."""
    said = "; ".join(f"{e.text} ({e.source or 'unknown outlet'}, {e.published_at})" for e in earlier)
    return f"Earlier reports: {said}"


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    answer: str
    answered: bool
    citations: list[Citation]
    timings_ms: dict[str, float] = field(default_factory=dict)
    standalone_question: str | None = None  # a follow-up rewritten to stand alone (also the retrieval query)
    short_answer: str | None = None  # the answer phrase alone ("Hama, Homs and Latakia"), when asked for one
    verification: dict[str, int] | None = None  # a generated answer's check against its passages
    earlier_answers: list[EarlierAnswer] = field(default_factory=list)  # older figures, oldest first
    # What the question asked for (rag.question): a follow-up reads it to tell what "it" refers to.
    # Not in `as_dict`: it is derived from `question`.
    frame: QuestionFrame | None = field(default=None, compare=False)
    # Which reader wrote it: "extractive (learned)", "extractive (hand)", or a language model's name
    # ("llama.cpp:qwen2.5-coder-1.5b-instruct.gguf", "openai-compatible:MODEL").
    reader: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `newsdesk ask --json` and the API; `standalone_question` only for follow-ups
        rewritten."""
        shape: dict[str, Any] = {
            "question": self.question,
            "short_answer": self.short_answer,
            "answer": self.answer,
            "answered": self.answered,
            "citations": [asdict(c) for c in self.citations],
            "timings_ms": self.timings_ms,
        }
        if self.standalone_question is not None:
            shape["standalone_question"] = self.standalone_question
        if self.verification is not None:
            shape["verification"] = self.verification
        if self.earlier_answers:
            shape["earlier_answers"] = [asdict(e) for e in self.earlier_answers]
        if self.reader is not None:
            shape["reader"] = self.reader
        return shape
