from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from index.archive import IndexDirectory
from index.embedding import Embedder, HashingEmbedder
from index.engine import EmbeddedBatch, LocalEngine
from index.errors import IndexLockedError, IndexStateError
from index.ingest import IngestAborted, IngestOptions
from index.lexical import LexicalIndex
from index.manifest import manifest_checksum
from rag.records import SearchFilters
from rag.service import Newsdesk
from tests.conftest import article

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]

STRIKES = (
    "Russian aircraft carried out their first air strikes in Syria on Wednesday. "
    "The strikes hit positions in the provinces of Hama, Homs and Latakia, a Syrian security source said. "
    "The Russian upper house had approved the use of force abroad that morning."
)
QUAKE = (
    "A powerful earthquake struck southern Turkey and northern Syria before dawn. "
    "Rescuers searched collapsed buildings in Kahramanmaras, Hatay and Gaziantep provinces."
)
BUDGET = "The city council approved a budget of 12 million dollars for new bike lanes on Tuesday."


def corpus(write_jsonl: Writer) -> Path:
    return write_jsonl(
        "news.jsonl",
        [
            article("strikes", STRIKES, published_at="2015-09-30", source="Harbor Ledger"),
            article("quake", QUAKE, published_at="2023-02-06", source="Northern Wire"),
            article("budget", BUDGET, published_at="2019-04-02", source="Civic Herald"),
        ],
    )


def service(tmp_path: Path) -> Newsdesk:
    return Newsdesk(tmp_path / "index", embedder=HashingEmbedder())


