"""A small input cannot make a large amount of work (issue "Hardening", item 4): 9 KB of gzip holding
3.1 million `{}` lines, 1 MB holding 1 GiB of newlines, or 10 MiB of `[{},...]` once grew the server by
gigabytes, answered with replies of hundreds of megabytes that showed the server's upload folder, kept a
core busy after the client had left and held off SIGTERM. Problems are now listed up to 20 and counted;
files are named by their client's name; a file's decompressed size and a request's records are capped;
and the work stops when its client leaves or the server is told to stop, with nothing written."""

from __future__ import annotations

import gzip
import io
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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

import index.loaders
from index.embedding import HashingEmbedder
from index.loaders import load_paths
from newsdesk_app.cli.main import main
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.service import Newsdesk
from tests.conftest import article
from tests.servers import free_port
from tests.test_shutdown import STOPPED_BY_SIGTERM

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
KEY = {"Authorization": "Bearer full"}
BRACES = 3_100_000  # lines of `{}`: 9 KB of gzip
SMALL_REPLY = 64 * 1024
MiB = 1024 * 1024


def braces_gzip(lines: int = BRACES) -> bytes:
    return gzip.compress(b"{}\n" * lines)


def newlines_gzip(size: int) -> bytes:
    """`size` bytes of newlines, gzipped a MiB at a time (1,000 to 1)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    block = b"\n" * MiB
    return b"".join([*(packer.compress(block) for _ in range(size // MiB)), packer.flush()])


def jsonl(records: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.fixture
def desk(tmp_path: Path, write_jsonl: Writer) -> Newsdesk:
    service = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    quake = article("quake", "An earthquake shook the coast of Chile on Monday.")
    service.ingest([write_jsonl("news.jsonl", [quake])])
    return service


def client_for(desk: Newsdesk, uploads: Path, **limits: Any) -> TestClient:
    server = ServerSettings(ui=False, api_keys=("full",), upload_dir=str(uploads), **limits)
    return TestClient(create_app(desk, server, load_now=True), headers=KEY)


def upload(client: TestClient, name: str, data: bytes, query: str = "") -> Any:
    return client.post(f"/api/files{query}", files=[("files", (name, data, "application/octet-stream"))])


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- in the server's process ---------------------------------------------------------------------------


def test_the_9_kb_gzip_of_3_million_empty_records_stops_at_the_record_limit_with_a_small_reply(
    tmp_path: Path, desk: Newsdesk
) -> None:
    uploads = tmp_path / "uploads"
    before = desk.info()["version"]
    response = upload(client_for(desk, uploads), "bomb.jsonl.gz", braces_gzip())
    assert response.status_code == 413, response.text[:500]
    assert len(response.content) < SMALL_REPLY
    body = response.json()
    assert body["error"].startswith("bomb.jsonl.gz:100001: more than 100000 records in one ingest")
    assert "(NEWSDESK_MAX_RECORDS); nothing was written" in body["error"]
    assert "100000 of the records read before it could not be read" in body["error"]
    assert body["detail"][0]["field"] == "bomb.jsonl.gz:100001"
    assert [d["field"] for d in body["detail"][1:]] == [f"bomb.jsonl.gz:{n}" for n in range(1, 21)]
    assert str(tmp_path) not in response.text
    assert files_under(uploads) == [] and desk.info()["version"] == before


def test_bad_records_are_named_up_to_twenty_by_the_uploaded_name_and_all_counted(
    tmp_path: Path, desk: Newsdesk
) -> None:
    uploads = tmp_path / "uploads"
    client = client_for(desk, uploads)
    data = b'{"id": "x", "text": 5}\n' * 5000 + jsonl([article("bridge", "The old bridge reopened.")])
    refused = upload(client, "news.jsonl", data)
    assert refused.status_code == 422 and len(refused.content) < SMALL_REPLY
    assert refused.json()["error"].startswith("5000 record(s) could not be read; nothing was written")
    assert (
        "news.jsonl:20: field 'text' must be a string, got int\n  ... and 4980 more"
        in refused.json()["error"]
    )
    assert [d["field"] for d in refused.json()["detail"]] == [f"news.jsonl:{n}" for n in range(1, 21)]
    skipped = upload(client, "news.jsonl", data, "?skip_errors=true")
    assert skipped.status_code == 200 and len(skipped.content) < SMALL_REPLY
    assert skipped.json()["ids"] == ["bridge"] and skipped.json()["skipped_count"] == 5000
    assert [s["origin"] for s in skipped.json()["skipped"]] == [f"news.jsonl:{n}" for n in range(1, 21)]
    assert str(tmp_path) not in refused.text + skipped.text
    # Kept under the name the client gave it, only the reply leaves out where.
    assert [p.name for p in files_under(uploads)] == ["news.jsonl"]


def test_records_posted_as_json_are_capped_and_their_problems_counted(tmp_path: Path, desk: Newsdesk) -> None:
    client = client_for(desk, tmp_path / "uploads", max_records=1000)
    over = client.post("/api/articles", json=[{}] * 1001)
    assert over.status_code == 413
    assert over.json()["error"] == (
        "articles: 1001 records is over the limit of 1000 (NEWSDESK_MAX_RECORDS); nothing was written"
    )
    bad = client.post("/api/articles", json=[{}] * 1000)
    assert bad.status_code == 422 and len(bad.content) < SMALL_REPLY
    assert bad.json()["error"].startswith("1000 record(s) could not be read")
    assert len(bad.json()["detail"]) == 20
    skipped = client.post("/api/articles?skip_errors=true", json=[{}] * 999 + [article("ok", "Fine text.")])
    assert skipped.status_code == 200 and skipped.json()["ids"] == ["ok"]
    assert skipped.json()["skipped_count"] == 999 and len(skipped.json()["skipped"]) == 20


def test_ten_mib_of_empty_objects_is_refused_with_a_small_reply(tmp_path: Path, desk: Newsdesk) -> None:
    body = b"[" + b",".join([b"{}"] * (10 * MiB // 3 - 1)) + b"]"
    response = client_for(desk, tmp_path / "uploads").post(
        "/api/articles", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and len(response.content) < SMALL_REPLY
    assert "is over the limit of 100000 (NEWSDESK_MAX_RECORDS)" in response.json()["error"]


def test_a_file_larger_than_the_decompressed_limit_stops_there_blank_lines_included(
    tmp_path: Path, desk: Newsdesk
) -> None:
    uploads = tmp_path / "uploads"
    client = client_for(desk, uploads, max_decompressed_bytes=8 * MiB)
    before = desk.info()["version"]
    blank = newlines_gzip(200 * MiB)  # about 200 KB
    story = article("long", "A long report on the harbour. " * 100)
    cases = [
        ("newlines.jsonl.gz", blank),
        ("stories.jsonl.gz", gzip.compress(jsonl([story] * 3000))),  # 9 MB of records unpacked
        ("stories.jsonl", jsonl([story] * 3000)),  # the same, not compressed
    ]
    for name, data in cases:
        response = upload(client, name, data)
        assert response.status_code == 413, (name, response.text[:300])
        assert response.json()["error"] == (
            f"{name}: more than {8 * MiB} bytes in one file (decompressed) "
            "(NEWSDESK_MAX_DECOMPRESSED_BYTES); nothing was written"
        )
    assert files_under(uploads) == [] and desk.info()["version"] == before
    # Under the limit, blank lines are stepped over and what follows them keeps its line number.
    lines = b"\n" * (4 * MiB) + jsonl([article("late", "A story after many blank lines.")])
    response = upload(client, "late.jsonl.gz", gzip.compress(lines))
    assert response.status_code == 200 and response.json()["ids"] == ["late"]
    assert desk.article("late") is not None


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from([b"\n", b" ", b"\t", b"\r\n", b"{}", b"x", b"\xc2\xa0", b"\f"]), max_size=60
    ),
    block=st.integers(1, 9),
)
def test_lines_read_a_block_at_a_time_are_the_lines_read_one_by_one(pieces: list[bytes], block: int) -> None:
    data = b"".join(pieces)
    expected = [(n, line) for n, line in enumerate(io.BytesIO(data), start=1) if line.strip(b" \t\n\r\f\v")]
    lines = index.loaders.streaming._numbered_lines(io.BytesIO(data), "x", None, block_size=block)
    assert list(lines) == expected


def test_a_set_cancel_event_stops_a_load(tmp_path: Path) -> None:
    path = tmp_path / "news.jsonl"
    path.write_bytes(jsonl([article("a", "Text.")]))
    cancel = threading.Event()
    assert len(load_paths([path], cancel=cancel).articles) == 1
    cancel.set()
    with pytest.raises(index.loaders.Cancelled, match="nothing was written"):
        load_paths([path], cancel=cancel)


# --- the command line ----------------------------------------------------------------------------------


def peak_kib(pid: int) -> int:
    """The VmHWM of a `newsdesk` child once it runs as one (0 before it has exec'd, or once it has ended).
    Not its ru_maxrss: Linux carries into that the peak of the process it was forked from (this one)."""
    try:
        if b"newsdesk_app.cli" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return 0
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return max((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), default=0)


def run_cli(*args: str | Path) -> tuple[int, bytes, float]:
    """Exit code, output, and peak resident memory in MB of `newsdesk ARGS` in a child process."""
    with tempfile.TemporaryFile() as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "newsdesk_app.cli", *map(str, args)], stdout=output, stderr=output
        )
        peak = 0
        while child.poll() is None:
            peak = max(peak, peak_kib(child.pid))
            time.sleep(0.01)
        output.seek(0)
        return child.returncode, output.read(), peak / 1024


def test_the_cli_reads_the_9_kb_gzip_in_bounded_memory_and_names_twenty_problems_and_the_count(
    tmp_path: Path, desk: Newsdesk, write_jsonl: Writer
) -> None:
    before = desk.info()["version"]
    small = write_jsonl("small.jsonl", [article("small", "A short report.")])
    code, _, baseline = run_cli("ingest", small, "--index", desk.index_dir)
    assert code == 0
    version = desk.info()["version"]
    assert version != before
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(braces_gzip())
    code, output, peak = run_cli("ingest", bomb, "--index", desk.index_dir)
    text = output.decode()
    assert code == 1, text[-2000:]
    assert len(output) < SMALL_REPLY
    assert f"error: {BRACES} record(s) could not be read; nothing was written" in text
    assert (
        f"bomb.jsonl.gz:20: missing field 'text' (or 'content'/'body')\n  ... and {BRACES - 20} more" in text
    )
    assert "bomb.jsonl.gz:21:" not in text
    assert peak < baseline + 150, f"peak {peak:.0f} MB against {baseline:.0f} MB for one article"
    assert desk.info()["version"] == version


def test_the_cli_has_flags_for_the_limits(tmp_path: Path, desk: Newsdesk, write_jsonl: Writer) -> None:
    before = desk.info()["version"]
    many = write_jsonl("many.jsonl", [article(f"a{n}", f"Story {n}.") for n in range(11)])
    result = CliRunner().invoke(
        main, ["ingest", str(many), "--index", str(desk.index_dir), "--max-records", "10"]
    )
    assert result.exit_code == 1
    assert (
        "many.jsonl:11: more than 10 records in one ingest (--max-records); nothing was written"
        in result.output
    )
    blank = tmp_path / "blank.jsonl.gz"
    blank.write_bytes(newlines_gzip(4 * MiB))
    args = ["ingest", str(blank), "--index", str(desk.index_dir), "--max-decompressed-bytes", str(MiB)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"more than {MiB} bytes in one file (decompressed) (--max-decompressed-bytes)" in result.output
    assert desk.info()["version"] == before
    help_text = CliRunner().invoke(main, ["ingest", "--help"]).output
    assert "--max-records" in help_text and "--max-decompressed-bytes" in help_text


# --- a real server -------------------------------------------------------------------------------------


class Server:
    """`newsdesk serve --no-ui` in a child process, its uploads in `uploads`."""

    def __init__(self, index: Path, uploads: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.uploads = uploads
        command = [sys.executable, "-m", "newsdesk_app.cli", "serve", "--no-ui", "--index", str(index)]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_MAX_")}
        environment.update(env, NEWSDESK_UPLOAD_DIR=str(uploads))
        for name in ("NEWSDESK_API_KEY", "NEWSDESK_READONLY_API_KEY"):
            environment.pop(name, None)
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def status_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field}")

    def uploaded(self) -> list[Path]:
        return files_under(self.uploads)

    def wait_for(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    def stop(self) -> float:
        """Seconds from SIGTERM until it exited (asserting it exited by SIGTERM)."""
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) in STOPPED_BY_SIGTERM
        return time.monotonic() - began

    def output(self) -> str:
        return self.process.stdout.read() if self.process.stdout else ""


@pytest.fixture
def serve(desk: Newsdesk, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Server]]:
    started: list[Server] = []

    def start(env: dict[str, str]) -> Server:
        started.append(Server(desk.index_dir, tmp_path / "uploads", env))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=10)


def multipart(name: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    request = httpx.Request("POST", "http://x/api/files", files=[("files", (name, data, "application/gzip"))])
    return request.read(), {k: v for k, v in request.headers.items() if k.lower() != "host"}


def test_a_server_reading_the_whole_9_kb_gzip_grows_by_little_and_answers_in_a_few_kilobytes(
    serve: Callable[[dict[str, str]], Server], desk: Newsdesk
) -> None:
    server = serve({"NEWSDESK_MAX_RECORDS": "10000000"})  # so that every line is read
    # What the first question and the first upload load (spaCy, the embedding cache) is not the bomb's.
    assert httpx.post(f"{server.base}/api/ask", json={"question": "Where?"}, timeout=60).status_code == 200
    warm = jsonl([article("warm", "A ferry service resumed on Tuesday.")])
    assert httpx.post(f"{server.base}/api/files", files=[("files", ("warm.jsonl", warm, "x"))]).is_success
    Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")  # the peak starts again from here
    baseline = server.status_kib("VmRSS")
    response = httpx.post(
        f"{server.base}/api/files", files=[("files", ("bomb.jsonl.gz", braces_gzip(), "x"))], timeout=300
    )
    growth_mb = (server.status_kib("VmHWM") - baseline) / 1024
    assert response.status_code == 422 and len(response.content) < SMALL_REPLY
    assert response.json()["error"].startswith(f"{BRACES} record(s) could not be read; nothing was written")
    assert f"... and {BRACES - 20} more" in response.json()["error"]
    assert str(server.uploads) not in response.text and "bomb.jsonl.gz:1:" in response.text
    assert growth_mb < 200, f"the server grew by {growth_mb:.0f} MB"  # 3,800 MB before
    print(f"server peak growth {growth_mb:.1f} MB, reply {len(response.content)} bytes")


def test_a_client_that_leaves_stops_the_work_and_the_index_is_as_it_was(
    serve: Callable[[dict[str, str]], Server], desk: Newsdesk
) -> None:
    before = desk.info()["version"]
    server = serve({"NEWSDESK_MAX_RECORDS": "100000000"})
    body, headers = multipart("bomb.jsonl.gz", braces_gzip(10 * BRACES))  # a minute of reading, at least
    head = f"POST /api/files HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as client:
        client.sendall(head.encode() + body)
        server.wait_for(lambda: bool(server.uploaded()), 30, "the upload was never saved")
        time.sleep(0.5)  # reading
    # The work stops at its next record and discards the upload; it would otherwise read for a minute.
    server.wait_for(lambda: not server.uploaded(), 10, "the work went on after its client left")
    assert httpx.get(f"{server.base}/health", timeout=5).status_code == 200
    assert server.stop() < 10
    assert desk.info()["version"] == before


def test_sigterm_stops_an_upload_being_read_within_seconds(
    serve: Callable[[dict[str, str]], Server], desk: Newsdesk
) -> None:
    before = desk.info()["version"]
    server = serve({"NEWSDESK_MAX_RECORDS": "100000000"})  # the default grace: 5 s
    data = braces_gzip(10 * BRACES)
    with ThreadPoolExecutor(max_workers=1) as pool:
        sent = pool.submit(
            httpx.post,
            f"{server.base}/api/files",
            files=[("files", ("bomb.jsonl.gz", data, "x"))],
            timeout=300,
        )
        server.wait_for(lambda: bool(server.uploaded()), 30, "the upload was never saved")
        seconds = server.stop()
        response = sent.result(timeout=60)
    assert seconds < 10, f"exited {seconds:.1f} s after SIGTERM"
    assert response.status_code == 503, response.text
    assert response.json()["error"].endswith("nothing was written")
    assert "Traceback" not in server.output()
    assert server.uploaded() == [] and desk.info()["version"] == before
    print(f"exited {seconds:.2f} s after SIGTERM")
