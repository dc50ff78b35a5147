"""What a small hostile input costs `newsdesk serve` and `newsdesk ingest` (issue "Hardening", item 4).

    python benchmarks/bounded_work.py [--code DIR] [--only NAMES] [--patience 60] [--json out.json]

Each scenario runs against a fresh `newsdesk serve --no-ui` child process on a tiny index (hashing model):
  files:       the 9 KB gzip of 3.1 million `{}` lines POSTed to /api/files, server defaults;
  files-all:   the same with NEWSDESK_MAX_RECORDS=10000000, so that every line is read;
  articles:    10 MiB of `[{},{},...]` (3.5 million objects) POSTed to /api/articles;
  newlines:    a gzip of 1 GiB of newlines (about 1 MB) POSTed to /api/files;
  disconnect:  files-all, the client leaving after 1 s: the server's CPU seconds in the 5 s after;
  sigterm:     files-all in flight, SIGTERM 1 s after it was sent: seconds until the server exits;
  cli:         `newsdesk ingest` of the 9 KB gzip into the tiny index: exit code, output, peak RSS (its
               VmHWM read while it runs).
For each request: status, reply bytes, whether the reply shows the server's upload folder, seconds, and
the server's peak RSS growth (its VmHWM reset through /proc/PID/clear_refs just before the request, less
its RSS then). A server that has not answered, or not exited, after --patience seconds is killed and the
figure is reported as over the patience.

--code DIR runs the server and the CLI from another checkout (through PYTHONPATH) with this environment,
to measure the code as it was before a change:
    git worktree add /tmp/before COMMIT && python benchmarks/bounded_work.py --code /tmp/before
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from index.embedding import HashingEmbedder
from rag.service import Newsdesk

SCENARIOS = ("files", "files-all", "articles", "newlines", "disconnect", "sigterm", "cli")
ALL_RECORDS = {"NEWSDESK_MAX_RECORDS": "10000000"}
KEY = "bench-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
TICKS = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


def braces_bomb() -> bytes:
    return gzip.compress(b"{}\n" * 3_100_000)


def newline_bomb(size: int = 1024 * MiB) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    block = b"\n" * MiB
    parts = [packer.compress(block) for _ in range(size // MiB)]
    return b"".join([*parts, packer.flush()])


def articles_bomb(size: int = 10 * MiB) -> bytes:
    count = (size - 2) // 3
    return b"[" + b",".join([b"{}"] * count) + b"]"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def code_env(code: Path | None, extra: Mapping[str, str] = {}) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_MAX_")}
    env.update(extra, NEWSDESK_API_KEY=KEY)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class Served:
    def __init__(self, index: Path, uploads: Path, code: Path | None, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "newsdesk_app.cli", "serve", "--no-ui", "--index", str(index)]
        command += ["--port", str(self.port)]
        environment = code_env(code, {**env, "NEWSDESK_UPLOAD_DIR": str(uploads)})
        self.process = subprocess.Popen(
            command, env=environment, cwd=code or None, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Settle what the first question and the first upload load lazily (spaCy, the embedding cache).
        httpx.post(f"{self.base}/api/ask", json={"question": "Where was the earthquake?"}, headers=HEADERS,
                   timeout=120)  # fmt: skip
        warm = json.dumps({"id": "warm", "text": "A ferry service resumed on Tuesday."}).encode() + b"\n"
        httpx.post(f"{self.base}/api/files", files=[("files", ("warm.jsonl", warm, "x"))], headers=HEADERS,
                   timeout=120)  # fmt: skip
        self.wait_idle()

    def wait_idle(self, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = cpu_seconds(self.pid)
            time.sleep(0.5)
            if cpu_seconds(self.pid) - before < 0.05:
                return

    def reset_peak(self) -> int:
        """The RSS now (KiB), with the high-water mark reset to it."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        return status_kib(self.pid, "VmRSS")

    def peak(self) -> int:
        return status_kib(self.pid, "VmHWM")

    def stop(self, patience: float) -> float | None:
        """Seconds from SIGTERM to exit, or None when it had not exited after `patience` (then killed)."""
        if self.process.poll() is not None:
            return 0.0
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
        return time.monotonic() - began


@contextlib.contextmanager
def served(work: Path, code: Path | None, env: Mapping[str, str] = {}) -> Iterator[tuple[Served, Path]]:
    index, uploads = work / f"index-{time.monotonic_ns()}", work / f"uploads-{time.monotonic_ns()}"
    quake = {"id": "quake", "text": "An earthquake shook the coast of Chile on Monday.", "title": "Quake"}
    corpus = work / "corpus.jsonl"
    corpus.write_text(json.dumps(quake) + "\n")
    Newsdesk(index, embedder=HashingEmbedder()).ingest([corpus])
    server = Served(index, uploads, code, env)
    try:
        yield server, uploads
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait()


def request_figures(
    server: Served, uploads: Path, send: Callable[[float], httpx.Response], patience: float
) -> dict[str, Any]:
    baseline = server.reset_peak()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["response"] = send(patience)
        except httpx.HTTPError as error:
            outcome["failure"] = type(error).__name__

    began = time.monotonic()
    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    sender.join(patience)
    seconds = time.monotonic() - began
    figures: dict[str, Any] = {"peak_rss_growth_mb": round((server.peak() - baseline) / 1024, 1)}
    response = outcome.get("response")
    if response is None:
        figures.update(status=outcome.get("failure", "no reply"), seconds=f"> {patience:.0f}")
        return figures
    figures.update(
        status=response.status_code,
        reply_bytes=len(response.content),
        shows_upload_folder=str(uploads.resolve()) in response.text,
        seconds=round(seconds, 2),
        error_head=response.text[:300],
    )
    return figures


