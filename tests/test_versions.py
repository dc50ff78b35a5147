"""The archive is never deleted and earlier versions are kept: CURRENT is read strictly, the last
NEWSDESK_KEEP_VERSIONS versions stay on disk, `check --repair` rolls back to a whole one when the live
one cannot be rebuilt, a killed write's staging folder is cleared, and a full disk publishes nothing."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from index import manifest as manifest_module
from index.archive import IndexDirectory
from index.check import check
from index.embedding_cache import EmbeddingCache
from index.errors import IndexStateError
from index.faults import DISK_FULL_POINTS
from tests.conftest import article
from tests.test_crash import _check, ingest, state, write


def _cli(index: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "newsdesk_app.cli", *arguments, "--index", str(index)]
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_") or k.endswith("CACHE")
    }
    return subprocess.run(
        command, env={**environment, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def _build(tmp_path: Path, writes: int) -> Path:
    """An index written `writes` times, one new article each time."""
    index = tmp_path / "index"
    for n in range(writes):
        corpus = write(
            tmp_path / f"w{n}.jsonl", [article(f"a{n}", f"Report {n}: jets struck Homs, {n} dead.")]
        )
        result = ingest(index, corpus)
        assert result.returncode == 0, result.stderr
    return index


def _versions(index: Path) -> list[str]:
    return sorted(p.name for p in (index / "versions").iterdir())


def _flip_last_byte(target: Path) -> None:
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))


POINTERS = ["v000002/", "./v000002", "../versions/v000002", "v000002\n\n", " v000002", "versions/v000002"]


@pytest.mark.parametrize("pointer", POINTERS)
def test_a_pointer_that_is_a_path_is_damage_and_no_write_deletes_any_version(
    tmp_path: Path, pointer: str
) -> None:
    index = _build(tmp_path, 2)
    kept = _versions(index)
    assert kept == ["v000001", "v000002"]
    (index / "CURRENT").write_text(pointer, encoding="utf-8")

    with pytest.raises(IndexStateError, match=r"CURRENT holds .*not the name of a version.*check --repair"):
        IndexDirectory(index).open()
    found = _check(index)
    assert found.returncode == 1 and "not the name of a version" in json.loads(found.stdout)["problems"][0]
    more = write(tmp_path / "more.jsonl", [article("b", "A second report on the council budget.")])
    refused = ingest(index, more)
    assert refused.returncode == 1 and "pointer to the live version is damaged" in refused.stderr
    deleted = _cli(index, "delete", "a0")
    assert deleted.returncode == 1 and "pointer to the live version is damaged" in deleted.stderr
    assert _versions(index) == kept  # nothing was deleted by the ingest, the delete or the check

    repaired = _check(index, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert json.loads(repaired.stdout)["repaired"][0].startswith("CURRENT now names v000002")
    assert state(index)[1] == ["a0", "a1"]
    assert ingest(index, more).returncode == 0
    assert state(index)[1] == ["a0", "a1", "b"]


def test_removing_old_versions_never_removes_the_one_the_pointer_leads_to(tmp_path: Path) -> None:
    index = _build(tmp_path, 2)
    (index / "CURRENT").write_text("./v000001\n", encoding="utf-8")  # as a hand edit may leave it
    IndexDirectory(index, keep_versions=1)._remove_old_versions(live="v000002")
    assert _versions(index) == ["v000001", "v000002"]


def test_the_last_versions_are_kept_and_info_lists_them(tmp_path: Path) -> None:
    index = _build(tmp_path, 4)
    assert _versions(index) == ["v000003", "v000004"]  # the default keeps 2
    info = json.loads(_cli(index, "info", "--json").stdout)
    assert [(v["version"], v["live"], v["articles"]) for v in info["versions"]] == [
        ("v000004", True, 4),
        ("v000003", False, 3),
    ]
    text = _cli(index, "info").stdout
    assert "versions    2 kept" in text and "v000004 (live)" in text and "v000003  " in text

    more = write(tmp_path / "more.jsonl", [article("b", "A second report on the council budget.")])
    wider = _cli(index, "ingest", str(more), "--model", "hashing", NEWSDESK_KEEP_VERSIONS="3")
    assert wider.returncode == 0, wider.stderr
    assert _versions(index) == ["v000003", "v000004", "v000005"]
    bad = _cli(index, "delete", "b", NEWSDESK_KEEP_VERSIONS="none")
    assert bad.returncode == 1 and "NEWSDESK_KEEP_VERSIONS must be a whole number" in bad.stderr


@pytest.mark.parametrize("damaged", ["catalog.sqlite", "manifest.json"])
def test_repair_rolls_back_to_the_newest_whole_version_when_the_live_one_cannot_be_rebuilt(
    tmp_path: Path, damaged: str
) -> None:
    index = _build(tmp_path, 3)
    _flip_last_byte(index / "versions" / "v000003" / damaged)
    found = _check(index)
    assert found.returncode == 1 and any(damaged in p for p in json.loads(found.stdout)["problems"])

    repaired = _check(index, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert json.loads(repaired.stdout)["repaired"] == [
        "CURRENT now names v000002, the newest version whose files all verify; the writes after it are "
        "lost (v000003 is damaged)"
    ]
    assert state(index)[:2] == ("v000002", ["a0", "a1"]) and _check(index).returncode == 0
    again = write(tmp_path / "again.jsonl", [article("a2", "Report 2: jets struck Homs, 2 dead.")])
    assert ingest(index, again).returncode == 0
    assert state(index)[1] == ["a0", "a1", "a2"]


def test_a_deleted_catalog_is_named_by_check_and_repair_without_a_traceback(tmp_path: Path) -> None:
    index = _build(tmp_path, 1)
    (index / "versions" / "v000001" / "catalog.sqlite").unlink()
    for options in ((), ("--repair",)):
        result = _check(index, *options)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        problems = json.loads(result.stdout)["problems"]
        assert any("catalog.sqlite: index file is missing" in p for p in problems)
    assert "not repairable: catalog.sqlite of v000001 cannot be rebuilt" in problems[-1]


def test_a_killed_writes_staging_folder_is_removed_when_the_index_is_next_checked(tmp_path: Path) -> None:
    index = _build(tmp_path, 1)
    more = write(tmp_path / "more.jsonl", [article("b", "A second report on the council budget.")])
    assert ingest(index, more, crash_at="staged").returncode < 0
    assert any(p.name.startswith(".tmp-") for p in (index / "versions").iterdir())
    assert _check(index).returncode == 0
    assert _versions(index) == ["v000001"]


@pytest.mark.parametrize("point", DISK_FULL_POINTS)
def test_a_full_disk_at_any_write_step_publishes_nothing_and_says_so(tmp_path: Path, point: str) -> None:
    index = _build(tmp_path, 1)
    before = state(index)
    more = write(tmp_path / "more.jsonl", [article("b", "A second report on the council budget.")])
    failed = _cli(index, "ingest", str(more), "--model", "hashing", NEWSDESK_DISK_FULL_AT=point)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert "no space left on the device" in failed.stderr and "v000001 still serves" in failed.stderr
    assert state(index) == before
    assert sorted(p.name for p in index.iterdir()) == ["CURRENT", "LOCK", "versions"]  # no temporary file
    assert _versions(index) == ["v000001"]
    assert ingest(index, more).returncode == 0


def test_a_full_disk_during_delete_and_repair_leaves_the_live_version(tmp_path: Path) -> None:
    index = _build(tmp_path, 2)
    before = state(index)
    failed = _cli(index, "delete", "a0", NEWSDESK_DISK_FULL_AT="vectors")
    assert failed.returncode == 1 and "no space left" in failed.stderr and state(index) == before
    _flip_last_byte(index / "versions" / "v000002" / "vectors.npy")
    failed = _cli(index, "check", "--repair", NEWSDESK_DISK_FULL_AT="bm25")
    assert failed.returncode == 1 and "no space left" in failed.stderr and "Traceback" not in failed.stderr
    assert _versions(index) == ["v000001", "v000002"]
    assert _check(index, "--repair").returncode == 0 and state(index)[1] == before[1]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB tmpfs, so the kernel itself answers ENOSPC (needs root, as in CI)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("room", [64 * 1024, 0])
def test_a_really_full_disk_publishes_nothing_and_the_index_keeps_serving(
    tmp_path: Path, small_disk: Path, room: int
) -> None:
    """With 64 KB left the lock is taken and the new version fails; with none left even the lock file's
    pid and the embedding cache (on the same disk here) cannot be written, and that must not matter."""
    index = small_disk / "index"
    shutil.copytree(_build(tmp_path, 1), index)
    before = state(index)
    records = [
        article(f"n{i}", f"Report {i} on the council budget and {i} new bike lanes. " * 40) for i in range(30)
    ]
    more = write(tmp_path / "more.jsonl", records)
    filler = _fill(small_disk, room)
    cache = str(small_disk / "embeddings.sqlite")
    failed = _cli(index, "ingest", str(more), "--model", "hashing", NEWSDESK_EMBEDDING_CACHE=cache)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert "no space left on the device" in failed.stderr and "v000001 still serves" in failed.stderr
    assert state(index) == before and _versions(index) == ["v000001"]
    filler.unlink()
    assert ingest(index, more).returncode == 0 and len(state(index)[1]) == 31


def _fill(disk: Path, room: int) -> Path:
    """Fill `disk` until only `room` bytes are free, whatever the file system rounds to."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        block = b"\0" * 4096
        with contextlib.suppress(OSError):
            while shutil.disk_usage(disk).free > room:
                handle.write(block)
                handle.flush()
    return filler


