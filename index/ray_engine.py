"""Ingest on a Ray cluster: chunking in Ray tasks, embedding in a pool of actors that load the model once.

    newsdesk ingest PATH --engine ray [--ray-address ADDR] [--ray-workers N]

Without an address a local cluster is started for the command (and stopped after it); with one, the
same code runs on that cluster, whose nodes need Newsdesk installed (the model comes from a package
there too, never from the network).

The stages are the local engine's own functions, run elsewhere, so the chunks and vectors are the same:
  articles  the ingest reads, validates and cleans every file here first, exactly as the local engine
            does (the files are on this machine, and a bad record must stop the ingest before anything
            is touched); the articles then go to the cluster as a Ray dataset;
  chunk     `Chunker.chunk` in Ray tasks, a few articles per task;
  embed     `make_embedder(model).embed` in an actor pool of N workers, each loading the model once;
            texts go out sorted by length, so each batch pads as little as the local engine's.
Vectors stream back batch by batch: the shared ingest code reports progress, puts each batch into the
embedding cache and, at the end, publishes the new version through the same atomic writer.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType, TracebackType
from typing import Any, TypeVar

import numpy as np

from index.chunking import Chunker, ChunkerSettings
from index.embedding import Embedder, make_embedder
from index.engine import EMBED_BATCH, EmbeddedBatch
from index.errors import NewsdeskError
from index.records import Article, Chunk

INSTALL_HINT = "the Ray engine needs Ray: pip install 'newsdesk[scale]'"
# Passed to every worker of a cluster: nothing there may try to download a model either.
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
T = TypeVar("T")
CONNECT_TIMEOUT_S = 5.0
TASKS_PER_CPU = 2  # chunking tasks: enough to keep every CPU busy, few enough that start-up stays cheap


class RayEngineError(NewsdeskError):
    """Ray is missing, the cluster cannot be reached, or a stage failed on it; nothing was written."""


def import_ray() -> ModuleType:
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise RayEngineError(INSTALL_HINT) from error
    return ray


class RayEngine:
    """Chunks and embeds on a Ray cluster. It connects on first use (after the files have been read and
    found valid), not when made. Use as a context manager: a cluster this engine started is stopped on
    exit; one this process was already connected to (a test session's) is left running."""

    def __init__(self, address: str | None = None, workers: int = 1, batch_size: int = EMBED_BATCH) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if importlib.util.find_spec("ray") is None:  # said now, before any file is read
            raise RayEngineError(INSTALL_HINT)
        self.address = address
        self.workers = workers
        self.batch_size = batch_size
        self._ray: ModuleType | None = None
        self._started = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> ModuleType:
        """Join the cluster at `address`, or start a local one; once."""
        if self._ray is not None:
            return self._ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # Ray's own chatter (its C++ core logs notices as errors) would bury the ingest's report;
        # a failure on the cluster still reaches the user, as the exception it raises.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        ray = import_ray()
        where = self.address or "local"
        _check_reachable(where)
        if not ray.is_initialized():
            try:
                ray.init(
                    address=where,
                    runtime_env={"env_vars": WORKER_ENV},
                    include_dashboard=False if where == "local" else None,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise RayEngineError(f"cannot reach the Ray cluster at {where}: {error}") from error
            self._started = True
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the ingest reports its own progress
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        self._ray = ray
        self._cpus_per_worker(ray)  # too many workers for the cluster: said before any work is sent
        return ray

    def close(self) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False

    def chunk(self, articles: Sequence[Article], settings: ChunkerSettings) -> list[Chunk]:
        if not articles:
            return []
        ray = self.connect()
        rows = [{"position": i, "id": a.id, "text": a.text} for i, a in enumerate(articles)]
        blocks = min(len(rows), max(1, int(ray.cluster_resources().get("CPU", 1))) * TASKS_PER_CPU)
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).flat_map(
            _chunk_article, fn_kwargs={"settings": settings.as_dict()}
        )
        found = _run(lambda: list(dataset.iter_rows()))
        found.sort(key=lambda row: (row["position"], row["ordinal"]))
        return [
            Chunk(
                str(row["id"]),
                articles[int(row["position"])].id,
                int(row["ordinal"]),
                str(row["text"]),
                int(row["start"]),
                int(row["end"]),
                int(row["token_count"]),
            )
            for row in found
        ]

    def embed(self, texts: Sequence[str], embedder: Embedder) -> Iterator[EmbeddedBatch]:
        """The workers build their own embedder from `embedder.name` (the model the index records)."""
        if not texts:
            return
        ray = self.connect()
        cpus = self._cpus_per_worker(ray)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = [{"position": i, "text": texts[i]} for i in order]
        # About one batch a block, and a block for every worker.
        blocks = min(len(rows), max(self.workers, -(-len(rows) // self.batch_size)))
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            EmbedWorker,
            batch_size=self.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            fn_constructor_kwargs={"model": embedder.name, "threads": cpus},
            num_cpus=cpus,
        )
        batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
        while True:
            batch = _run(lambda: next(batches, None))
            if batch is None:
                return
            yield [int(p) for p in batch["position"]], np.asarray(batch["vector"], np.float32)

    def _cpus_per_worker(self, ray: ModuleType) -> int:
        """The CPUs of the largest node shared among the workers (so one worker gets a whole machine);
        refused when the cluster has fewer CPUs than workers, which would wait for ever."""
        total = int(ray.cluster_resources().get("CPU", 0))
        if total < self.workers:
            raise RayEngineError(
                f"{self.workers} Ray workers need {self.workers} CPUs; the cluster has {total}"
            )
        largest = max(
            (int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive")), default=1
        )
        return max(1, largest // self.workers)


def _check_reachable(address: str) -> None:
    """Fail at once on a cluster address nothing answers at: Ray itself retries for minutes."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # "local", "auto" or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RayEngineError(
            f"cannot reach the Ray cluster at {address}: {error.strerror or error}; "
            "start it with `ray start --head` there, or leave out --ray-address for a local cluster"
        ) from error


def _chunk_article(row: dict[str, Any], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One article's chunks, by the local engine's chunker (the encoding loads once per worker process)."""
    article = Article(id=str(row["id"]), title="", text=str(row["text"]))  # chunking reads id and text only
    return [
        {
            "position": row["position"],
            "ordinal": chunk.ordinal,
            "id": chunk.id,
            "text": chunk.text,
            "start": chunk.start,
            "end": chunk.end,
            "token_count": chunk.token_count,
        }
        for chunk in Chunker(ChunkerSettings(**settings)).chunk(article)
    ]


class EmbedWorker:
    """One per actor: the model loads once, when the actor starts, then embeds every batch sent to it."""

    def __init__(self, model: str, threads: int) -> None:
        self.embedder = make_embedder(model, threads=threads)
        self.embedder.warm_up()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(text) for text in batch["text"]])
        return {"position": batch["position"], "vector": vectors}


def _run(step: Callable[[], T]) -> T:
    """Run a step that executes on the cluster; its failures become one RayEngineError naming the cause."""
    ray = import_ray()
    try:
        return step()
    except NewsdeskError:
        raise
    except (ray.exceptions.RayError, ray.data.exceptions.UserCodeException) as error:
        raise RayEngineError(f"the Ray engine failed, nothing was written: {_last_line(error)}") from error


def _last_line(error: BaseException) -> str:
    """What failed, as its exception's last line ("NewsdeskError: model ..."): Ray's message around it
    is a traceback, half of it from Ray's own machinery."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    name, colon, message = lines[-1].partition(": ")
    return f"{name.rsplit('.', 1)[-1]}: {message}" if colon and " " not in name else lines[-1]
