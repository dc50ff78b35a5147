"""Small measuring tools shared by the benchmark stages."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(values_ms: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values_ms, 0.5), 2), "p95_ms": round(percentile(values_ms, 0.95), 2)}


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def rss_bytes() -> int:
    """Resident memory of this process now (file-backed pages it has touched included)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        resident = int(handle.read().split()[1])
    return resident * os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post_json(url: str, body: Mapping[str, Any], timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return int(error.code), {}
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}


class Server:
    """`newsdesk serve` in a child process on a free loopback port; stopped on exit."""

    def __init__(
        self, index_dir: Path, *, ui: bool, env: Mapping[str, str] | None = None, workers: int = 1
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "newsdesk_app.cli", "serve", "--index", str(index_dir)]
        self.command += ["--host", "127.0.0.1", "--port", str(self.port), *([] if ui else ["--no-ui"])]
        self.command += ["--workers", str(workers)]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def __enter__(self) -> Server:
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return self

    def first_answer(self, question: str, limit_s: float = 120.0) -> float:
        """Seconds from start until /api/ask first answers 200."""
        assert self.process is not None
        while time.perf_counter() - self.started < limit_s:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"newsdesk serve exited with {self.process.returncode}: {error[-2000:]}")
            status, _ = post_json(f"{self.url}/api/ask", {"question": question}, timeout=30)
            if status == 200:
                return time.perf_counter() - self.started
            time.sleep(0.05)
        raise RuntimeError(f"newsdesk serve did not answer within {limit_s:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
