"""REST API under /api: ask (JSON or server-sent events), search, stats, articles."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from index.errors import NewsdeskError
from index.ingest import IngestOptions, IngestReport
from newsdesk_app.server.cancellable import InFlight, run_cancellable
from newsdesk_app.server.errors import FieldError
from newsdesk_app.server.schemas import (
    AnswerModel,
    ArticleModel,
    AskRequest,
    ErrorModel,
    IngestResponse,
    SearchRequest,
    SearchResponse,
)
from newsdesk_app.server.security import write_key_dependency
from newsdesk_app.server.settings import ServerSettings
from newsdesk_app.server.uploads import discard, save_uploads, upload_root
from rag.models import describe_reader
from rag.records import Answer
from rag.service import Newsdesk
from rag.streaming import Piece, reply_stream

if TYPE_CHECKING:
    from newsdesk_app.server.app import Readiness

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorModel, "description": "The body could not be read as JSON"},
    401: {"model": ErrorModel, "description": "Missing or wrong API key"},
    413: {"model": ErrorModel, "description": "Request body too large"},
    502: {"model": ErrorModel, "description": "The configured language model failed"},
    422: {"model": ErrorModel, "description": "A field is missing or wrong; `detail` names it"},
    503: {"model": ErrorModel, "description": "The index is still loading (or cannot be loaded)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorModel, "description": "No article with that id"}
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorModel, "description": "The key is read-only"},
    409: {"model": ErrorModel, "description": "Another newsdesk process is writing to the index"},
}
SkipErrors = Annotated[bool, Query(description="Index the readable articles and report the rest.")]
EXAMPLE_ARTICLE = {
    "id": "harbor-2024-05-03-library",
    "title": "Brindleford library reopens after the flood",
    "text": "The Brindleford library reopened on 3 May 2024, eleven months after the river flooded it.",
    "published_at": "2024-05-03",
    "source": "Harbor Ledger",
    "url": "https://harbor-ledger.example/local/2024/05/03/library",
}


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def answer_events(answer: Answer) -> Iterator[str]:
    """What follows the streamed text: `citations`, then `done`, which carries the verified answer."""
    shape = answer.as_dict()
    yield sse("citations", shape["citations"])
    yield sse("done", {key: value for key, value in shape.items() if key not in ("citations",)})


def started(items: Iterator[str | Answer]) -> Iterator[str | Answer]:
    """`items` with its first one already computed, so that a failure before the first token (a model
    that cannot be reached, a missing index) is an HTTP error status, not a broken stream."""
    first = next(items)
    return chain([first], items)


def stream_events(items: Iterable[str | Answer]) -> Iterator[str]:
    """Newsdesk.ask_stream as server-sent events, streamed as every door streams (rag.streaming): each
    model text piece as a `token` event when it is written, else the answer's words at once; then
    `citations` and `done`. An error after the stream has begun ends it with an
    `error` event ({"error": "..."}), since the status line has been sent."""
    try:
        for item in reply_stream(items):
            if isinstance(item, Piece):
                yield sse("token", {"text": item.text})
            else:
                yield from answer_events(item)
    except NewsdeskError as error:
        yield sse("error", {"error": str(error)})


def check_question(text: str, settings: ServerSettings, field: str = "question", k: int = 1) -> None:
    if len(text) > settings.max_question_chars:
        limit = settings.max_question_chars
        problem = f"{len(text)} characters is over the limit of {limit} (NEWSDESK_MAX_QUESTION_CHARS)"
        raise FieldError(422, field, problem)
    if k > settings.max_k:
        raise FieldError(422, "k", f"{k} is over the limit of {settings.max_k} (NEWSDESK_MAX_K)")


def ingest_response(report: IngestReport) -> dict[str, Any]:
    return {
        "ids": report.added + report.updated,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": [{"origin": s.origin, "reason": s.reason} for s in report.skipped]
        + [{"origin": e.origin, "reason": e.reason} for e in report.errors],
        "skipped_count": report.skipped_count + report.error_count,
        "chunks_written": report.chunks_written,
        "seconds": round(report.seconds, 3),
    }


def router(
    desk: Newsdesk, settings: ServerSettings, readiness: Readiness, in_flight: InFlight | None = None
) -> APIRouter:
    in_flight = in_flight or InFlight()  # ingests, which a shutdown stops and waits for
    api = APIRouter(tags=["api"], responses=ERRORS, lifespan=in_flight.lifespan)
    writer = [Depends(write_key_dependency(settings.api_keys, settings.read_only_keys))]
    limits = settings.load_limits()

    @api.post(
        "/ask",
        response_model=AnswerModel,
        summary="Answer a question with numbered citations",
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}
        },
    )
    def ask(request: AskRequest) -> Any:
        check_question(request.question, settings, k=request.k)
        readiness.require()
        if request.stream:
            items = desk.ask_stream(
                request.question, request.k, request.filters(), request.turns(), as_of=request.asked_on()
            )
            return StreamingResponse(stream_events(started(items)), media_type="text/event-stream")
        answer = desk.ask(
            request.question, request.k, request.filters(), request.turns(), as_of=request.asked_on()
        )
        # The CLI's JSON exactly: a citation's missing quote or date is null, not left out.
        return JSONResponse(answer.as_dict())

    @api.post("/search", response_model=SearchResponse, summary="Ranked passages for a query")
    def search(request: SearchRequest) -> dict[str, Any]:
        check_question(request.query, settings, "query", k=request.k)
        readiness.require()
        hits = desk.search(request.query, request.k, request.filters(), as_of=request.asked_on())
        return {"query": request.query, "hits": [h.as_dict() for h in hits]}

    @api.get("/stats", summary="Counts, model, date range, outlets, size on disk, the reader that answers")
    def stats() -> dict[str, Any]:
        readiness.require()
        return {
            **desk.info(),
            "reader": describe_reader(
                desk.scorer, desk.generator, judging=desk.judging, declining=desk.declines_doubted
            ),
        }

    @api.post(
        "/articles",
        response_model=IngestResponse,
        summary="Add or update articles (JSONL schema)",
        dependencies=writer,
        responses=WRITE_ERRORS,
    )
    async def add_articles(
        request: Request,
        articles: Annotated[list[Any], Body(examples=[[EXAMPLE_ARTICLE]])],
        skip_errors: SkipErrors = False,
    ) -> dict[str, Any]:
        work = functools.partial(add_articles_now, articles, skip_errors)
        return await run_cancellable(request, work, in_flight)

    def add_articles_now(articles: list[Any], skip_errors: bool, cancel: threading.Event) -> dict[str, Any]:
        # The loader refuses an id the article routes could not serve (index.records.id_problem), naming
        # the record as the caller numbered it.
        options = IngestOptions(skip_errors=skip_errors, limits=limits, cancel=cancel)
        report = desk.ingest_records(articles, options)
        readiness.load()
        return ingest_response(report)

    @api.post(
        "/files",
        response_model=IngestResponse,
        summary="Add or update articles from files (JSONL, JSON, text, Markdown, HTML, RSS/Atom)",
        dependencies=writer,
        responses={
            **WRITE_ERRORS,
            415: {"model": ErrorModel, "description": "A file of a kind that cannot be read"},
        },
    )
    async def upload_files(
        request: Request,
        files: Annotated[list[UploadFile], File(description="One or more files; their kind by suffix.")],
        skip_errors: SkipErrors = False,
    ) -> dict[str, Any]:
        work = functools.partial(upload_files_now, files, skip_errors)
        return await run_cancellable(request, work, in_flight)

    def upload_files_now(
        files: list[UploadFile], skip_errors: bool, cancel: threading.Event
    ) -> dict[str, Any]:
        root = upload_root(desk.index_dir, settings.upload_dir)
        paths = save_uploads(
            files, root, max_files=settings.max_upload_files, max_bytes=settings.max_upload_bytes
        )
        # Named by the names their client gave them (made safe), never by where this server keeps them.
        folder = paths[0].parent
        options = IngestOptions(skip_errors=skip_errors, limits=limits, cancel=cancel, relative_to=folder)
        try:
            report = desk.ingest(paths, options)
        except BaseException:
            discard(folder)  # nothing was written, so nothing needs the files
            raise
        readiness.load()
        return ingest_response(report)

    # `:path`: an id stored with a "/" before ids were checked can still be read and removed
    @api.get(
        "/articles/{article_id:path}",
        response_model=ArticleModel,
        summary="One article as stored",
        responses=NOT_FOUND,
    )
    def get_article(article_id: str) -> dict[str, Any]:
        readiness.require()
        article = desk.article(article_id)
        if article is None:
            raise HTTPException(status_code=404, detail=f"no article with id {article_id!r}")
        return {
            "id": article.id,
            "title": article.title,
            "text": article.text,
            "published_at": article.published_at,
            "source": article.source,
            "url": article.url,
            "metadata": article.metadata,
        }

    @api.delete(
        "/articles/{article_id:path}",
        summary="Remove an article",
        dependencies=writer,
        responses={**NOT_FOUND, **WRITE_ERRORS},
    )
    def delete_article(article_id: str) -> dict[str, str]:
        readiness.require()
        report = desk.delete([article_id])
        if not report.deleted:
            raise HTTPException(status_code=404, detail=f"no article with id {article_id!r}")
        return {"deleted": article_id}

    return api
