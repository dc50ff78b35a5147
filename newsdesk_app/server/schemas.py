"""Request and response models of the REST API; they are what /docs shows, with examples."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from index.dates import date_part, normalize_date
from rag.conversation import Turn
from rag.records import Citation, EarlierAnswer, SearchFilters
from rag.when import parse_as_of

EXAMPLE_CITATION: dict[str, Any] = {
    "n": 1,
    "article_id": "demo-world-2015-09-30-russia-first-airstrikes-syria",
    "chunk_id": "3f9a0c1d2b4e5f60",
    "title": "Russia launches first air strikes in Syria hours after parliament vote",
    "source": "Northern Wire",
    "url": "https://northern-wire.example/world/2015/09/30/russia-first-airstrikes-syria",
    "published_at": "2015-09-30",
    "text": "According to Syrian military sources, Russian jets struck positions in the provinces of Hama, "
    "Homs and Latakia. Moscow said the raids were aimed at Islamic State fighters.",
    "start": 612,
    "end": 768,
    "quote_start": 0,
    "quote_end": 110,
    "score": 0.0714,
    "also_reported_by": [],
    "supported": True,
    "support": 1.0,
}


class TurnModel(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class QueryModel(BaseModel):
    # strict: `"k": true` or `"stream": 0` is a mistake to report, not a value to convert
    model_config = ConfigDict(extra="forbid", strict=True)

    k: int = Field(5, ge=1, description="Passages to retrieve: at most NEWSDESK_MAX_K (50 unless set).")
    since: str | None = Field(None, description="Only articles published on or after this date (ISO 8601).")
    until: str | None = Field(None, description="Only articles published on or before this date.")
    sources: list[str] | None = Field(None, description="Only articles from these outlets.")
    as_of: str | None = Field(
        None,
        description="The day the question is asked (ISO date): 'this week' is read against it and articles "
        "published shortly before it come first. Default: today, for reading time words only.",
    )

    @field_validator("as_of")
    @classmethod
    def _as_of_date(cls, value: str | None) -> str | None:
        parsed = parse_as_of(value)
        return parsed.isoformat() if parsed else None

    def asked_on(self) -> date | None:
        return parse_as_of(self.as_of)

    @field_validator("since", "until")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        return date_part(normalize_date(value, field="date")) if value else None

    def filters(self) -> SearchFilters:
        return SearchFilters(self.since, self.until, tuple(self.sources or ()))


class AskRequest(QueryModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "Which provinces were struck?", "k": 5},
                {
                    "question": "Who approved it?",
                    "history": [
                        {"role": "user", "content": "Which provinces were struck?"},
                        {"role": "assistant", "content": "… the provinces of Hama, Homs and Latakia. [1]"},
                    ],
                },
            ]
        },
    )

    question: str = Field(min_length=1, description="The question, in plain words.")
    history: list[TurnModel] | None = Field(None, description="Earlier turns, oldest first.")
    stream: bool = Field(False, description="Answer as server-sent events: tokens, citations, done.")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is blank")
        return value.strip()

    def turns(self) -> list[Turn]:
        return [Turn(t.role, t.content) for t in self.history or []]


class SearchRequest(QueryModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "air strikes Latakia", "k": 3}]}
    )

    query: str = Field(min_length=1)


class AnswerModel(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Which provinces were struck?",
                    "short_answer": "Hama, Homs and Latakia",
                    "answer": "According to Syrian military sources, Russian jets struck positions in the "
                    "provinces of Hama, Homs and Latakia. [1]",
                    "answered": True,
                    "citations": [EXAMPLE_CITATION],
                    "timings_ms": {"retrieve": 14.1, "answer": 60.3, "total": 74.4},
                }
            ]
        }
    )

    question: str
    short_answer: str | None = Field(
        None, description="The answer phrase alone (a name, number or date), when the question asks for one."
    )
    answer: str
    answered: bool
    citations: list[Citation]  # the record itself, so the API schema cannot drift from it
    timings_ms: dict[str, float]
    standalone_question: str | None = Field(
        None,
        description="A follow-up rewritten to stand alone from the conversation (also what was searched).",
    )
    earlier_answers: list[EarlierAnswer] | None = Field(
        None,
        description="When sources of different days give different figures: the older ones, oldest first "
        "(the short answer is the newest).",
    )
    verification: dict[str, int] | None = Field(
        None,
        description="With a language model: sentences written, supported as cited, re-pointed to the passage "
        "that supports them, and dropped as supported by none.",
    )
    reader: str | None = Field(
        None,
        description='Which reader wrote the answer: "extractive (learned)", "extractive (hand)", or the '
        'language model\'s name ("llama.cpp:FILE", "openai-compatible:MODEL").',
    )


class HitModel(BaseModel):
    article_id: str
    chunk_id: str
    title: str
    source: str | None
    url: str | None
    published_at: str | None
    text: str
    start: int
    end: int
    score: float
    dense_score: float | None
    lexical_score: float | None


class SearchResponse(BaseModel):
    query: str
    hits: list[HitModel]


class ArticleModel(BaseModel):
    id: str
    title: str
    text: str
    published_at: str | None
    source: str | None
    url: str | None
    metadata: dict[str, Any]


class IngestResponse(BaseModel):
    ids: list[str] = Field(description="Ids of the articles added or updated.")
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    skipped: list[dict[str, str]] = Field(
        description="The first 20 records or files skipped and the first 20 that could not be read, with why."
    )
    skipped_count: int = Field(description="Records and files skipped or unreadable, all of them.")
    chunks_written: int
    seconds: float


class ErrorModel(BaseModel):
    error: str
    detail: list[dict[str, Any]] = Field(default_factory=list)
