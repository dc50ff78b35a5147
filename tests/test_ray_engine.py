"""The Ray engine on a local cluster (one per module, two CPUs) against the local engine: the same chunks
and vectors, the same errors for bad input, and an index that answers with citations."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from index.archive import IndexDirectory
from index.embedding import HashingEmbedder
from index.ingest import IngestAborted, IngestOptions, ingest
from index.milvus_engine import LocalEngine, engine_binary, engine_folder
from index.milvus_store import MilvusStore
from index.ray_engine import INSTALL_HINT, RayEngine, RayEngineError
from index.records import Chunk
from newsdesk_app.cli.main import main
from rag.service import Newsdesk
from tests.conftest import DEMO_DIR, article

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
DEMO = DEMO_DIR / "articles.jsonl"
QUESTION = "Which provinces did the first Russian air strikes in Syria hit?"

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason=f"Ray is not installed ({INSTALL_HINT})"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local cluster for the module: starting one costs ~4 s. Engines reuse it and leave it up."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield
    finally:
        ray.shutdown()


def indexed(index: Path) -> tuple[list[Chunk], list[str], np.ndarray]:
    snapshot = IndexDirectory(index).open()
    try:
        chunks = snapshot.local_catalog().chunks_in_row_order()
        return chunks, snapshot.local_catalog().embed_keys(), snapshot.vectors.vectors().copy()
    finally:
        snapshot.close()


def assert_same_index(local: Path, distributed: Path) -> None:
    local_chunks, local_keys, local_vectors = indexed(local)
    ray_chunks, ray_keys, ray_vectors = indexed(distributed)
    assert [c.id for c in ray_chunks] == [c.id for c in local_chunks]
    assert ray_chunks == local_chunks  # texts, offsets, ordinals and token counts too
    assert ray_keys == local_keys
    assert ray_vectors.shape == local_vectors.shape
    assert np.abs(ray_vectors - local_vectors).max() <= 1e-5


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@needs_ray
@pytest.mark.model
@pytest.mark.usefixtures("cluster")
def test_two_ray_workers_with_the_bundled_model_write_the_local_engines_chunks_and_vectors(
    tmp_path: Path,
) -> None:
    options = IngestOptions(embedding_cache=False)  # else the second run would read the first's vectors
    local = ingest(tmp_path / "local", [DEMO], options)
    progress: list[tuple[int, int, int, int]] = []
    with RayEngine(workers=2) as engine:
        distributed = ingest(
            tmp_path / "ray", [DEMO], options, engine=engine, progress=lambda *a: progress.append(a)
        )
    assert sorted(distributed.added) == sorted(local.added) and len(local.added) == 39
    assert distributed.chunks_embedded == local.chunks_embedded > 39
    assert_same_index(tmp_path / "local", tmp_path / "ray")
    chunks = distributed.chunks_embedded
    assert progress[-1] == (chunks, chunks, 39, 39)
    assert all(
        done <= total and articles_done <= articles for done, total, articles_done, articles in progress
    )


@needs_ray
@pytest.mark.usefixtures("cluster")
def test_an_update_reuses_the_same_vectors_and_embeds_the_same_new_chunks(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    paragraphs = [f"Paragraph {i} tells of event number {i} in the city of Testville." * 6 for i in range(6)]
    first = write_jsonl("a.jsonl", [article("long", "\n\n".join(paragraphs)), article("wire", "Copied.")])
    paragraphs[-1] = "A corrected last paragraph about something else entirely."
    second = write_jsonl("b.jsonl", [article("long", "\n\n".join(paragraphs)), article("new", "Fresh.")])
    options = IngestOptions(embedding_cache=False)
    reports = {}
    with RayEngine(workers=1, batch_size=2) as engine:  # several batches through one actor
        for name, chosen in (("local", None), ("ray", engine)):
            ingest(tmp_path / name, [first], options, embedder=HashingEmbedder(), engine=chosen)
            reports[name] = ingest(
                tmp_path / name, [second], options, embedder=HashingEmbedder(), engine=chosen
            )
    assert (reports["ray"].updated, reports["ray"].added) == (["long"], ["new"])
    assert reports["ray"].chunks_embedded == reports["local"].chunks_embedded
    assert 0 < reports["ray"].chunks_embedded < reports["ray"].chunks_written
    assert_same_index(tmp_path / "local", tmp_path / "ray")


@needs_ray
@pytest.mark.usefixtures("cluster")
def test_the_cli_with_engine_ray_builds_an_index_that_answers_with_citations(tmp_path: Path) -> None:
    index = tmp_path / "index"
    result = run(
        "ingest", DEMO, "--index", index, "--model", "hashing", "--engine", "ray", "--ray-workers", "2"
    )
    assert result.exit_code == 0, result.output
    assert "added 39" in result.output
    answer = json.loads(run("ask", QUESTION, "--index", index, "--json").output)
    assert answer["answered"] and answer["citations"]
    assert any("Syria" in c["title"] for c in answer["citations"])


@needs_ray
@pytest.mark.usefixtures("cluster")
def test_bad_input_stops_the_ray_engine_with_the_local_engines_error_and_keeps_the_version(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    index = tmp_path / "index"
    assert run("ingest", DEMO, "--index", index, "--model", "hashing", "--engine", "ray").exit_code == 0
    version = IndexDirectory(index).current_version()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(article("a", "Fine text here.")) + '\n{"id": "b", "text": 5}\n', encoding="utf-8"
    )
    local = run("ingest", bad, "--index", index)
    distributed = run("ingest", bad, "--index", index, "--engine", "ray")
    assert distributed.exit_code == local.exit_code == 1
    assert distributed.output == local.output and "bad.jsonl:2" in local.output and "'text'" in local.output
    assert IndexDirectory(index).current_version() == version
    with RayEngine() as engine, pytest.raises(IngestAborted, match=r"bad\.jsonl:2"):
        Newsdesk(index).ingest([bad], engine=engine)
    assert Newsdesk(index).info()["articles"] == 39


class UnknownToWorkers(HashingEmbedder):
    """A model the driver has but the cluster's workers cannot build from its name."""

    def __init__(self) -> None:
        super().__init__()
        self.name = "no-such-model"


