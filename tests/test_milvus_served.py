"""An index read from the Milvus 2.5 engine alone (`--index milvus:URI#COLLECTION`, index.milvus_served):
the engine is started by each test on 127.0.0.1 with a fresh file; servers run with no index folder."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from index.embedding import HashingEmbedder
from index.errors import IndexStateError
from index.milvus_engine import LocalEngine, engine_binary, engine_folder
from newsdesk_app.cli.main import main
from rag.service import Newsdesk
from tests.conftest import DEMO_DIR, article
from tests.servers import free_port
from ui.app import _Handlers, example_questions

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
QUESTION = "Which provinces were struck by Russian jets?"

pytestmark = pytest.mark.skipif(
    engine_binary() is None,
    reason=f"the Milvus 2.5 engine is not installed in {engine_folder()} (scripts/install.sh)",
)


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str | Path, cwd: Path | None = None) -> Ran:
    """The command line, in this process (servers and the third writer get processes of their own)."""
    with contextlib.chdir(cwd) if cwd else contextlib.nullcontext():
        result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def cli_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "newsdesk_app.cli", *(str(a) for a in args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[LocalEngine]:
    with LocalEngine(tmp_path / "engine" / "milvus.db") as running:
        yield running


@pytest.fixture
def demo(tmp_path: Path, engine: LocalEngine) -> tuple[Path, str]:
    """The demo archive ingested into an index folder whose store is the engine; (folder, served location)."""
    folder = tmp_path / "index"
    store = f"milvus:{engine.uri}#demo"
    ingested = cli(
        "ingest", DEMO_DIR / "articles.jsonl", "--index", folder, "--model", "hashing", "--store", store
    )
    assert ingested.returncode == 0, ingested.stderr
    return folder, store


def test_ask_search_and_info_read_the_engine_alone_as_they_read_the_folder(
    tmp_path: Path, demo: tuple[Path, str]
) -> None:
    folder, served = demo
    away = tmp_path / "elsewhere"  # no index folder here, nor in the per-user place
    away.mkdir()
    answers = []
    for index in (folder, served):
        asked = cli("ask", QUESTION, "--index", index, "--json", cwd=away)
        assert asked.returncode == 0, asked.stderr
        answers.append(json.loads(asked.stdout))
    assert "Hama" in answers[1]["answer"] and answers[1]["citations"]
    assert (answers[1]["answer"], answers[1]["citations"]) == (answers[0]["answer"], answers[0]["citations"])
    cited = answers[1]["citations"][0]
    assert cited["source"] and cited["published_at"] and cited["title"]
    hits = json.loads(cli("search", "Hama Homs", "--index", served, "--json", "--since", "2015-01-01").stdout)
    assert hits["hits"] and all(h["published_at"] >= "2015" for h in hits["hits"])
    info = json.loads(cli("info", "--index", served, "--json").stdout)
    assert (info["index"], info["version"], info["articles"], info["chunks"]) == (served, "v000001", 39, 62)
    assert "BM25" in info["vector_search"] and info["versions"][0]["chunks"] == 62
    shown = cli("info", "--index", served)
    assert shown.returncode == 0 and "(in the Milvus engine)" in shown.stdout, shown.stderr
    assert "NEWSDESK_KEEP_VERSIONS" not in shown.stdout  # a setting of folders, not of the engine


def test_an_article_is_rebuilt_whole_from_its_chunks(demo: tuple[Path, str]) -> None:
    folder, served = demo
    local, remote = Newsdesk(folder, embedder=HashingEmbedder()), Newsdesk(served, embedder=HashingEmbedder())
    ids = [h.passage.article_id for h in local.search("provinces struck", k=5)]
    assert ids
    for article_id in ids:
        original, rebuilt = local.article(article_id), remote.article(article_id)
        assert original is not None and rebuilt is not None
        assert (rebuilt.text, rebuilt.title, rebuilt.source) == (
            original.text,
            original.title,
            original.source,
        )
    assert remote.article("no-such-article") is None


def test_eval_on_the_engine_alone_gives_the_folder_s_figures(tmp_path: Path, demo: tuple[Path, str]) -> None:
    folder, served = demo
    reports = []
    for name, index in (("folder", folder), ("served", served)):
        evaluated = cli("eval", DEMO_DIR / "gold.jsonl", "--index", index, "--out", tmp_path / name)
        assert evaluated.returncode == 0, evaluated.stderr
        reports.append(json.loads((tmp_path / name / "report.json").read_text(encoding="utf-8")))
    quality = [n for n, m in reports[0]["metrics"].items() if "latency" not in n and "per_second" not in n]
    assert quality and all(reports[1]["metrics"][n] == reports[0]["metrics"][n] for n in quality)
    fields = ("retrieved_article_ids", "answer", "short_answer", "citations")
    assert [[r[f] for f in fields] for r in reports[1]["records"]] == [
        [r[f] for f in fields] for r in reports[0]["records"]
    ]


def test_writes_to_the_engine_alone_are_refused_by_name(tmp_path: Path, demo: tuple[Path, str]) -> None:
    _, served = demo
    for command in (("ingest", DEMO_DIR / "articles.jsonl"), ("delete", "x"), ("check",)):
        refused = cli(*command, "--index", served, cwd=tmp_path)
        assert refused.returncode == 2 and "give the index folder that writes it" in refused.stderr
    assert not any(p.name.startswith("milvus") for p in tmp_path.iterdir())  # no folder named after it
    with pytest.raises(IndexStateError, match="no index folder"):
        Newsdesk(served, embedder=HashingEmbedder()).ingest([DEMO_DIR / "articles.jsonl"])


def test_a_collection_with_no_version_announced_is_named(engine: LocalEngine) -> None:
    nothing = cli("ask", QUESTION, "--index", f"milvus:{engine.uri}#empty")
    assert nothing.returncode == 1 and "has announced no version of 'empty'" in nothing.stderr


def _serve(location: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "newsdesk_app.cli", "serve", "--index", location, "--no-ui"]
    env = {**os.environ, "NEWSDESK_ANSWER_CACHE": "0"}
    return subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _serving(base: str, wanted: str, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            health = httpx.get(f"{base}/health", timeout=5).json()
            if health["status"] == "ready" and health["version"] == wanted:
                return
        time.sleep(0.05)
    raise AssertionError(f"{base} did not serve {wanted} in {limit_s:.0f} s")


def test_two_servers_with_no_index_folder_answer_alike_and_see_a_third_process_ingest(
    tmp_path: Path, demo: tuple[Path, str], write_jsonl: Writer
) -> None:
    folder, served = demo
    ports = [free_port(), free_port()]
    servers = [_serve(served, port) for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            _serving(base, "v000001")
        answers = [httpx.post(f"{b}/api/ask", json={"question": QUESTION}, timeout=60).json() for b in bases]
        assert "Hama" in answers[0]["answer"] and answers[0]["citations"]
        assert (answers[1]["answer"], answers[1]["citations"]) == (
            answers[0]["answer"],
            answers[0]["citations"],
        )
        assert httpx.get(f"{bases[0]}/health", timeout=5).json()["index"] == served
        cranes = [article("cranes", "Harbour cranes taller than any before arrived in Rotterdam.")]
        third = cli_process("ingest", write_jsonl("more.jsonl", cranes), "--index", folder)  # a third process
        assert third.returncode == 0, third.stderr
        for base in bases:
            _serving(base, "v000002")
            hits = httpx.post(f"{base}/api/search", json={"query": "harbour cranes Rotterdam"}, timeout=30)
            assert hits.json()["hits"][0]["article_id"] == "cranes"
        upload = httpx.post(f"{bases[0]}/api/articles", json=cranes, timeout=30)
        assert upload.status_code >= 400 and "index folder" in upload.text
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)


def test_the_web_chat_on_the_engine_alone_suggests_recent_titles_and_streams_a_follow_up(
    demo: tuple[Path, str],
) -> None:
    folder, served = demo
    remote = Newsdesk(served, embedder=HashingEmbedder())
    local = Newsdesk(folder, embedder=HashingEmbedder())
    assert example_questions(remote, 3) == example_questions(local, 3) and example_questions(remote, 3)
    handlers = _Handlers(remote, examples=2, max_files=3)
    steps = list(handlers.ask(QUESTION, [], "", "", [], 5))
    assert len(steps) > 3
    *_, (_, turns, panel, _) = steps
    assert "Hama" in turns[1].content and "<mark>" in panel
    *_, (_, turns, panel, _) = handlers.ask("Who approved them?", turns, "", "", [], 5)
    assert len(turns) == 4 and "Read as:" in panel


def test_a_repair_that_rolls_back_rolls_back_the_servers_on_the_engine_too(
    demo: tuple[Path, str], write_jsonl: Writer
) -> None:
    folder, served = demo
    cranes = [article("cranes", "Harbour cranes taller than any before arrived in Rotterdam.")]
    assert cli("ingest", write_jsonl("more.jsonl", cranes), "--index", folder).returncode == 0
    remote = Newsdesk(served, embedder=HashingEmbedder())
    assert remote.snapshot().version == "v000002" and remote.article("cranes") is not None
    (folder / "versions" / "v000002" / "catalog.sqlite").write_bytes(b"not a database")
    repaired = cli("check", "--index", folder, "--repair")
    assert repaired.returncode == 0 and "CURRENT now names v000001" in repaired.stdout, repaired.stdout
    assert remote.snapshot().version == "v000001" and remote.article("cranes") is None
    assert remote.ask(QUESTION).citations
