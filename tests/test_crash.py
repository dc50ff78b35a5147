"""`newsdesk ingest` killed with SIGKILL at every point of a write, in a subprocess: afterwards the
index loads and holds exactly the previous state (or, once CURRENT has been swapped, exactly the new
one), and running the same ingest again completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from index.archive import IndexDirectory
from index.faults import CRASH_POINTS
from tests.conftest import article


def ingest(index: Path, corpus: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSDESK_CRASH_AT"}
    if crash_at:
        env["NEWSDESK_CRASH_AT"] = crash_at
    command = [
        sys.executable,
        "-m",
        "rag.cli",
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
        ids = sorted(snapshot.catalog.article_hashes())
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
    # Nothing a killed write left behind survives the next successful one.
    assert [p.name for p in (index / "versions").iterdir()] == [version]
