"""index.info.describe: what `newsdesk info` and `GET /info` show, checked against an index built here."""

from __future__ import annotations

import json
from pathlib import Path

from index.archive import IndexDirectory
from index.embedding import HashingEmbedder
from index.info import describe
from index.ingest import IngestOptions, ingest
from tests.conftest import article


def write(path: Path, *records: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_describe_reports_the_live_version_its_contents_and_how_it_was_built(tmp_path: Path) -> None:
    news = write(
        tmp_path / "news.jsonl",
        article("a", "Rain fell on the harbour all week.", published_at="2015-09-30", source="Harbor Ledger"),
        article("b", "The council met on Tuesday.", published_at="2019-04-02", source="Civic Herald"),
        article("c", "Ferries ran late again.", published_at="2017-06-01", source="Harbor Ledger"),
    )
    directory = IndexDirectory(tmp_path / "index", keep_versions=3)
    embedder = HashingEmbedder(dimension=64)
    ingest(directory.root, [news], IngestOptions(), embedder=embedder)

    snapshot = directory.open()
    try:
        info = describe(directory, snapshot)
    finally:
        snapshot.close()

    folder = directory.root / "versions" / "v000001"
    assert info["index"] == str(directory.root)
    assert info["version"] == "v000001"
    assert (info["articles"], info["chunks"]) == (3, 3)
    assert info["date_range"] == ["2015-09-30", "2019-04-02"]
    assert info["outlets"] == {"Harbor Ledger": 2, "Civic Herald": 1}
    assert (info["model"], info["dimension"]) == (embedder.name, 64)
    assert info["vector_backend"] == snapshot.manifest.vector_backend
    assert info["vector_search"]  # the store's own account where it gives one, else the backend's name
    assert info["manifest"] == str(folder / "manifest.json") and Path(info["manifest"]).is_file()
    assert info["size_bytes"] == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) > 0
    assert info["keep_versions"] == 3
    assert [(v["version"], v["live"]) for v in info["versions"]] == [("v000001", True)]
    json.dumps(info)  # the API returns it as is


def test_describe_lists_the_kept_versions_newest_first_with_the_live_one_marked(tmp_path: Path) -> None:
    directory = IndexDirectory(tmp_path / "index", keep_versions=2)
    embedder = HashingEmbedder(dimension=64)
    for number in range(3):
        news = write(tmp_path / f"news{number}.jsonl", article(f"a{number}", f"Story number {number} ran."))
        ingest(directory.root, [news], IngestOptions(), embedder=embedder)

    snapshot = directory.open()
    try:
        info = describe(directory, snapshot)
    finally:
        snapshot.close()

    assert info["version"] == "v000003" and info["articles"] == 3
    # keep_versions=2: the oldest is gone, the one before the live one is what a repair rolls back to.
    assert [(v["version"], v["live"]) for v in info["versions"]] == [("v000003", True), ("v000002", False)]
    assert [v["articles"] for v in info["versions"]] == [3, 2]
