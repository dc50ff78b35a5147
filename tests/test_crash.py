"""`newsdesk ingest` killed with SIGKILL at every point of a write, in a subprocess: afterwards the
index loads and holds exactly the previous state (or, once CURRENT has been swapped, exactly the new
one), and running the same ingest again completes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from index.archive import IndexDirectory
from index.check import version_problems
from index.embedding import HashingEmbedder
from index.errors import IndexStateError
from index.faults import CRASH_POINTS
from rag.service import Newsdesk
from tests.conftest import article


def ingest(index: Path, corpus: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSDESK_CRASH_AT"}
    if crash_at:
        env["NEWSDESK_CRASH_AT"] = crash_at
    command = [
        sys.executable,
        "-m",
        "newsdesk_app.cli.main",
        "ingest",
        str(corpus),
        "--index",
        str(index),
        "--model",
        "hashing",
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def state(index: Path) -> tuple[str, list[str], int]:
    snapshot = IndexDirectory(index).open()  # verifies every checksum
    try:
        ids = sorted(snapshot.local_catalog().article_hashes())
        return snapshot.version, ids, len(snapshot.vectors)
    finally:
        snapshot.close()


def write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_write_killed_at_any_point_leaves_the_previous_or_the_new_state_whole(
    tmp_path: Path, point: str
) -> None:
    index = tmp_path / "index"
    first = write(tmp_path / "first.jsonl", [article("strikes", "Jets struck Hama, Homs and Latakia.")])
    second = write(
        tmp_path / "second.jsonl",
        [article(f"more-{i}", f"Report {i} on the council budget and {i} new bike lanes.") for i in range(5)],
    )
    assert ingest(index, first).returncode == 0
    before = state(index)

    killed = ingest(index, second, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = state(index)
    if point == "published":
        assert after[1] == sorted(["strikes", *(f"more-{i}" for i in range(5))]) and after[0] != before[0]
    else:
        assert after == before  # the same version, articles and vectors

    again = ingest(index, second)
    assert again.returncode == 0, again.stderr
    version, ids, vectors = state(index)
    assert ids == sorted(["strikes", *(f"more-{i}" for i in range(5))]) and vectors == 6
    # Nothing a killed write left behind survives the next successful one; the version before the
    # live one is kept (NEWSDESK_KEEP_VERSIONS defaults to 2), whole, to roll back to.
    assert sorted(p.name for p in (index / "versions").iterdir()) == [before[0], version]
    assert version_problems(index / "versions" / before[0]) == []


def _damage(index: Path, name: str) -> Path:
    version = IndexDirectory(index).current_version()
    target = index / "versions" / str(version) / name
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def _check(index: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "newsdesk_app.cli", "check", "--index", str(index), "--json", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_check_names_damaged_files_and_repair_rebuilds_vectors_and_bm25_from_the_chunks(
    tmp_path: Path,
) -> None:
    index = tmp_path / "index"
    corpus = write(
        tmp_path / "c.jsonl", [article(f"a{i}", f"Report {i}: jets struck Homs, {i} dead.") for i in range(4)]
    )
    assert ingest(index, corpus).returncode == 0
    healthy = _check(index)
    assert healthy.returncode == 0 and json.loads(healthy.stdout)["problems"] == []
    before = state(index)[1:]

    _damage(index, "vectors.npy")
    _damage(index, "bm25/params.index.json")
    found = _check(index)
    problems = json.loads(found.stdout)["problems"]
    assert found.returncode == 1 and any("vectors.npy" in p for p in problems)
    assert any("params.index.json" in p for p in problems)

    repaired = _check(index, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "rebuilt 4 vectors" in json.loads(repaired.stdout)["repaired"][0]
    assert state(index)[1:] == before and _check(index).returncode == 0


def test_a_damaged_catalog_is_reported_as_not_repairable(tmp_path: Path) -> None:
    index = tmp_path / "index"
    assert ingest(index, write(tmp_path / "c.jsonl", [article("a", "Jets struck Homs.")])).returncode == 0
    _damage(index, "catalog.sqlite")
    result = _check(index, "--repair")
    assert result.returncode == 1
    assert any("catalog.sqlite" in p and "not repairable" in p for p in json.loads(result.stdout)["problems"])


def _hashing_index(tmp_path: Path) -> Path:
    index = tmp_path / "index"
    records = [article(f"a{i}", f"Report {i}: jets struck Homs, {i} dead.") for i in range(3)]
    Newsdesk(index, embedder=HashingEmbedder()).ingest([write(tmp_path / "c.jsonl", records)])
    return index


def _harm(target: Path, damage: str) -> None:
    data = target.read_bytes()
    if damage == "flip":
        middle = len(data) // 2
        target.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :])
    elif damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    else:
        target.unlink()


def test_any_file_of_the_index_flipped_truncated_or_deleted_is_named_at_load(tmp_path: Path) -> None:
    index = _hashing_index(tmp_path)
    files = sorted(p.relative_to(index) for p in index.rglob("*") if p.is_file() and p.name != "LOCK")
    assert len(files) >= 8  # CURRENT, manifest, catalog, vectors and the BM25 files
    for relative in files:
        for damage in ("flip", "truncate", "delete"):
            copy = tmp_path / "copy"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(index, copy)
            _harm(copy / relative, damage)
            named = "CURRENT" if relative.name == "CURRENT" else relative.name
            with pytest.raises(IndexStateError, match=re.escape(named)):
                IndexDirectory(copy).open().close()


def test_a_manifest_edit_that_still_reads_as_json_is_caught_by_its_own_checksum(tmp_path: Path) -> None:
    index = _hashing_index(tmp_path)
    manifest = index / "versions" / str(IndexDirectory(index).current_version()) / "manifest.json"
    text = manifest.read_text(encoding="utf-8")
    digest = json.loads(text)["files"]["vectors.npy"]["sha256"]
    changed = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    manifest.write_text(text.replace(digest, changed), encoding="utf-8")
    with pytest.raises(IndexStateError, match=r"manifest.json: manifest is damaged \(checksum mismatch\)"):
        IndexDirectory(index).open()


@pytest.mark.parametrize("damage", ["delete", "empty", "unknown version"])
def test_a_damaged_current_pointer_is_never_taken_for_an_empty_index_and_repair_restores_it(
    tmp_path: Path, damage: str
) -> None:
    index = _hashing_index(tmp_path)
    before = state(index)
    pointer = index / "CURRENT"
    if damage == "delete":
        pointer.unlink()
    else:
        pointer.write_text("" if damage == "empty" else "v000009\n", encoding="utf-8")
    more = write(tmp_path / "more.jsonl", [article("b", "A second report on the council budget.")])
    with pytest.raises(IndexStateError, match=r"pointer to the live version is damaged.*check --repair"):
        Newsdesk(index, embedder=HashingEmbedder()).ingest([more])
    assert [p.name for p in (index / "versions").iterdir()] == [before[0]]  # nothing removed, nothing new
    found = _check(index)
    assert found.returncode == 1 and "CURRENT" in json.loads(found.stdout)["problems"][0]
    repaired = _check(index, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert json.loads(repaired.stdout)["repaired"] == [
        f"CURRENT now names {before[0]}, the newest version whose files all verify"
    ]
    assert state(index) == before
    Newsdesk(index, embedder=HashingEmbedder()).ingest([more])
    assert state(index)[1] == sorted([*before[1], "b"])
