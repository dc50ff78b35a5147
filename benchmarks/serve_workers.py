"""Queries/s of `newsdesk serve --no-ui --workers N` for each N, against one index, in one run.

    python benchmarks/serve_workers.py [--workers 1,2] [--requests 600] [--clients 16] [--rounds 2]
                                       [--index DIR] [--json out.json]

The load is benchmarks/load.py's quiet phase: concurrent clients with keep-alive connections on
loopback, questions from the demo gold set, alternating /api/ask and /v1/chat/completions, the answer
cache off so every request is answered afresh. Each round starts a server for every N in turn (rounds
interleave, so a shared machine's drift falls on each alike), waits until /health has been answered by
N distinct ready processes, warms every code path, then measures. Reported per N: requests/s, latency and
success rate of every round, the best round's requests/s, and the processes' memory: resident (RSS) and
proportional (PSS, where pages shared between the workers, such as the memory-mapped index, count once).
Without --index, the demo archive is built in a temporary folder with the default model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from load import questions_from, run_load, summary

from eval.bench.measure import Server, ratio
from eval.bench.startup_stage import build_demo_index

DEMO_GOLD = Path(__file__).resolve().parents[1] / "rag" / "demo" / "gold.jsonl"


def wait_for_workers(url: str, workers: int, limit_s: float = 180) -> None:
    """Until /health, asked on a new connection each time, has come from `workers` ready processes."""
    ready: set[int] = set()
    deadline = time.monotonic() + limit_s
    while len(ready) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ready)} of {workers} workers ready after {limit_s:.0f} s")
        try:
            health = httpx.get(f"{url}/health", timeout=10).json()
            if health["status"] == "ready":
                ready.add(int(health["pid"]))
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def memory_mb(root: int) -> dict[str, float]:
    """RSS and PSS summed over the server and its worker processes, in MB."""
    totals = {"rss_mb": 0.0, "pss_mb": 0.0}
    for pid in process_tree(root):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(":")
            if name in ("Rss", "Pss"):
                totals[f"{name.lower()}_mb"] += int(value.split()[0]) / 1024
    return {name: round(value, 1) for name, value in totals.items()}


def measure(
    index_dir: Path, workers: int, questions: list[str], requests: int, clients: int
) -> dict[str, Any]:
    with Server(index_dir, ui=False, env={"NEWSDESK_ANSWER_CACHE": "0"}, workers=workers) as server:
        assert server.process is not None
        wait_for_workers(server.url, workers)
        run_load(server.url, questions, 8 * clients, clients)  # warm every code path in every worker
        results, seconds = run_load(server.url, questions, requests, clients)
        return {"workers": workers, **summary(results, seconds), "memory": memory_mb(server.process.pid)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to serve with, comma-separated")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--index", type=Path, default=None, help="an index to serve (default: the demo)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    questions = questions_from(DEMO_GOLD)
    runs: dict[str, list[dict[str, Any]]] = {f"workers_{n}": [] for n in counts}
    with tempfile.TemporaryDirectory(prefix="newsdesk-serve-workers-") as work:
        if args.index is None:
            index_dir = build_demo_index(Path(work))
        else:
            index_dir = Path(work) / "index"
            subprocess.run(["cp", "-r", str(args.index), str(index_dir)], check=True)
        for round_number in range(args.rounds):
            for n in counts:
                runs[f"workers_{n}"].append(measure(index_dir, n, questions, args.requests, args.clients))
                figures = runs[f"workers_{n}"][-1]
                print(
                    f"round {round_number + 1}, {n} worker(s): {figures['requests_per_s']} requests/s, "
                    f"p50 {figures['latency']['p50_ms']} ms",
                    file=sys.stderr,
                )
    best = {name: max(run["requests_per_s"] for run in done) for name, done in runs.items()}
    first = f"workers_{counts[0]}"
    report = {
        "index": str(args.index or "demo"),
        "clients": args.clients,
        "requests": args.requests,
        "rounds": args.rounds,
        "runs": runs,
        "best_requests_per_s": best,
        "speedup_vs_first": {name: ratio(value, best[first]) for name, value in best.items()},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
