"""The Milvus store (index.milvus_store) on the real Milvus 2.5 engine, started by each test on 127.0.0.1
with a fresh file, and on Milvus Lite 3.2.2, a file in tmp_path: the same results as the exact NumPy and
FAISS stores, filters run by Milvus, the article lifecycle, crash safety and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

# exc_type: an installed but broken one (a native part missing) skips too, its reason shown.
pytest.importorskip(
    "pymilvus", reason="the Milvus store needs pymilvus: pip install 'newsdesk[scale]'", exc_type=ImportError
)
pytest.importorskip(
    "milvus_lite", reason="the tests run on Milvus Lite: pip install 'newsdesk[scale]'", exc_type=ImportError
)

from milvus_lite.server_manager import server_manager_instance

import index.archive
from eval.run import GROUPS
from index.archive import IndexDirectory
from index.embedding import HashingEmbedder
from index.errors import IndexStateError
from index.ingest import IngestAborted, IngestOptions
from index.milvus_engine import LocalEngine, engine_binary, engine_folder
from index.milvus_schema import ALIVE, where_expression
from index.milvus_store import MilvusStore, connect, resolve_location
from index.vectors import FaissStore, NumpyStore, RowFields, RowFilter, filtered_search
from newsdesk_app.cli.main import main
from newsdesk_app.settings import desk_from_environment, retrieval_from_env
from rag.records import SearchFilters
from rag.service import Newsdesk
from tests.conftest import DEMO_DIR, SEED_ARTICLES, SEED_GOLD, article
from tests.test_vectors import unit_rows

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]


@pytest.fixture(params=["engine", "lite"])
def milvus_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the store keeps its collection: the Milvus 2.5 engine, started on 127.0.0.1 with a fresh file
    and stopped afterwards, or a Milvus Lite 3.2.2 file (the embedded stand-in `milvus:FILE.db` opens),
    released afterwards: Lite serves a file from one process at a time and keeps it open until told."""
    if request.param == "engine":
        if engine_binary() is None:
            pytest.skip(f"the Milvus 2.5 engine is not installed in {engine_folder()} (scripts/install.sh)")
        with LocalEngine(tmp_path / "engine" / "milvus.db") as engine:
            yield engine.uri
        return
    path = tmp_path / "milvus" / "news.db"
    yield str(path)
    server_manager_instance.release_server(str(path))


@pytest.fixture
def engine_uri(tmp_path: Path) -> Iterator[str]:
    """The Milvus 2.5 engine alone, for a test that Milvus Lite would only repeat."""
    if engine_binary() is None:
        pytest.skip(f"the Milvus 2.5 engine is not installed in {engine_folder()} (scripts/install.sh)")
    with LocalEngine(tmp_path / "engine" / "milvus.db") as engine:
        yield engine.uri


def fresh_store(milvus_at: str, dimension: int, collection: str = "vectors") -> MilvusStore:
    return MilvusStore.empty(f"{milvus_at}#{collection}", dimension).successor(np.zeros(0, np.int64))


def milvus_desk(root: Path, milvus_at: str) -> tuple[Newsdesk, IngestOptions]:
    return Newsdesk(root, embedder=HashingEmbedder()), IngestOptions(vector_backend=f"milvus:{milvus_at}")


def collection_rows(desk: Newsdesk) -> int:
    """Every row in the collection, of any generation."""
    store = desk.snapshot().vectors
    assert isinstance(store, MilvusStore)
    counted = connect(store.uri).query(store.collection, filter="", output_fields=["count(*)"])
    return int(counted[0]["count(*)"])


