"""Question latency in one thread (hybrid default against BM25 alone) and queries/s against a live server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.bench.measure import Server, latency, post_json, ratio
from rag.retrieval import RetrievalSettings
from rag.service import Newsdesk

CLIENTS = 8


def _latencies(desk: Newsdesk, questions: Sequence[str]) -> tuple[list[float], list[float]]:
    desk.ask(questions[0])  # opens the index and loads the model
    search_ms, ask_ms = [], []
    for question in questions:
        began = time.perf_counter()
        desk.search(question, 5)
        search_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        desk.ask(question, 5)
        ask_ms.append((time.perf_counter() - began) * 1000)
    return search_ms, ask_ms


def run_query(
    index_dir: Path,
    questions: Sequence[str],
    serve_seconds: float,
    make_desk: Callable[..., Newsdesk] = Newsdesk,
) -> dict[str, Any]:
    """`make_desk(index_dir, **settings)` builds each desk measured (the command passes the one that reads
    the environment, so a configured reader or model is what is measured, as in the served stage)."""
    hybrid = make_desk(index_dir, answer_cache_size=0)
    bm25 = make_desk(index_dir, retrieval=RetrievalSettings(dense_weight=0.0), answer_cache_size=0)
    search_ms, ask_ms = _latencies(hybrid, questions)
    bm25_search_ms, bm25_ask_ms = _latencies(bm25, questions)
    info = hybrid.info()
    cached = make_desk(index_dir, answer_cache_size=1)
    cached.ask(questions[0])
    began = time.perf_counter()
    cached.ask(questions[0])
    cached_ms = (time.perf_counter() - began) * 1000
    figures: dict[str, Any] = {
        "index_chunks": info["chunks"],
        "questions": len(questions),
        "retrieval": latency(search_ms),
        "ask": latency(ask_ms),
        "bm25_retrieval": latency(bm25_search_ms),
        "bm25_ask": latency(bm25_ask_ms),
        "repeated_question_ms": round(cached_ms, 3),
    }
    figures["ask_p50_ratio_to_bm25"] = ratio(figures["ask"]["p50_ms"], figures["bm25_ask"]["p50_ms"])
    figures.update(serve_throughput(index_dir, questions, serve_seconds))
    return figures


def _clients(
    url: str, questions: Sequence[str], clients: int, seconds: float
) -> tuple[int, int, list[float]]:
    ok, failed, times = [0], [0], []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        n = offset
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            status, _ = post_json(f"{url}/api/ask", {"question": questions[n % len(questions)]})
            with lock:
                (ok if status == 200 else failed)[0] += 1
                times.append((time.perf_counter() - began) * 1000)
            n += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok[0], failed[0], times


def serve_throughput(index_dir: Path, questions: Sequence[str], seconds: float) -> dict[str, Any]:
    """Answered questions/s from 8 concurrent clients, and from one, against `newsdesk serve --no-ui`
    on loopback with its answer cache off (every request is answered afresh)."""
    with Server(index_dir, ui=False, env={"NEWSDESK_ANSWER_CACHE": "0"}) as server:
        server.first_answer(questions[0])
        began = time.perf_counter()
        ok_1, failed_1, _ = _clients(server.url, questions, 1, seconds)
        one = ok_1 / (time.perf_counter() - began)
        began = time.perf_counter()
        ok_n, failed_n, times = _clients(server.url, questions, CLIENTS, seconds)
        many = ok_n / (time.perf_counter() - began)
    return {
        "serve_qps_1_client": round(one, 2),
        f"serve_qps_{CLIENTS}_clients": round(many, 2),
        f"serve_latency_{CLIENTS}_clients": latency(times),
        "serve_failed_requests": failed_1 + failed_n,
    }
