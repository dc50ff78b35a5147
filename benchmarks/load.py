"""Load test: concurrent clients on loopback against `newsdesk serve --no-ui` while ingests run.

    python benchmarks/load.py [--requests 3000] [--clients 32] [--index DIR] [--json out.json]

Three phases against one server (answer cache off, so every request is answered afresh):
  quiet:        the baseline, --quiet-requests with no ingest running;
  ingest:       --requests while `newsdesk ingest` (another process, as a cron job would run it) adds
                batches of new articles to the same index, one after another, until the load ends;
  quiet again:  --quiet-requests on the grown index, to tell a leak from the index's own growth.
Requests alternate between /api/ask and /v1/chat/completions. A request succeeds when it answers
200 with an answer. Reported: success rate, p50/p95/p99 latency per phase and endpoint, requests/s,
index versions published during the load, and the server's resident memory before and after.
Without --index, the demo archive is built in a temporary folder with the default model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from eval.bench.measure import Server, percentile
from eval.bench.startup_stage import build_demo_index
from rag.service import Newsdesk

ENDPOINTS = ("/api/ask", "/v1/chat/completions")
TOWNS = ["Brindleford", "Quillmere", "Harrowgate", "Lowmoor", "Eastwick", "Saltby", "Fenmouth", "Orrin"]
TOPICS = [
    ("council", "voted to repair the sea wall", "the repairs will cost about {n} million pounds"),
    ("hospital", "opened a new maternity ward", "it has {n} beds and a neonatal unit"),
    ("railway", "reopened the branch line", "trains will run every {n} minutes at peak times"),
    ("school", "announced a free breakfast club", "about {n} pupils signed up in the first week"),
    ("harbour", "began dredging the channel", "dredgers will remove {n} thousand tonnes of silt"),
    ("library", "extended its opening hours", "it will now open {n} hours a week"),
]


def questions_from(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def write_batch(folder: Path, round_number: int, size: int) -> Path:
    """`size` new articles in our own words, distinct in every round (so each is embedded afresh)."""
    path = folder / f"batch-{round_number:04d}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(size):
            n = round_number * size + i
            town, (body, did, detail) = TOWNS[n % len(TOWNS)], TOPICS[n % len(TOPICS)]
            text = (
                f"The {town} {body} {did} on day {n % 28 + 1} of the month, officials said. "
                f"{detail.format(n=n % 97 + 3).capitalize()}. Residents of ward {n} were consulted "
                f"in round {round_number}, and a report is due in {n % 11 + 2} weeks."
            )
            record = {
                "id": f"load-{n}",
                "title": f"{town} {body} {did} (update {n})",
                "text": text,
                "published_at": f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                "source": "Load Test Wire",
            }
            out.write(json.dumps(record) + "\n")
    return path


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in ENDPOINTS})
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, began: float, problem: str | None) -> None:
        with self.lock:
            if problem is None:
                self.latencies[endpoint].append((time.perf_counter() - began) * 1000)
            else:
                self.failures.append(f"{endpoint}: {problem}")


def one_request(client: httpx.Client, url: str, endpoint: str, question: str) -> str | None:
    """None when the request was answered; otherwise what went wrong."""
    if endpoint == "/api/ask":
        body: dict[str, Any] = {"question": question}
    else:
        body = {"model": "newsdesk", "messages": [{"role": "user", "content": question}]}
    try:
        response = client.post(f"{url}{endpoint}", json=body)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    if response.status_code != 200:
        return f"{response.status_code}: {response.text[:200]}"
    data = response.json()
    answer = data["answer"] if endpoint == "/api/ask" else data["choices"][0]["message"]["content"]
    return None if answer else "empty answer"


def run_load(url: str, questions: Sequence[str], requests: int, clients: int) -> tuple[Results, float]:
    results, counter, counter_lock = Results(), [0], threading.Lock()

    def client_loop() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with counter_lock:
                    n = counter[0]
                    counter[0] += 1
                if n >= requests:
                    return
                endpoint = ENDPOINTS[n % 2]
                began = time.perf_counter()
                results.record(
                    endpoint, began, one_request(client, url, endpoint, questions[n % len(questions)])
                )

    began = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - began


def summary(results: Results, seconds: float) -> dict[str, Any]:
    every = [t for times in results.latencies.values() for t in times]
    sent = len(every) + len(results.failures)

    def spread(times: list[float]) -> dict[str, float]:
        return {f"p{q}_ms": round(percentile(times, q / 100), 1) for q in (50, 95, 99)}

    return {
        "requests": sent,
        "succeeded": len(every),
        "success_rate": round(len(every) / sent, 4) if sent else None,
        "requests_per_s": round(sent / seconds, 2),
        "latency": spread(every),
        "by_endpoint": {e: spread(t) | {"requests": len(t)} for e, t in results.latencies.items()},
        "failures": results.failures[:20],
    }


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (VmHWM), in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


class IngestLoop:
    """`newsdesk ingest` of a fresh batch, again and again, until stopped."""

    def __init__(self, index_dir: Path, folder: Path, batch: int) -> None:
        self.index_dir, self.folder, self.batch = index_dir, folder, batch
        self.rounds: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        round_number = 0
        while not self.stop.is_set():
            path = write_batch(self.folder, round_number, self.batch)
            command = [
                sys.executable,
                "-m",
                "newsdesk_app.cli",
                "ingest",
                str(path),
                "--index",
                str(self.index_dir),
            ]
            began = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            self.rounds.append(
                {
                    "round": round_number,
                    "exit": done.returncode,
                    "seconds": round(time.perf_counter() - began, 1),
                }
            )
            if done.returncode != 0:
                print(done.stdout[-1000:], done.stderr[-1000:], file=sys.stderr)
            round_number += 1

    def __enter__(self) -> IngestLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests during the ingests")
    parser.add_argument("--quiet-requests", type=int, default=1000, help="requests with no ingest (baseline)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100, help="articles per ingest round")
    parser.add_argument("--index", type=Path, default=None, help="an index to copy (default: the demo)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    demo_gold = Path(__file__).resolve().parents[1] / "rag" / "demo" / "gold.jsonl"
    questions = questions_from(demo_gold)
    with tempfile.TemporaryDirectory(prefix="newsdesk-load-") as work:
        workdir = Path(work)
        if args.index is None:
            index_dir = build_demo_index(workdir)
        else:
            index_dir = workdir / "index"
            subprocess.run(["cp", "-r", str(args.index), str(index_dir)], check=True)
        start_articles = Newsdesk(index_dir).info()["articles"]
        with Server(index_dir, ui=False, env={"NEWSDESK_ANSWER_CACHE": "0"}) as server:
            assert server.process is not None
            server.first_answer(questions[0])
            run_load(server.url, questions, 64, args.clients)  # warm every code path once
            memory = {"start": rss_mb(server.process.pid)}
            quiet, quiet_s = run_load(server.url, questions, args.quiet_requests, args.clients)
            memory["after_quiet"] = rss_mb(server.process.pid)
            with IngestLoop(index_dir, workdir, args.batch) as ingests:
                loaded, loaded_s = run_load(server.url, questions, args.requests, args.clients)
            memory["after_ingest_load"] = rss_mb(server.process.pid)
            # The same quiet load again on the grown index: growth here would be a leak per request.
            again, again_s = run_load(server.url, questions, args.quiet_requests, args.clients)
            memory["after_quiet_again"] = rss_mb(server.process.pid)
        end_articles = Newsdesk(index_dir).info()["articles"]
    figures = {
        "clients": args.clients,
        "quiet": summary(quiet, quiet_s),
        "during_ingest": summary(loaded, loaded_s),
        "quiet_again": summary(again, again_s),
        "ingest_rounds": ingests.rounds,
        "articles": {"before": start_articles, "after": end_articles},
        "server_memory": memory,
    }
    figures["p50_ratio_ingest_to_quiet"] = round(
        figures["during_ingest"]["latency"]["p50_ms"] / figures["quiet"]["latency"]["p50_ms"], 2
    )
    rss = {stage: m["rss_mb"] for stage, m in memory.items()}
    figures["rss_growth_mb"] = {
        "quiet_load": round(rss["after_quiet"] - rss["start"], 1),
        "load_during_ingests": round(rss["after_ingest_load"] - rss["after_quiet"], 1),
        "quiet_load_on_the_grown_index": round(rss["after_quiet_again"] - rss["after_ingest_load"], 1),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