def test_ingest_then_search_finds_the_passage_with_metadata(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = service(tmp_path)
    report = desk.ingest([corpus(write_jsonl)])
    assert sorted(report.added) == ["budget", "quake", "strikes"]
    assert report.chunks_written == report.chunks_embedded == 3
    top = desk.search("provinces of Hama, Homs and Latakia", k=2)[0].passage
    assert (top.article_id, top.source, top.published_at) == ("strikes", "Harbor Ledger", "2015-09-30")
    assert top.url == "https://test.example/strikes"


def test_ingesting_the_same_files_twice_changes_nothing(tmp_path: Path, write_jsonl: Writer) -> None:
    desk, path = service(tmp_path), corpus(write_jsonl)
    desk.ingest([path])
    version = desk.directory.current_version()
    again = desk.ingest([path])
    assert sorted(again.unchanged) == ["budget", "quake", "strikes"]
    assert (again.added, again.updated, again.version) == ([], [], None)
    assert desk.directory.current_version() == version
    assert desk.info()["chunks"] == 3


def test_a_changed_article_replaces_its_chunks(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    old_chunk = desk.search("Hama Homs Latakia", k=1)[0].passage.chunk_id
    changed = STRIKES.replace("Hama, Homs and Latakia", "Idlib and Aleppo") + " Moscow called it a success."
    report = desk.ingest([write_jsonl("update.jsonl", [article("strikes", changed)])])
    assert report.updated == ["strikes"] and report.added == []
    passages = desk.snapshot().catalog.article_passages("strikes")
    assert "Idlib and Aleppo" in " ".join(p.text for p in passages)
    assert old_chunk not in {p.chunk_id for p in passages}
    hits = desk.search("Hama Homs Latakia", k=3)
    assert hits  # the other articles are still found: all() over nothing would prove nothing
    assert all("Latakia" not in h.passage.text for h in hits)
    assert desk.info()["articles"] == 3


def test_unchanged_chunks_of_a_changed_article_are_not_embedded_again(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    desk = service(tmp_path)
    paragraphs = [f"Paragraph {i} tells of event number {i} in the city of Testville." * 6 for i in range(6)]
    desk.ingest([write_jsonl("a.jsonl", [article("long", "\n\n".join(paragraphs))])])
    first = desk.info()["chunks"]
    paragraphs[-1] = "A corrected last paragraph about something else entirely."
    report = desk.ingest([write_jsonl("b.jsonl", [article("long", "\n\n".join(paragraphs))])])
    assert first > 2
    assert 0 < report.chunks_embedded < report.chunks_written


def test_delete_removes_articles_and_reports_unknown_ids(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    report = desk.delete(["quake", "nope"])
    assert (report.deleted, report.missing) == (["quake"], ["nope"])
    assert desk.info()["articles"] == 2
    hits = desk.search("earthquake Turkey", k=3)
    assert hits  # the two articles left are still found: all() over nothing would prove nothing
    assert all(h.passage.article_id != "quake" for h in hits)


def test_filters_apply_inside_the_search(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    hits = desk.search("provinces struck", k=3, filters=SearchFilters(since="2020-01-01"))
    assert [h.passage.article_id for h in hits] == ["quake"]
    hits = desk.search("provinces struck", k=3, filters=SearchFilters(sources=("harbor ledger",)))
    assert [h.passage.article_id for h in hits] == ["strikes"]
    assert desk.search("provinces", k=3, filters=SearchFilters(until="2000-01-01")) == []


def test_a_failure_mid_save_leaves_the_previous_index_loadable(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    version = desk.directory.current_version()

    def broken_save(self: LexicalIndex, directory: Path) -> None:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(LexicalIndex, "save", broken_save)
    extra = write_jsonl(
        "more.jsonl", [article("extra", "An extra article about harbour cranes in Rotterdam.")]
    )
    with pytest.raises(OSError, match="injected"):
        desk.ingest([extra])
    monkeypatch.undo()
    reopened = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    assert reopened.directory.current_version() == version
    assert reopened.info()["articles"] == 3
    assert [p.name for p in (tmp_path / "index" / "versions").iterdir()] == [version]
    assert reopened.ingest([extra]).added == ["extra"]
    assert reopened.info()["articles"] == 4


def test_a_malformed_line_stops_the_ingest_and_writes_nothing(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    version = desk.directory.current_version()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(article("ok", "A fine article about tides.")) + "\n{not json\n", encoding="utf-8"
    )
    with pytest.raises(IngestAborted, match=r"bad\.jsonl:2"):
        desk.ingest([bad])
    assert desk.directory.current_version() == version and desk.info()["articles"] == 3
    report = desk.ingest([bad], IngestOptions(skip_errors=True))
    assert report.added == ["ok"] and len(report.errors) == 1


def test_another_model_or_newer_format_is_refused_by_name(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    with pytest.raises(IndexStateError, match="built with model 'hashing'"):
        desk.ingest([corpus(write_jsonl)], IngestOptions(model="all-MiniLM-L6-v2"))
    folder = tmp_path / "index" / "versions" / str(desk.directory.current_version())
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStateError, match="manifest is damaged"):  # edited by hand
        IndexDirectory(tmp_path / "index").open()
    manifest["checksum"] = manifest_checksum(manifest)  # as a newer release would write it
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStateError, match="format version 99 is newer"):
        IndexDirectory(tmp_path / "index").open()


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
@pytest.mark.parametrize("name", ["catalog.sqlite", "vectors.npy", "bm25/params.index.json"])
def test_damaged_files_are_named_at_load(tmp_path: Path, write_jsonl: Writer, damage: str, name: str) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    target = tmp_path / "index" / "versions" / str(desk.directory.current_version()) / name
    data = target.read_bytes()
    if damage == "flip":
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    elif damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    else:
        target.unlink()
    with pytest.raises(IndexStateError, match=name.split("/")[-1]):
        IndexDirectory(tmp_path / "index").open()


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    desk = service(tmp_path)
    with (
        IndexDirectory(desk.index_dir).lock(),
        pytest.raises(IndexLockedError, match="another newsdesk process"),
    ):
        service(tmp_path).ingest([corpus(write_jsonl)])


def test_readers_keep_their_snapshot_until_they_ask_again(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    snapshot = desk.snapshot()
    writer = service(tmp_path)
    writer.ingest(
        [write_jsonl("more.jsonl", [article("extra", "Harbour cranes were installed in Rotterdam.")])]
    )
    assert snapshot.catalog.stats()["articles"] == 3
    assert desk.info()["articles"] == 4


def test_progress_reports_chunks_and_articles_until_done(tmp_path: Path, write_jsonl: Writer) -> None:
    calls: list[tuple[int, int, int, int]] = []
    service(tmp_path).ingest([corpus(write_jsonl)], progress=lambda *args: calls.append(args))
    assert calls and calls[-1] == (3, 3, 3, 3)
    assert all(done <= total and articles_done <= articles for done, total, articles_done, articles in calls)


def test_identical_passages_are_embedded_once(tmp_path: Path, write_jsonl: Writer) -> None:
    wire = "A wire story about the harbour strike in Rotterdam, copied word for word by two outlets."
    copies = [article("one", wire, title="Same"), article("two", wire, title="Same")]
    report = service(tmp_path).ingest([write_jsonl("wire.jsonl", copies)])
    assert (report.chunks_written, report.chunks_embedded) == (2, 1)
    hits = service(tmp_path).search("harbour strike Rotterdam", k=2)
    assert {h.passage.article_id for h in hits} == {"one", "two"}
    assert hits[0].dense_score == pytest.approx(hits[1].dense_score)


def test_a_second_index_of_the_same_articles_takes_its_vectors_from_the_embedding_cache(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_EMBEDDING_CACHE", str(tmp_path / "cache.sqlite"))
    path = corpus(write_jsonl)
    first = Newsdesk(tmp_path / "a", embedder=HashingEmbedder()).ingest([path])
    assert (first.chunks_embedded, first.chunks_from_cache) == (3, 0)
    second_desk = Newsdesk(tmp_path / "b", embedder=HashingEmbedder())
    second = second_desk.ingest([path])
    assert (second.chunks_embedded, second.chunks_from_cache) == (0, 3)
    hit = second_desk.search("provinces of Hama, Homs and Latakia", k=1)[0]
    assert hit.passage.article_id == "strikes" and hit.dense_score == pytest.approx(
        Newsdesk(tmp_path / "a", embedder=HashingEmbedder())
        .search("provinces of Hama, Homs and Latakia", 1)[0]
        .dense_score
    )
    monkeypatch.setenv("NEWSDESK_EMBEDDING_CACHE", "off")
    third = Newsdesk(tmp_path / "c", embedder=HashingEmbedder()).ingest([path])
    assert (third.chunks_embedded, third.chunks_from_cache) == (3, 0)
    no_cache = Newsdesk(tmp_path / "d", embedder=HashingEmbedder()).ingest(
        [path], IngestOptions(embedding_cache=False)
    )
    assert no_cache.chunks_from_cache == 0


def test_a_repeated_question_is_answered_from_the_cache_until_the_index_changes(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    first = desk.ask("Which provinces were struck?")
    again = desk.ask("Which provinces were struck?")
    assert "cached" not in first.timings_ms and again.timings_ms["cached"] == 1.0
    assert (again.answer, again.citations) == (first.answer, first.citations)
    assert "cached" not in desk.ask("Which provinces were struck?", k=2).timings_ms  # another k
    write_jsonl("more.jsonl", [article("extra", "Strikes also hit Idlib province, officials said later.")])
    desk.ingest([tmp_path / "more.jsonl"])
    assert "cached" not in desk.ask("Which provinces were struck?").timings_ms  # a new version


def test_a_damaged_large_file_found_after_the_server_started_stops_answers_by_name(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.archive

    desk = service(tmp_path)
    desk.ingest([corpus(write_jsonl)])
    target = tmp_path / "index" / "versions" / str(desk.directory.current_version()) / "vectors.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    monkeypatch.setattr(index.archive, "LARGE_FILE_BYTES", 100)  # every vector file counts as large
    reader = service(tmp_path)
    reader.search("provinces", k=1)  # opened without reading every vector
    reader.wait_verified(timeout=30)
    with pytest.raises(IndexStateError, match=r"vectors\.npy.*checksum"):
        reader.search("provinces", k=1)
    with pytest.raises(IndexStateError, match=r"vectors\.npy"):
        IndexDirectory(tmp_path / "index").open()  # a full open (as every write does) refuses at once


class LosesAWorkerAfterOneBatch(LocalEngine):
    def embed(self, texts: Sequence[str], embedder: Embedder) -> Iterator[EmbeddedBatch]:
        yield [0], embedder.embed(texts[:1])
        raise OSError("worker lost (injected)")


def test_vectors_embedded_before_a_failure_are_kept_in_the_cache_batch_by_batch(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_EMBEDDING_CACHE", str(tmp_path / "cache.sqlite"))
    desk, path = service(tmp_path), corpus(write_jsonl)
    with pytest.raises(OSError, match="injected"):
        desk.ingest([path], engine=LosesAWorkerAfterOneBatch())
    assert not desk.directory.exists()
    again = desk.ingest([path])
    assert (again.chunks_from_cache, again.chunks_embedded) == (1, 2)
