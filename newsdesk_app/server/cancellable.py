"""A request's blocking work (an ingest), run so that it stops when nobody waits for it any more.

FastAPI runs a plain `def` endpoint in a worker thread and waits for it, whatever happens meanwhile: a
client that hung up, or a server told to stop, left the work running to its end (a gzip of newlines kept
a core busy for 400 s after its client had gone, and the server ignored SIGTERM for as long). Here the
endpoint awaits the thread while it watches the connection, and hands the work an Event that is set when
the client disconnects, or when uvicorn's graceful shutdown (NEWSDESK_SHUTDOWN_GRACE_SECONDS) stops
waiting for the request and cancels it. The work checks the Event as it goes (index.loaders.Cancelled):
it stops before anything is written, so the previous index version stays live. uvicorn goes on to shut
the application down at once, and the process ends when that is done: the router's lifespan (InFlight)
holds the shutdown until the stopped requests have sent their answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.requests import Request

T = TypeVar("T")
POLL_SECONDS = 0.25  # how often the connection is looked at while the work runs
ANSWER_SECONDS = 5.0  # the longest a shutdown waits for stopped requests to answer


class InFlight:
    """The requests running cancellable work, so that a shutdown lets them answer before the process ends."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set when the server shuts down: work that no request task watches (the web UI's uploads, run
        # in gradio's worker threads) checks it and stops with nothing written.
        self.stopping = threading.Event()

    def add(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """A lifespan whose shutdown waits for the requests still in flight: by then uvicorn has cancelled
        them, and their work is stopping."""
        yield
        self.stopping.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=ANSWER_SECONDS)


async def run_cancellable(
    request: Request, work: Callable[[threading.Event], T], in_flight: InFlight | None = None
) -> T:
    """`work(cancel)` in a thread; its result, or what it raised. `cancel` is set when the client goes,
    or when this request is cancelled (the server is stopping): then the thread is waited for (it stops
    at its next check) and its outcome, usually index.loaders.Cancelled, is the answer, instead of a
    cancelled request that uvicorn logs as a traceback."""
    cancel = threading.Event()
    task = asyncio.current_task()
    if in_flight is not None and task is not None:
        in_flight.add(task)
    future = asyncio.get_running_loop().run_in_executor(None, work, cancel)
    try:
        while not future.done():
            await asyncio.wait([future], timeout=POLL_SECONDS)
            if not future.done() and not cancel.is_set() and await request.is_disconnected():
                cancel.set()
    except asyncio.CancelledError:
        cancel.set()
        if task is not None:
            task.uncancel()
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:  # the event loop closing cancels what is left once more
                if task is not None:
                    task.uncancel()
    return future.result()
