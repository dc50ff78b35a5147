"""OpenAI-compatible API under /v1, so any OpenAI client or chat front end can use Newsdesk
as a model named `newsdesk`. The reply's content is the answer with its [n] markers and a
sources list; the response also carries `citations` with the structured provenance, and for a
follow-up rewritten to stand alone, `standalone_question`: what it was searched as."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from index.errors import NewsdeskError
from index.tokens import count_tokens
from newsdesk_app.server.errors import FieldError
from newsdesk_app.server.rest import ERRORS, check_question, started
from newsdesk_app.server.schemas import ErrorModel
from newsdesk_app.server.settings import ServerSettings
from rag.conversation import Turn
from rag.records import Answer, Citation
from rag.service import Newsdesk
from rag.streaming import Piece, reply_stream, words

if TYPE_CHECKING:
    from newsdesk_app.server.app import Readiness

MODEL = "newsdesk"
CREATED = 1_764_000_000


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"model": MODEL, "messages": [{"role": "user", "content": "Which provinces were struck?"}]}
            ]
        },
    )
    model: str = MODEL
    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False  # as in /api/ask: `"stream": 0` or `"yes"` is a mistake to report


def sources_text(citations: list[Citation]) -> str:
    lines = []
    for c in citations:
        details = ", ".join(part for part in (c.source, (c.published_at or "")[:10], c.url) if part)
        lines.append(f"[{c.n}] {c.title}" + (f" — {details}" if details else ""))
    return "\n".join(lines)


def reply_content(answer: Answer) -> str:
    if not answer.citations:
        return answer.answer
    heading = "Sources:" if answer.answered else "Closest passages:"
    return f"{answer.answer}\n\n{heading}\n{sources_text(answer.citations)}"


def _question_and_history(messages: list[Message]) -> tuple[str, list[Turn]]:
    turns = [(m.role, m.text().strip()) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1]:
        raise FieldError(422, "messages", "the last message must be a non-empty user message")
    history = [Turn("user" if role == "user" else "assistant", text) for role, text in turns[:-1] if text]
    return turns[-1][1], history


def _chunk(completion_id: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _provenance(answer: Answer) -> dict[str, Any]:
    """Beside the text: the structured citations and, for a follow-up rewritten to stand alone, the
    question it was read as (the web UI and the terminal show it as "Read as: ...")."""
    shape = answer.as_dict()
    extra = {"citations": shape["citations"]}
    if "standalone_question" in shape:
        extra["standalone_question"] = shape["standalone_question"]
    return extra


def checked_tail(answer: Answer, streamed: str) -> str:
    """What follows the model's streamed text: the verified answer when it differs from what was
    streamed (a chat client cannot take back text it has shown), then the sources."""
    tail = ""
    if " ".join(streamed.split()) != " ".join(answer.answer.split()):
        tail = f"\n\nChecked answer: {answer.answer}"
    if answer.citations:
        heading = "Sources:" if answer.answered else "Closest passages:"
        tail += f"\n\n{heading}\n{sources_text(answer.citations)}"
    return tail


def _stream(completion_id: str, items: Iterable[str | Answer]) -> Iterator[str]:
    """Chat completion chunks, streamed as every door streams (rag.streaming): the model's text pieces
    as it writes them, else the answer's words at once; then the checked answer where it differs and
    the sources, a word at a time; the last chunk carries `citations` and the verified `answer`."""
    yield _chunk(completion_id, {"role": "assistant", "content": ""})
    streamed: list[str] = []
    try:
        for item in reply_stream(items):
            if isinstance(item, Piece):
                streamed.append(item.text)
                yield _chunk(completion_id, {"content": item.text})
                continue
            for piece in words(checked_tail(item, "".join(streamed))):
                yield _chunk(completion_id, {"content": piece})
            yield _chunk(completion_id, {}, "stop", **_provenance(item), answer=item.answer)
    except NewsdeskError as error:  # the status line is sent: the error goes in the stream, as OpenAI does
        yield f"data: {json.dumps({'error': {'message': str(error), 'type': 'server_error'}})}\n\n"
    yield "data: [DONE]\n\n"


def router(desk: Newsdesk, settings: ServerSettings, readiness: Readiness) -> APIRouter:
    api = APIRouter(tags=["openai"], responses=ERRORS)

    @api.get("/models", summary="The one model this server offers")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "newsdesk"}],
        }

    @api.post(
        "/chat/completions",
        summary="OpenAI chat completions, answered from the archive",
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"},
            404: {"model": ErrorModel, "description": "No model of that name"},
        },
    )
    def chat_completions(request: ChatRequest) -> Any:
        if request.model != MODEL:
            raise HTTPException(
                status_code=404, detail=f"model {request.model!r} does not exist; use {MODEL!r}"
            )
        question, history = _question_and_history(request.messages)
        check_question(question, settings, "messages")
        readiness.require()
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if request.stream:
            items = started(desk.ask_stream(question, history=history))
            return StreamingResponse(_stream(completion_id, items), media_type="text/event-stream")
        answer = desk.ask(question, history=history)
        content = reply_content(answer)
        prompt_tokens = sum(count_tokens(m.text()) for m in request.messages)
        completion_tokens = count_tokens(content)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {  # counted with tiktoken's cl100k_base, as an OpenAI client would expect
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            **_provenance(answer),
        }

    return api