@needs_ray
@pytest.mark.usefixtures("cluster")
def test_a_worker_that_cannot_load_the_model_stops_the_ingest_with_its_reason(tmp_path: Path) -> None:
    with RayEngine() as engine, pytest.raises(RayEngineError, match=r"nothing was written.*'no-such-model'"):
        ingest(tmp_path / "index", [DEMO], embedder=UnknownToWorkers(), engine=engine)
    assert not IndexDirectory(tmp_path / "index").exists()


@needs_ray
@pytest.mark.usefixtures("cluster")
def test_more_workers_than_the_cluster_has_cpus_is_refused_before_any_work(tmp_path: Path) -> None:
    with RayEngine(workers=3) as engine, pytest.raises(RayEngineError, match="3 Ray workers need 3 CPUs"):
        ingest(tmp_path / "index", [DEMO], embedder=HashingEmbedder(), engine=engine)
    assert not IndexDirectory(tmp_path / "index").exists()


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: importing it raises ImportError
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(RayEngineError, match=r"pip install 'newsdesk\[scale\]'"):
        RayEngine()


def test_ray_options_need_engine_ray(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", str(DEMO), "--index", str(tmp_path), "--ray-workers", "2"])
    assert result.exit_code == 2 and "--ray-workers need --engine ray" in result.output


@needs_ray
def test_a_cluster_address_nothing_answers_at_is_named_at_once(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"  # bound but not listening: refused
        result = run(
            "ingest",
            DEMO,
            "--index",
            tmp_path,
            "--model",
            "hashing",
            "--engine",
            "ray",
            "--ray-address",
            address,
        )
    assert result.exit_code == 1 and f"cannot reach the Ray cluster at {address}" in result.output
    assert not IndexDirectory(tmp_path).exists()


@needs_ray
@pytest.mark.usefixtures("cluster")
def test_ray_ingest_writes_straight_into_the_milvus_engine(tmp_path: Path) -> None:
    """Ray workers embed; the write puts the rows, their filter fields and text in the Milvus 2.5 engine,
    and the index answers from it as the local engine's does."""
    if engine_binary() is None:
        pytest.skip(f"the Milvus 2.5 engine is not installed in {engine_folder()} (scripts/install.sh)")
    with LocalEngine(tmp_path / "engine" / "milvus.db") as engine:
        for name, options in (("local", []), ("ray", ["--engine", "ray", "--ray-workers", "2"])):
            result = run(
                "ingest", DEMO, "--index", tmp_path / name, "--model", "hashing",
                "--store", f"milvus:{engine.uri}", *options,
            )  # fmt: skip
            assert result.exit_code == 0, result.output
        assert_same_index(tmp_path / "local", tmp_path / "ray")
        snapshot = IndexDirectory(tmp_path / "ray").open()
        assert isinstance(snapshot.vectors, MilvusStore) and snapshot.vectors.has_text
        snapshot.close()
        answers = [
            json.loads(run("ask", QUESTION, "--index", tmp_path / n, "--json").output)
            for n in ("local", "ray")
        ]
        assert answers[0]["answered"] and answers[0]["citations"]
        assert (
            answers[1]["answer"] == answers[0]["answer"]
            and answers[1]["citations"] == answers[0]["citations"]
        )
