"""index.atomic: a target is replaced whole or not at all, and no temporary file outlives a failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from index.atomic import atomic_file, atomic_path, atomic_write


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("data", ["new text, ünïcode\n", b"\x00new bytes\xff"])
def test_the_target_is_replaced_whole_and_no_temporary_is_left(tmp_path: Path, data: str | bytes) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    atomic_write(target, data)
    expected = data.encode("utf-8") if isinstance(data, str) else data
    assert target.read_bytes() == expected
    assert listing(tmp_path) == ["report.json"]


def test_a_new_target_is_created_and_the_directory_can_be_synced(tmp_path: Path) -> None:
    atomic_write(tmp_path / "CURRENT", "v000001\n", durable_rename=True)
    assert (tmp_path / "CURRENT").read_text(encoding="utf-8") == "v000001\n"
    assert listing(tmp_path) == ["CURRENT"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("failure", [Boom, KeyboardInterrupt])
def test_a_failure_mid_write_keeps_the_old_file_and_removes_the_temporary_one(
    tmp_path: Path, failure: type[BaseException]
) -> None:
    target = tmp_path / "model.gguf"
    target.write_bytes(b"old and whole")
    seen: list[str] = []
    with pytest.raises(failure), atomic_file(target, "wb") as handle:
        handle.write(b"half of the new")
        handle.flush()
        seen = listing(tmp_path)
        raise failure()
    assert len(seen) == 2 and seen[0].startswith(".model.gguf.")  # the temporary file existed, hidden
    assert target.read_bytes() == b"old and whole"
    assert listing(tmp_path) == ["model.gguf"]


def test_a_failing_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):
        atomic_write(target, b"data")
    assert listing(tmp_path) == ["taken"] and listing(target) == []


def test_a_writer_that_opens_files_by_name_gets_a_path_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.exists() and temporary != target
        temporary.write_bytes(b"onnx")
    assert target.read_bytes() == b"onnx" and listing(tmp_path) == ["model.onnx"]
    with pytest.raises(Boom), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise Boom()
    assert target.read_bytes() == b"onnx" and listing(tmp_path) == ["model.onnx"]


def test_permissions_are_those_asked_for_less_the_umask(tmp_path: Path) -> None:
    atomic_write(tmp_path / "private", b"x", permissions=0o600)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "shared", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644


def test_only_write_modes_are_accepted(tmp_path: Path) -> None:
    refused = pytest.raises(ValueError, match="mode must be 'w' or 'wb', got 'a'")
    with refused, atomic_file(tmp_path / "x", "a"):
        pass
    assert listing(tmp_path) == []
