"""The FastAPI application: web UI at /, REST API under /api, OpenAI-compatible API under /v1.

The model and index load in a background thread at start-up, so the server answers
/health at once and says when it is ready; until then the question endpoints answer 503.
"""

from __future__ import annotations

import os
import threading
import time

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from index.errors import NewsdeskError
from newsdesk_app.server import openai_compat, rest
from newsdesk_app.server.cancellable import InFlight
from newsdesk_app.server.errors import install_error_handlers
from newsdesk_app.server.security import (
    READ_ONLY_USER,
    UI_LOGIN_MESSAGE,
    ApiKeyGuard,
    BodyLimit,
    HostOriginGuard,
    MethodsAllowed,
    has_key,
    ui_login,
)
from newsdesk_app.server.settings import ServerSettings
from newsdesk_app.settings import desk_from_environment
from rag.service import Newsdesk

API_PREFIX = "/api"  # both need a key when keys are configured (ApiKeyGuard)
OPENAI_PREFIX = "/v1"
BIND_HOST_VARIABLE = "NEWSDESK_BIND_HOST"  # the address `serve --workers N` binds, for its processes


class Readiness:
    """Loads the index and model once in the background; records the error if that fails."""

    def __init__(self, desk: Newsdesk) -> None:
        self.desk = desk
        self.error: str | None = None
        self.started = time.monotonic()
        self.seconds_to_ready: float | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self.load, name="newsdesk-warm-up", daemon=True).start()

    def load(self) -> None:
        try:
            self.desk.warm_up()
        except NewsdeskError as error:
            self.error = str(error)
            return
        self.error = None
        if not self._ready.is_set():
            self.seconds_to_ready = round(time.monotonic() - self.started, 3)
        self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def retry_if_failed(self) -> None:
        """A failed load (say, no index yet) is tried again: an upload through the UI may have made one."""
        if not self.ready and self.error is not None:
            self.load()

    def require(self) -> None:
        self.retry_if_failed()
        if not self.ready:
            detail = self.error or "the index and model are still loading; try again in a few seconds"
            raise HTTPException(status_code=503, detail=detail, headers={"Retry-After": "2"})


def create_app(desk: Newsdesk, settings: ServerSettings | None = None, *, load_now: bool = False) -> FastAPI:
    """The whole server. `load_now` warms up before returning (tests); otherwise in the background."""
    settings = settings or ServerSettings()
    readiness = Readiness(desk)
    app = FastAPI(
        title="Newsdesk",
        summary="Questions answered from a news archive, every claim cited to its passage, outlet and date.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )
    _offline_docs(app)
    app.state.desk = desk
    app.state.settings = settings
    app.state.readiness = readiness
    install_error_handlers(app)
    keys = settings.api_keys + settings.read_only_keys
    # The last added runs first: Host and Origin, CORS preflights, the key, methods, the body limit.
    app.add_middleware(
        BodyLimit, limit=settings.max_body_bytes, upload_limit=settings.max_upload_request_bytes
    )
    in_flight = InFlight()  # the ingests running, the API's and the web UI's, which a shutdown stops
    app.state.stopping = in_flight.stopping
    api_router = rest.router(desk, settings, readiness, in_flight)
    openai_router = openai_compat.router(desk, settings, readiness)
    routers = (("", app.router), (API_PREFIX, api_router), (OPENAI_PREFIX, openai_router))
    app.add_middleware(MethodsAllowed, routers=routers)
    app.add_middleware(ApiKeyGuard, keys=keys, prefixes=(API_PREFIX, OPENAI_PREFIX))
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        HostOriginGuard,
        allowed_hosts=settings.allowed_hosts,
        cors_origins=settings.cors_origins,
        bind_host=settings.bind_host,
    )

    @app.get("/health", tags=["server"], summary="Whether the index and model are loaded")
    def health(request: Request) -> JSONResponse:
        readiness.retry_if_failed()
        status = "ready" if readiness.ready else ("error" if readiness.error else "loading")
        code = 200 if readiness.ready else 503
        if keys and not has_key(request, keys):
            # Without a key, whether it is up and nothing more: not where the index lives, nor its pid.
            return JSONResponse({"status": status}, status_code=code)
        body = {
            "status": status,
            "index": desk.location,
            "version": _version_served(desk) if readiness.ready else None,
            "pid": os.getpid(),  # which of `newsdesk serve --workers N` answered
            "seconds_to_ready": readiness.seconds_to_ready,
            "detail": readiness.error,
        }
        return JSONResponse(body, status_code=code)

    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(openai_router, prefix=OPENAI_PREFIX)
    if load_now:
        readiness.load()
    else:
        readiness.start()
    if settings.ui:
        _mount_ui(app, desk, settings, in_flight.stopping)
    return app


def api_from_env() -> FastAPI:
    """The app of one `newsdesk serve --workers N` process, which uvicorn builds from this import string:
    the index comes from NEWSDESK_INDEX, the rest of the settings from the environment as always."""
    bind_host = os.environ.get(BIND_HOST_VARIABLE) or None  # set by `serve --workers` for its processes
    return create_app(desk_from_environment(), ServerSettings.from_env(ui=False, bind_host=bind_host))


def _version_served(desk: Newsdesk) -> str | None:
    """The index version the next question is answered from (a newer one written since is opened now)."""
    try:
        return desk.snapshot().version
    except NewsdeskError:
        return None


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle-v2 package: FastAPI's default page loads it from a CDN,
    which a machine with no internet cannot reach."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Newsdesk API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _mount_ui(app: FastAPI, desk: Newsdesk, settings: ServerSettings, stopping: threading.Event) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from ui.app import build_ui

    gr.mount_gradio_app(
        app,
        build_ui(
            desk,
            examples=settings.example_count,
            max_files=settings.max_upload_files,
            limits=settings.load_limits(),
            stopping=stopping,
            read_only_user=READ_ONLY_USER,
        ),
        path="/",
        auth=ui_login(settings.ui_password, settings.api_keys, settings.read_only_keys),
        auth_message=UI_LOGIN_MESSAGE,
        run_history=False,  # gradio's "Runs" page offers to save runs to a Hugging Face bucket
        footer_links=[],
        max_file_size=settings.max_upload_bytes,
    )