def post_file(server: Served, name: str, data: bytes) -> Callable[[float], httpx.Response]:
    return lambda timeout: httpx.post(
        f"{server.base}/api/files", files=[("files", (name, data, "application/gzip"))], headers=HEADERS,
        timeout=timeout,
    )  # fmt: skip


def scenario(name: str, work: Path, code: Path | None, patience: float) -> dict[str, Any]:
    if name in ("files", "files-all"):
        with served(work, code, ALL_RECORDS if name == "files-all" else {}) as (server, uploads):
            figures = request_figures(
                server, uploads, post_file(server, "bomb.jsonl.gz", braces_bomb()), patience
            )
            figures["sigterm_exit_seconds"] = server.stop(patience)
            return figures
    if name == "articles":
        body = articles_bomb()
        with served(work, code) as (server, uploads):
            send = lambda timeout: httpx.post(  # noqa: E731
                f"{server.base}/api/articles", content=body, timeout=timeout,
                headers={**HEADERS, "Content-Type": "application/json"},
            )  # fmt: skip
            figures = request_figures(server, uploads, send, patience)
            figures["sigterm_exit_seconds"] = server.stop(patience)
            return figures
    if name == "newlines":
        with served(work, code) as (server, uploads):
            send = post_file(server, "newlines.jsonl.gz", newline_bomb())
            figures = request_figures(server, uploads, send, patience)
            figures["sigterm_exit_seconds"] = server.stop(patience)
            return figures
    if name == "disconnect":
        with served(work, code, ALL_RECORDS) as (server, _):
            left = request_figures(server, _, post_file(server, "bomb.jsonl.gz", braces_bomb()), 1.0)
            time.sleep(1.0)
            before = cpu_seconds(server.pid)
            time.sleep(5.0)
            busy = cpu_seconds(server.pid) - before
            return {"client": left["status"], "server_cpu_seconds_in_5_s_after": round(busy, 2),
                    "sigterm_exit_seconds": server.stop(patience)}  # fmt: skip
    if name == "sigterm":
        with served(work, code, ALL_RECORDS) as (server, _):
            data = braces_bomb()
            sender = threading.Thread(
                target=lambda: _ignore(post_file(server, "bomb.jsonl.gz", data), patience + 30), daemon=True
            )
            sender.start()
            time.sleep(1.0)
            exited = server.stop(patience)
            return {"sigterm_exit_seconds": round(exited, 2) if exited is not None else f"> {patience:.0f}"}
    if name == "cli":
        return cli_figures(work, code, patience)
    raise ValueError(f"unknown scenario {name!r}")


def _ignore(send: Callable[[float], httpx.Response], timeout: float) -> None:
    with contextlib.suppress(httpx.HTTPError):
        send(timeout)


def cli_peak_kib(pid: int) -> int:
    """VmHWM of the CLI child once it has exec'd (0 before, or once it has ended). Not its ru_maxrss:
    Linux carries into that the peak of the process it was forked from, this benchmark."""
    try:
        if b"newsdesk_app.cli" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return 0
        return status_kib(pid, "VmHWM")
    except (OSError, RuntimeError):
        return 0


def cli_figures(work: Path, code: Path | None, patience: float) -> dict[str, Any]:
    index = work / "cli-index"
    corpus = work / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "quake", "text": "An earthquake shook the coast of Chile."}) + "\n")
    Newsdesk(index, embedder=HashingEmbedder()).ingest([corpus])
    version = (index / "CURRENT").read_text()
    bomb = work / "bomb.jsonl.gz"
    bomb.write_bytes(braces_bomb())
    command = [sys.executable, "-m", "newsdesk_app.cli", "ingest", str(bomb), "--index", str(index)]
    began = time.monotonic()
    peak = 0
    with tempfile.TemporaryFile() as output:
        child = subprocess.Popen(command, env=code_env(code), cwd=code or None, stdout=output, stderr=output)
        deadline = time.monotonic() + patience
        while child.poll() is None and time.monotonic() < deadline:
            peak = max(peak, cli_peak_kib(child.pid))
            time.sleep(0.01)
        if child.poll() is None:
            child.kill()
            child.wait()
            return {"exit": f"killed after {patience:.0f} s", "peak_rss_mb": round(peak / 1024, 1)}
        seconds = time.monotonic() - began
        output.seek(0)
        text = output.read()
    return {
        "exit": child.returncode,
        "output_bytes": len(text),
        "peak_rss_mb": round(peak / 1024, 1),
        "seconds": round(seconds, 2),
        "index_unchanged": (index / "CURRENT").read_text() == version,
        "output_head": text[:300].decode(errors="replace"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--code", type=Path, default=None, help="Run the server and CLI from this checkout.")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="Comma-separated scenarios.")
    parser.add_argument(
        "--patience", type=float, default=60.0, help="Seconds to wait for a reply or an exit."
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    code = args.code.resolve() if args.code else None
    results: dict[str, Any] = {"code": str(code or Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryDirectory(prefix="newsdesk-bounded-") as folder:
        os.environ.setdefault("NEWSDESK_EMBEDDING_CACHE", str(Path(folder) / "embeddings.sqlite"))
        for name in args.only.split(","):
            began = time.monotonic()
            results[name] = scenario(name.strip(), Path(folder), code, args.patience)
            print(f"{name} ({time.monotonic() - began:.0f} s): {json.dumps(results[name])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
