"""Every error the API gives has one shape: `{"error": "...", "detail": [{"field", "problem"}]}`,
where `detail` names each field (or file and line) at fault when there is one."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from index.errors import IndexLockedError, IndexStateError, InputError, NewsdeskError
from index.ingest import IngestAborted
from index.loaders import Cancelled, LimitExceeded
from index.milvus_served import is_served_location
from rag.generators import GeneratorError


class FieldError(HTTPException):
    """A request refused because of one field (or uploaded file): its status, the field and why."""

    def __init__(self, status_code: int, field: str, problem: str) -> None:
        super().__init__(status_code=status_code, detail=f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    for e in error.errors():
        if e.get("type") == "json_invalid":  # FastAPI reports it as a field named by its offset: it is 400
            where = tuple(e.get("loc", ()))[-1:]
            reason = str(e.get("ctx", {}).get("error", "")) or "it cannot be read"
            problem = f"not JSON: {reason}" + (f" at character {where[0]}" if where else "")
            return JSONResponse(
                {"error": f"the body is {problem}", "detail": [{"field": "body", "problem": problem}]},
                status_code=400,
            )
    detail = [
        {
            "field": _field(tuple(e.get("loc", ()))),
            "problem": str(e.get("msg", "")).removeprefix("Value error, "),
        }
        for e in error.errors()
    ]
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in detail)
    return JSONResponse({"error": f"invalid request: {summary}", "detail": detail}, status_code=422)


def without_server_paths(request: Request, text: str) -> str:
    """A message for a caller over HTTP: the index's place on the server's disk and a writer's pid are
    the server's business (the command line, run on the server, still names them)."""
    desk = getattr(request.app.state, "desk", None)
    if desk is not None:
        shown = {desk.location}
        if not is_served_location(desk.location):
            shown.add(str(desk.index_dir.resolve()))
        for place in sorted(shown, key=len, reverse=True):
            text = text.replace(place, "the index")
    return _PID.sub("another newsdesk process", text)


_PID = re.compile(r"another newsdesk process \(pid [^)]*\)")


def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)  # FastAPI's, and Starlette's (a body that is not JSON)
    detail = without_server_paths(request, error.detail) if isinstance(error.detail, str) else error.detail
    body: dict[str, Any] = {"error": detail}
    if isinstance(error, FieldError):
        body["detail"] = [{"field": error.field, "problem": error.problem}]
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def _newsdesk_error(request: Request, error: Exception) -> JSONResponse:
    status = 422
    if isinstance(error, IndexLockedError):
        status = 409
    elif isinstance(error, GeneratorError):
        status = 502
    elif isinstance(error, IndexStateError | Cancelled):
        status = 503
    elif isinstance(error, LimitExceeded):
        status = 413
    detail: list[dict[str, Any]] = []
    if isinstance(error, LimitExceeded):  # where it stopped, then the first records it could not read
        detail = [{"field": error.origin, "problem": f"{error.problem} ({error.setting})"}]
        detail += [{"field": e.origin, "problem": e.reason} for e in error.errors]
    elif isinstance(error, IngestAborted):
        detail = [{"field": e.origin, "problem": e.reason} for e in error.errors]
    elif isinstance(error, InputError):
        detail = [{"field": error.origin, "problem": error.reason}]
    message = without_server_paths(request, str(error))
    return JSONResponse({"error": message, "detail": detail}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(NewsdeskError, _newsdesk_error)
