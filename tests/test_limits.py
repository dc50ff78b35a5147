"""Server limits (question length, k, body size, upload size and count), each configurable and
answered with its own status code; uploaded files land inside the upload folder whatever their names."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from newsdesk_app.server.uploads import safe_file_name, upload_root
from rag.service import Newsdesk
from tests.conftest import article

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
WRITER_KEY = {"Authorization": "Bearer full"}


@pytest.fixture
def desk(tmp_path: Path, write_jsonl: Writer) -> Newsdesk:
    service = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    quake = article("quake", "An earthquake shook the coast of Chile on Monday.", published_at="2014-04-01")
    service.ingest([write_jsonl("news.jsonl", [quake])])
    return service


def client_for(desk: Newsdesk, **limits: Any) -> TestClient:
    server = ServerSettings(ui=False, api_keys=("full",), read_only_keys=("reader",), **limits)
    return TestClient(create_app(desk, server, load_now=True), headers=WRITER_KEY)


def jsonl_bytes(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in [
        ("NEWSDESK_MAX_K", "7"),
        ("NEWSDESK_MAX_QUESTION_CHARS", "300"),
        ("NEWSDESK_MAX_BODY_BYTES", "4096"),
        ("NEWSDESK_MAX_UPLOAD_BYTES", "1000"),
        ("NEWSDESK_MAX_UPLOAD_FILES", "2"),
        ("NEWSDESK_UPLOAD_DIR", "/srv/uploads"),
        ("NEWSDESK_MAX_RECORDS", "5000"),
        ("NEWSDESK_MAX_DECOMPRESSED_BYTES", "123456"),
        ("NEWSDESK_SHUTDOWN_GRACE_SECONDS", "3"),
    ]:
        monkeypatch.setenv(name, value)
    limits = ServerSettings.from_env()
    assert (limits.max_k, limits.max_question_chars, limits.max_body_bytes) == (7, 300, 4096)
    assert (limits.max_upload_bytes, limits.max_upload_files, limits.upload_dir) == (1000, 2, "/srv/uploads")
    assert (limits.max_records, limits.max_decompressed_bytes) == (5000, 123456)
    assert limits.shutdown_grace_seconds == 3
    monkeypatch.setenv("NEWSDESK_MAX_K", "many")
    with pytest.raises(ValueError, match="NEWSDESK_MAX_K must be an integer, got 'many'"):
        ServerSettings.from_env()


def test_k_out_of_range_is_422_naming_k_and_the_setting(desk: Newsdesk) -> None:
    client = client_for(desk, max_k=8)
    assert client.post("/api/ask", json={"question": "earthquake?", "k": 8}).status_code == 200
    for path, field in [("/api/ask", "question"), ("/api/search", "query")]:
        response = client.post(path, json={field: "earthquake?", "k": 9})
        assert response.status_code == 422
        assert response.json()["error"] == "k: 9 is over the limit of 8 (NEWSDESK_MAX_K)"
        response = client.post(path, json={field: "earthquake?", "k": 0})
        assert response.status_code == 422 and response.json()["detail"][0]["field"] == "k"


def test_upload_of_files_of_several_kinds_is_ingested_and_kept_in_the_upload_folder(
    desk: Newsdesk,
) -> None:
    client = client_for(desk)
    files = [
        ("files", ("wire.jsonl", jsonl_bytes(article("bridge", "The old bridge reopened on Friday.")), "x")),
        (
            "files",
            ("note.md", b"# Harbour dredging\n\nDredging of the harbour began in May.", "text/markdown"),
        ),
    ]
    response = client.post("/api/files", files=files)
    assert response.status_code == 200, response.text
    assert response.json()["ids"][0] == "bridge" and len(response.json()["ids"]) == 2
    kept = files_under(upload_root(desk.index_dir, None))
    assert [p.name for p in kept] == ["note.md", "wire.jsonl"]
    assert client.post("/api/search", json={"query": "harbour dredging"}).json()["hits"][0]["title"]


@pytest.mark.parametrize(
    "hostile",
    [
        "../../evil.jsonl",
        "..\\..\\evil.jsonl",
        "/etc/cron.d/evil.jsonl",
        "C:\\Windows\\evil.jsonl",
        "....//evil.jsonl",
        "%2e%2e%2fevil.jsonl",
        "evil\x00.jsonl",
        ".evil.jsonl",
        "evil\u202e.jsonl",
    ],
)
def test_an_uploaded_file_name_cannot_leave_the_upload_folder(
    tmp_path: Path, desk: Newsdesk, hostile: str
) -> None:
    root = tmp_path / "uploads"
    client = client_for(desk, upload_dir=str(root))
    record = jsonl_bytes(article("evil", "A story about a harbour crane."))
    response = client.post("/api/files", files=[("files", (hostile, record, "application/x-ndjson"))])
    assert response.status_code == 200, response.text
    [saved] = files_under(root)
    assert saved.parent.parent == root and "evil" in saved.name and saved.name.endswith(".jsonl")
    assert not saved.name.startswith(".") and "/" not in saved.name and "\\" not in saved.name
    assert not (tmp_path / "evil.jsonl").exists()


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=300))
def test_a_safe_name_never_leads_out_of_its_folder(name: str) -> None:
    safe = safe_file_name(name)
    folder = Path(tempfile.gettempdir()) / "newsdesk-upload-check"
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".") and len(safe) <= 120
    assert all(ch.isprintable() for ch in safe)
    if safe:
        assert (folder / safe).resolve().parent == folder.resolve()


def test_uploads_over_their_limits_are_refused_and_nothing_is_written(tmp_path: Path, desk: Newsdesk) -> None:
    root = tmp_path / "uploads"
    client = client_for(desk, upload_dir=str(root), max_upload_bytes=2000, max_upload_files=2)
    before = desk.info()["version"]
    small = jsonl_bytes(article("small", "A short report."))
    big = jsonl_bytes(article("big", "A long report. " * 200))
    cases = [
        ([("a.jsonl", small), ("b.jsonl", big)], 413, "'b.jsonl' is over the limit of 2000 bytes"),
        ([(f"{n}.jsonl", small) for n in "abc"], 413, "3 files is over the limit of 2"),
        ([("tool.exe", small)], 415, "'tool.exe' is not a supported kind of file"),
        ([("...", small)], 422, "the file name '...' has no usable characters"),
        ([("bad.jsonl", b'{"id": "x", "text": 5}\n')], 422, "bad.jsonl:1"),
    ]
    for files, status, message in cases:
        response = client.post("/api/files", files=[("files", (n, data, "x")) for n, data in files])
        assert response.status_code == status, (message, response.text)
        assert message in response.json()["error"]
    assert files_under(root) == [] and desk.info()["version"] == before
    too_big_a_body = b"x" * (2 * 2000 + 1024 * 1024 + 1)
    response = client.post("/api/files", files=[("files", ("a.jsonl", too_big_a_body, "x"))])
    assert response.status_code == 413 and "NEWSDESK_MAX_UPLOAD_BYTES" in response.json()["error"]


def test_uploads_need_a_key_that_may_write(desk: Newsdesk) -> None:
    client = client_for(desk)
    files = [("files", ("a.jsonl", jsonl_bytes(article("a", "Text.")), "x"))]
    assert client.post("/api/files", files=files, headers={"Authorization": ""}).status_code == 401
    assert (
        client.post("/api/files", files=files, headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    assert (
        client.post("/api/files", files=files, headers={"Authorization": "Bearer reader"}).status_code == 403
    )


def test_the_web_uis_file_box_has_the_same_size_limit(desk: Newsdesk) -> None:
    server = ServerSettings(max_upload_bytes=1000)
    client = TestClient(create_app(desk, server, load_now=True))
    small = client.post("/gradio_api/upload", files=[("files", ("a.jsonl", b"x" * 900, "x"))])
    large = client.post("/gradio_api/upload", files=[("files", ("a.jsonl", b"x" * 1100, "x"))])
    assert small.status_code == 200 and large.status_code == 413