def test_search_scores_and_rows_equal_the_exact_stores_on_the_same_vectors(milvus_at: str) -> None:
    data, queries = unit_rows(600, 48, 0), unit_rows(12, 48, 100)
    store = fresh_store(milvus_at, 48)
    store.add(data[:350])
    store.add(data[350:])
    faiss_store, numpy_store = FaissStore(48), NumpyStore(48, data)
    faiss_store.add(data)
    want_scores, want_rows = numpy_store.search(queries, 10)
    got_scores, got_rows = store.search(queries, 10)
    np.testing.assert_array_equal(got_rows, want_rows)
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)
    np.testing.assert_array_equal(got_rows, faiss_store.search(queries, 10)[1])
    allowed = np.arange(3, 600, 7)
    np.testing.assert_array_equal(
        store.search(queries, 5, allowed)[1], numpy_store.search(queries, 5, allowed)[1]
    )
    _, few = store.search(queries[:1], 8, np.array([4, 9]))
    assert sorted(few[0][:2]) == [4, 9] and list(few[0][2:]) == [-1] * 6
    np.testing.assert_allclose(store.vectors(), data, atol=1e-6)


def test_equal_scores_are_ordered_by_row_as_faiss_orders_them(milvus_at: str) -> None:
    rows = unit_rows(40, 16, 1)
    data = np.vstack([rows, rows, rows])  # every vector three times, as wire copies are
    store = fresh_store(milvus_at, 16)
    store.add(data)
    want = NumpyStore(16, data).search(rows[:5], 4)
    got = store.search(rows[:5], 4)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)


def test_a_published_version_takes_no_rows(milvus_at: str, tmp_path: Path) -> None:
    store = fresh_store(milvus_at, 8)
    store.add(unit_rows(3, 8, 2))
    store.save(tmp_path / "milvus.json")
    loaded = MilvusStore.load(tmp_path / "milvus.json", 8, f"{milvus_at}#vectors")
    assert len(loaded) == 3
    with pytest.raises(IndexStateError, match="read-only"):
        loaded.add(unit_rows(1, 8, 3))


CORPUS = [
    article(
        "strikes",
        "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday.",
        published_at="2015-09-30",
        source="Harbor Ledger",
    ),
    article(
        "quake",
        "An earthquake struck provinces of southern Turkey.",
        published_at="2023-02-06",
        source="Northern Wire",
    ),
    article(
        "budget",
        "The council approved a budget for the provinces' bike lanes.",
        published_at="2019-04-02",
        source='The "Civic" Herald',
    ),
    article(
        "undated",
        "Provinces struck a deal on water, officials said.",
        published_at=None,
        source="Northern Wire",
    ),
    article("anonymous", "Struck provinces asked for aid on Friday.", published_at="2020-01-01", source=None),
]
FILTERS = [
    RowFilter(since="2019-04-02"),
    RowFilter(until="2019-04-02"),
    RowFilter(since="2016-01-01", until="2021-01-01"),
    RowFilter(sources=("northern wire",)),
    RowFilter(sources=('the "civic" herald', "HARBOR LEDGER")),
    RowFilter(since="2016-01-01", sources=("Northern Wire",)),
    RowFilter(until="1999-01-01"),
]


@pytest.mark.parametrize("where", FILTERS, ids=lambda w: where_expression(w) or "none")
def test_date_and_outlet_filters_run_in_milvus_and_keep_the_rows_the_catalog_keeps(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer, where: RowFilter, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, options = milvus_desk(tmp_path / "index", milvus_at)
    desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    snapshot = desk.snapshot()
    allowed = np.asarray(snapshot.catalog.filtered_rows(where.since, where.until, where.sources), np.int64)
    query = HashingEmbedder().embed(["provinces struck"])
    store = snapshot.vectors
    assert isinstance(store, MilvusStore)
    sent: list[str] = []
    client = store._client()
    search = client.search

    def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs["filter"])
        return search(*args, **kwargs)

    monkeypatch.setattr(client, "search", spy)
    scores, rows = filtered_search(store, query, 3, allowed, where)
    reference = NumpyStore(store.dimension, store.vectors()).search(query, 3, allowed)
    np.testing.assert_array_equal(rows, reference[1])
    np.testing.assert_allclose(scores, reference[0], atol=1e-5)
    assert sent == [f"born <= 1 and died > 1 and ({where_expression(where)})"]  # the filter is Milvus's