def test_an_embedding_cache_on_a_full_disk_costs_a_warning_not_the_ingest(
    tmp_path: Path, small_disk: Path
) -> None:
    index = _build(tmp_path, 1)
    cache = small_disk / "embeddings.sqlite"
    assert _cli(index, "info", NEWSDESK_EMBEDDING_CACHE=str(cache)).returncode == 0
    EmbeddingCache(cache).close()  # made while there was room, as a cache in a home folder that filled up
    _fill(small_disk, 0)
    records = [
        article(f"n{i}", f"Report {i} on the council budget and {i} new bike lanes. " * 40) for i in range(30)
    ]
    more = write(tmp_path / "more.jsonl", records)
    result = _cli(
        index, "ingest", str(more), "--model", "hashing", "--json", NEWSDESK_EMBEDDING_CACHE=str(cache)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["added"]) == 30 and report["warning_count"] == 1
    assert f"the embedding cache {cache} cannot be" in report["warnings"][0]
    assert len(state(index)[1]) == 31


def test_a_file_that_cannot_be_read_is_named_and_repair_rolls_back_past_it(tmp_path: Path) -> None:
    """A folder where a file should be (IsADirectoryError) reads as a bad sector would: an OSError
    that is not 'file not found'. It must be a named problem, never a traceback."""
    index = _build(tmp_path, 2)
    manifest = index / "versions" / "v000002" / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    found = _check(index)
    assert found.returncode == 1 and "Traceback" not in found.stderr, found.stderr
    assert any("manifest.json: manifest cannot be read" in p for p in json.loads(found.stdout)["problems"])
    repaired = _check(index, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert json.loads(repaired.stdout)["repaired"][0].startswith("CURRENT now names v000001")
    assert state(index)[:2] == ("v000001", ["a0"])


def test_an_io_error_reading_the_live_catalog_is_named_and_repair_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _build(tmp_path, 2)
    damaged = index / "versions" / "v000002" / "catalog.sqlite"
    real = manifest_module.file_sha256

    def bad_sector(path: Path) -> str:
        if path == damaged:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        return real(path)

    monkeypatch.setattr(manifest_module, "file_sha256", bad_sector)
    report = check(index)
    assert any(f"{damaged}: index file cannot be read ([Errno 5]" in p for p in report.problems)
    report = check(index, repair=True)
    assert report.repaired[0].startswith("CURRENT now names v000001") and report.version == "v000001"


def test_a_pointer_that_cannot_be_read_is_named_not_a_traceback(tmp_path: Path) -> None:
    index = _build(tmp_path, 1)
    (index / "CURRENT").unlink()
    (index / "CURRENT").mkdir()
    for command in (("check", "--json"), ("info",), ("delete", "a0")):
        result = _cli(index, *command)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert "CURRENT" in result.stdout + result.stderr