def test_an_updated_article_replaces_its_rows_and_a_deleted_one_vanishes(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    desk, options = milvus_desk(tmp_path / "index", milvus_at)
    desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    before = desk.snapshot()
    old_chunk = desk.search("Hama Homs Latakia", k=1)[0].passage.chunk_id
    changed = article(
        "strikes",
        "Jets struck Idlib and Aleppo, officials said.",
        published_at="2015-09-30",
        source="Harbor Ledger",
    )
    report = desk.ingest([write_jsonl("update.jsonl", [changed])])  # no --store: the index remembers it
    assert report.updated == ["strikes"]
    hits = desk.search("Idlib Aleppo", k=1)
    assert hits[0].passage.article_id == "strikes" and hits[0].passage.chunk_id != old_chunk
    hits = desk.search("Hama Homs Latakia", k=5)
    assert hits  # the other articles are still found: all() over nothing would prove nothing
    assert all("Latakia" not in h.passage.text for h in hits)
    # The previous version still reads whole for a reader that opened it before the swap.
    old_hits = before.vectors.search(HashingEmbedder().embed(["Hama Homs Latakia"]), 1)[1][0]
    assert before.catalog.passages(old_hits.tolist())[0].chunk_id == old_chunk

    assert desk.delete(["quake"]).deleted == ["quake"]
    hits = desk.search("earthquake Turkey", k=5)
    assert hits  # the articles left are still found
    assert all(h.passage.article_id != "quake" for h in hits)
    assert len(desk.snapshot().vectors) == desk.info()["chunks"] == 4
    desk.ingest([write_jsonl("more.jsonl", [article("extra", "Harbour cranes arrived in Rotterdam.")])])
    # A write purges the rows the version it starts from no longer sees: the old strikes row and the quake.
    assert collection_rows(desk) == desk.info()["chunks"] == 5


def test_a_failed_write_leaves_the_previous_version_whole_and_the_next_write_cleans_up(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, options = milvus_desk(tmp_path / "index", milvus_at)
    desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    version = desk.directory.current_version()
    expected = [h.passage.chunk_id for h in desk.search("provinces struck", k=5)]

    seen_mid_write: list[list[str]] = []

    def fail(point: str) -> None:
        if point == "staged":  # Milvus has the new rows and has retired the old ones by now
            reader = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
            seen_mid_write.append([h.passage.chunk_id for h in reader.search("provinces struck", k=5)])
            raise OSError("disk full (injected)")

    monkeypatch.setattr(index.archive, "crash_point", fail)
    changed = article("quake", "Aftershocks struck the provinces again.", published_at="2023-02-07")
    with pytest.raises(OSError, match="injected"):
        desk.ingest([write_jsonl("update.jsonl", [changed, article("new", "A new story on provinces.")])])
    monkeypatch.undo()
    assert seen_mid_write == [expected]  # a reader during the write saw the live version, untouched
    with pytest.raises(IngestAborted):  # bad input: nothing is written at all
        desk.ingest([write_jsonl("bad.jsonl", [{"id": "x"}])])

    reopened = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    assert reopened.directory.current_version() == version
    assert [h.passage.chunk_id for h in reopened.search("provinces struck", k=5)] == expected
    assert reopened.ingest([write_jsonl("again.jsonl", [changed])]).updated == ["quake"]
    # The failed write's rows are gone; the quake's first row stays for the previous version.
    assert collection_rows(reopened) == len(CORPUS) + 1


def test_ask_answers_with_the_same_citations_from_the_milvus_index_as_from_the_default(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    corpus = write_jsonl("news.jsonl", CORPUS)
    desk, options = milvus_desk(tmp_path / "index", milvus_at)
    desk.ingest([corpus], options)
    default = Newsdesk(tmp_path / "default", embedder=HashingEmbedder())
    default.ingest([corpus])
    filters = SearchFilters(since="2015-01-01")
    answer = desk.ask("Which provinces were struck by Russian jets?", filters=filters)
    assert "Hama" in answer.answer and answer.citations
    cited = answer.citations[0]
    assert (cited.article_id, cited.source, cited.published_at) == ("strikes", "Harbor Ledger", "2015-09-30")
    reference = default.ask("Which provinces were struck by Russian jets?", filters=filters)
    assert (answer.answer, answer.citations) == (reference.answer, reference.citations)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_the_store_flag_is_recorded_and_later_commands_use_it(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    index_dir, corpus = tmp_path / "index", write_jsonl("news.jsonl", CORPUS)
    result = run(
        "ingest", corpus, "--index", index_dir, "--model", "hashing", "--store", f"milvus:{milvus_at}"
    )
    assert result.exit_code == 0, result.output
    info = json.loads(run("info", "--index", index_dir, "--json").output)
    assert (
        info["vector_backend"].startswith(f"milvus:{milvus_at}#newsdesk_")
        and "Milvus" in info["vector_search"]
    )
    assert not any(index_dir.rglob("vectors.*"))
    hits = json.loads(
        run("search", "Hama Homs", "--index", index_dir, "--json", "--source", "harbor ledger").output
    )
    assert [h["article_id"] for h in hits["hits"]] == ["strikes"]
    asked = json.loads(
        run("ask", "Which provinces were struck by jets?", "--index", index_dir, "--json").output
    )
    assert "Hama" in asked["answer"] and asked["citations"]
    assert run("check", "--index", index_dir).exit_code == 0
    refused = run("ingest", corpus, "--index", index_dir, "--store", "tiered")
    assert refused.exit_code == 1 and "keeps its vectors in 'milvus:" in refused.output
    same = run("ingest", corpus, "--index", index_dir, "--store", f"milvus:{milvus_at}")
    assert same.exit_code == 0 and "unchanged 5" in same.output
    bad = run("ingest", corpus, "--index", tmp_path / "other", "--model", "hashing", "--store", "milvus:news")
    assert bad.exit_code == 1 and "must end in .db" in bad.output


def test_check_names_a_lost_collection_and_repair_rebuilds_it(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    index_dir = tmp_path / "index"
    desk, options = milvus_desk(index_dir, milvus_at)
    desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    store = desk.snapshot().vectors
    assert isinstance(store, MilvusStore)
    connect(store.uri).drop_collection(store.collection)
    with pytest.raises(IndexStateError, match="no collection"):
        IndexDirectory(index_dir).open()
    found = run("check", "--index", index_dir, "--json")
    assert found.exit_code == 1 and "no collection" in found.output
    repaired = run("check", "--index", index_dir, "--repair", "--json")
    assert repaired.exit_code == 0 and "rebuilt 5 vectors" in repaired.output
    assert (
        Newsdesk(index_dir, embedder=HashingEmbedder()).search("Hama Homs", k=1)[0].passage.article_id
        == "strikes"
    )


def test_a_collection_newsdesk_did_not_make_is_never_dropped(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    client = connect(milvus_at)
    client.create_collection("theirs", dimension=4)
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    with pytest.raises(IndexStateError, match="newsdesk did not make"):
        desk.ingest(
            [write_jsonl("news.jsonl", CORPUS)], IngestOptions(vector_backend=f"milvus:{milvus_at}#theirs")
        )
    assert client.has_collection("theirs")


def test_a_copied_index_folder_written_apart_from_its_original_is_refused_by_name(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both copies point at one collection. The original's next write undoes the copy's as a killed
    write's leftovers, and its rows take the copy's generation: the copy must not read them as its own."""
    original, options = milvus_desk(tmp_path / "original", milvus_at)
    original.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    shutil.copytree(tmp_path / "original", tmp_path / "copy")
    writes = iter([7, 9])  # the random byte each write puts in its keys, fixed for the test
    monkeypatch.setattr("index.milvus_store.secrets.randbelow", lambda _: next(writes))
    copy = Newsdesk(tmp_path / "copy", embedder=HashingEmbedder())
    copy.ingest([write_jsonl("copy.jsonl", [article("copy-only", "Harbour cranes arrived.")])])
    original.ingest([write_jsonl("more.jsonl", [article("original-only", "Tides rose in Rotterdam.")])])
    assert original.info()["chunks"] == len(CORPUS) + 1
    with pytest.raises(IndexStateError, match="not the same ones"):
        IndexDirectory(tmp_path / "copy").open()


def test_locations_and_filters_are_written_as_milvus_reads_them(tmp_path: Path) -> None:
    root = tmp_path / "index"
    assert resolve_location("http://milvus:19530", root).startswith("http://milvus:19530#newsdesk_")
    assert resolve_location("./x.db#mine", root) == f"{Path('x.db').resolve()}#mine"
    assert resolve_location("a.db", root) == resolve_location("a.db", root)  # one collection per index folder
    assert resolve_location("a.db", root) != resolve_location("a.db", tmp_path / "other")
    with pytest.raises(IndexStateError, match="collection name"):
        resolve_location("a.db#bad-name", root)
    where = RowFilter("2015-09-30", "2016-01-01", ('Le "Monde"\\', "ÉCHO"))
    assert where_expression(where) == (
        'published >= 20150930 and published <= 20160101 and source in ["le \\"monde\\"\\\\", "écho"]'
    )
    assert RowFields("2015-09-30", None) == RowFields("2015-09-30", None)
    assert ALIVE > 1 << 40


def test_a_missing_pymilvus_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(IndexStateError, match=r"newsdesk\[scale\]"):
        connect("/tmp/never.db")


def _cli(*args: str | Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSDESK_CRASH_AT"}
    if crash_at:
        env["NEWSDESK_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "newsdesk_app.cli", *(str(a) for a in args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _ingest_corpus(write_jsonl: Writer, index_dir: Path, store: str) -> subprocess.CompletedProcess[str]:
    """CORPUS ingested by the command line in a process of its own."""
    corpus = write_jsonl("a.jsonl", CORPUS)
    return _cli("ingest", corpus, "--index", index_dir, "--model", "hashing", "--store", store)


def test_a_write_killed_after_milvus_took_its_rows_leaves_the_previous_version(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    index_dir = tmp_path / "index"
    first = _ingest_corpus(write_jsonl, index_dir, f"milvus:{milvus_at}")
    assert first.returncode == 0, first.stderr
    update = write_jsonl(
        "b.jsonl", [article("quake", "Aftershocks struck again."), article("n", "New story.")]
    )
    killed = _cli("ingest", update, "--index", index_dir, crash_at="staged")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    desk = Newsdesk(index_dir, embedder=HashingEmbedder())  # this process now holds the Lite file
    assert desk.directory.current_version() == "v000001" and desk.info()["chunks"] == len(CORPUS)
    assert desk.ingest([update]).added == ["n"]
    assert desk.info()["chunks"] == len(CORPUS) + 1 and collection_rows(desk) == len(CORPUS) + 2


GOLD_SETS = [
    pytest.param(DEMO_DIR / "gold.jsonl", DEMO_DIR / "articles.jsonl", id="demo"),
    pytest.param(
        SEED_GOLD,
        SEED_ARTICLES,
        id="seed",
        marks=pytest.mark.skipif(not SEED_GOLD.exists(), reason="shared seed data is not present"),
    ),
]


@pytest.mark.model
@pytest.mark.parametrize(("gold", "articles"), GOLD_SETS)
def test_eval_gives_the_same_figures_with_the_default_store_and_milvus(
    tmp_path: Path, engine_uri: str, gold: Path, articles: Path
) -> None:
    """`newsdesk eval` with the bundled model and newsdesk's own BM25: every retrieval, answer, citation
    and refusal figure, and every question's ranking, answer and citations, the same on both stores (only
    timings differ). The engine's BM25 ranks otherwise (tests below)."""
    reports = {}
    for name, store in (("default", []), ("milvus", ["--store", f"milvus:{engine_uri}"])):
        index_dir, out = tmp_path / name, tmp_path / f"report-{name}"
        ingested = run("ingest", articles, "--index", index_dir, *store)
        assert ingested.exit_code == 0, ingested.output
        evaluated = run("eval", gold, "--index", index_dir, "--out", out, "--retrieval", "hybrid-own-bm25")
        assert evaluated.exit_code == 0, evaluated.output
        reports[name] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert reports["milvus"]["manifest"]["vector_backend"].startswith("milvus:")
    quality = [name for group, names in GROUPS.items() if group != "cost" for name in names]
    default, milvus = (
        {name: reports[store]["metrics"][name] for name in quality} for store in ("default", "milvus")
    )
    assert milvus == default
    fields = ("retrieved_article_ids", "retrieval", "answer", "short_answer", "citations", "answered")
    default_records, milvus_records = (
        [[record[f] for f in fields] for record in reports[store]["records"]]
        for store in ("default", "milvus")
    )
    assert milvus_records == default_records


def test_the_store_benchmark_reports_every_store_against_the_default(tmp_path: Path) -> None:
    """benchmarks/vector_stores.py end to end on a tiny run, so that it cannot rot; no timing is asserted."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "vector_stores.py"
    out = tmp_path / "stores.json"
    options = [
        "--model",
        "hashing",
        "--rounds",
        "1",
        "--repeat",
        "1",
        "--synthetic",
        "300",
        "--json",
        str(out),
    ]
    command = [sys.executable, str(script), *options]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    archive, at_scale = figures["archive"], figures["synthetic"]
    engines = ["milvus (2.5 engine, TCP)"] if engine_binary() else []
    stores = ["tiered (exact FAISS)", "faiss-flat-ip", "milvus (Milvus Lite)", *engines]
    assert [row["store"] for row in archive] == stores
    assert all(
        row["chunks"] == archive[0]["chunks"] > 0 and row["dense_p50_ms"] > 0 and row["bm25_p50_ms"] > 0
        for row in archive
    )
    assert [row["store"] for row in at_scale] == [stores[0], *stores[2:]]
    assert all(row["rows"] == 300 and row["filtered_p50_ms"] > 0 for row in at_scale)
    assert all(f"| {store} |" in result.stdout for store in stores)


def test_an_index_removed_and_ingested_again_at_the_same_path_starts_its_collection_over(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    """The collection keeps the removed index's name (from its path); newsdesk knows it by its fields
    on every engine (Milvus Lite 3.2.2 returns no description), so it drops it and starts over."""
    index_dir = tmp_path / "index"
    desk, options = milvus_desk(index_dir, milvus_at)
    desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    shutil.rmtree(index_dir)
    again, options = milvus_desk(index_dir, milvus_at)
    report = again.ingest([write_jsonl("less.jsonl", CORPUS[:2])], options)
    assert sorted(report.added) == ["quake", "strikes"]
    assert collection_rows(again) == again.info()["chunks"] == 2
    assert run("check", "--index", index_dir).exit_code == 0


def test_readers_wait_for_their_version_s_write_not_for_every_write(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version records the engine's timestamp of its write's last change, and its readers pass it as
    their guarantee instead of reading Strong (the server's time tick on every search)."""
    monkeypatch.setattr("index.milvus_store._last_change", lambda client, collection: 1)
    desk, options = milvus_desk(tmp_path / "index", milvus_at)
    desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    state = json.loads(next((tmp_path / "index").rglob("milvus.json")).read_text(encoding="utf-8"))
    assert state["write_timestamp"] == 1
    store = desk.snapshot().vectors
    assert isinstance(store, MilvusStore) and store.write_timestamp == 1
    sent: list[dict[str, Any]] = []
    client = store._client()
    search = client.search

    def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs)
        return search(*args, **kwargs)

    monkeypatch.setattr(client, "search", spy)
    assert desk.search("Hama Homs Latakia", k=1)[0].passage.article_id == "strikes"
    assert sent and all((s["consistency_level"], s["guarantee_timestamp"]) == ("Customized", 1) for s in sent)


def test_the_engine_runs_bm25_where_it_can_and_says_so(
    tmp_path: Path, milvus_at: str, write_jsonl: Writer
) -> None:
    desk, options = milvus_desk(tmp_path / "index", milvus_at)
    desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
    store = desk.snapshot().vectors
    assert isinstance(store, MilvusStore)
    in_engine = milvus_at.startswith("http://")  # the 2.5 engine; Milvus Lite 3.2.2 has no english analyzer
    assert store.has_text == in_engine and ("BM25" in desk.info()["vector_search"]) == in_engine
    if not in_engine:
        with pytest.raises(IndexStateError, match="runs no BM25"):
            store.search_text_where(["provinces"], 3, RowFilter())
        return
    # A date filter runs inside the engine's BM25 search, which lowercases ("Provinces") and stems.
    _, rows = store.search_text_where(["Latakia provinces"], 5, RowFilter(since="2016-01-01"))
    found = [p.article_id for p in desk.snapshot().catalog.passages(rows[0][rows[0] >= 0].tolist())]
    assert found and "strikes" not in found and set(found) <= {"quake", "budget", "anonymous"}
    _, rows = store.search_text_where(["Latakia"], 5, RowFilter())
    assert desk.snapshot().catalog.passages([int(rows[0][0])])[0].article_id == "strikes" and rows[0][1] == -1


def test_an_engine_that_stops_answering_is_named_in_one_line(tmp_path: Path, write_jsonl: Writer) -> None:
    if engine_binary() is None:
        pytest.skip(f"the Milvus 2.5 engine is not installed in {engine_folder()} (scripts/install.sh)")
    index_dir = tmp_path / "index"
    with LocalEngine(tmp_path / "engine" / "milvus.db") as engine:
        ingested = _ingest_corpus(write_jsonl, index_dir, f"milvus:{engine.uri}")
        assert ingested.returncode == 0, ingested.stderr
    searched = _cli("search", "Hama", "--index", index_dir)
    assert searched.returncode == 1 and "Traceback" not in searched.stderr
    assert f"Milvus at {engine.uri} (Fail connecting to server" in searched.stderr


@pytest.mark.parametrize("place", ["engine", "engine-rrf", "newsdesk"])
def test_where_bm25_runs_is_chosen_and_each_place_finds_names_inside_the_filters(
    tmp_path: Path, write_jsonl: Writer, place: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the 2.5 engine BM25 runs inside it, fused here by weight (`engine`) or by the engine's RRF
    (`engine-rrf`), or in newsdesk's own index (`newsdesk`); newsdesk's index is read only then."""
    if engine_binary() is None:
        pytest.skip(f"the Milvus 2.5 engine is not installed in {engine_folder()} (scripts/install.sh)")
    monkeypatch.setenv("NEWSDESK_BM25", place)
    with LocalEngine(tmp_path / "engine" / "milvus.db") as engine:
        desk, options = milvus_desk(tmp_path / "index", engine.uri)
        desk.ingest([write_jsonl("news.jsonl", CORPUS)], options)
        desk = desk_from_environment(tmp_path / "index", embedder=HashingEmbedder())
        snapshot = desk.snapshot()
        own_searches: list[str] = []
        own_search = snapshot.lexical.search

        def spy(query: str, *rest: Any) -> tuple[np.ndarray, np.ndarray]:
            own_searches.append(query)
            return own_search(query, *rest)

        monkeypatch.setattr(snapshot.lexical, "search", spy)
        hits = desk.search("Latakia", k=3)
        assert hits and hits[0].passage.article_id == "strikes"
        filtered = desk.search("Latakia provinces", k=5, filters=SearchFilters(since="2016-01-01"))
        assert filtered and all(h.passage.published_at and h.passage.published_at >= "2016" for h in filtered)
        assert bool(own_searches) == (place == "newsdesk")
        if place == "engine":  # both rankings, each with its own score
            assert hits[0].lexical_score is not None and hits[0].dense_score is not None


def test_a_wrong_bm25_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDESK_BM25", "elastic")
    with pytest.raises(ValueError, match="NEWSDESK_BM25 must be one of engine, engine-rrf, newsdesk"):
        retrieval_from_env()
