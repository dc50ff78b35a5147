"""SIGKILL at random moments of `ingest`, `delete` and `check --repair`, round after round on one index:
after every kill the index opens with every checksum verified and holds exactly the state before the
command or exactly the state after it, and no kill ever costs a version the pointer names.

Bounded: NEWSDESK_CRASH_LOOP_ROUNDS rounds (default 12, about a minute), seeded by
NEWSDESK_CRASH_LOOP_SEED (default 22, printed on failure) so a failing run can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.archive import IndexDirectory
from index.check import version_problems
from tests.conftest import article
from tests.test_crash import state, write

pytestmark = pytest.mark.crashloop

ROUNDS = int(os.environ.get("NEWSDESK_CRASH_LOOP_ROUNDS", "12"))
SEED = int(os.environ.get("NEWSDESK_CRASH_LOOP_SEED", "22"))


def _start(index: Path, *arguments: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "newsdesk_app.cli", *arguments, "--index", str(index)]
    environment = {
        k: v for k, v in os.environ.items() if k not in ("NEWSDESK_CRASH_AT", "NEWSDESK_DISK_FULL_AT")
    }
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _run(index: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    process = _start(index, *arguments)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _flip_vectors(index: Path) -> None:
    target = index / "versions" / str(IndexDirectory(index).current_version()) / "vectors.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))


def test_random_kills_during_ingest_delete_and_repair_never_lose_or_half_write_a_version(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    index = tmp_path / "index"
    start = write(
        tmp_path / "start.jsonl", [article(f"a{i}", f"Report {i}: jets struck Homs.") for i in range(6)]
    )
    assert _run(index, "ingest", str(start), "--model", "hashing").returncode == 0
    ids = state(index)[1]
    killed = finished = 0
    for round_number in range(ROUNDS):
        where = f"seed {SEED}, round {round_number}"
        arguments: tuple[str, ...]
        operation = rng.choice(["ingest", "delete", "repair"] if len(ids) > 1 else ["ingest", "repair"])
        if operation == "ingest":
            new = [f"r{round_number}-{i}" for i in range(rng.randint(1, 4))]
            corpus = write(
                tmp_path / f"round{round_number}.jsonl",
                [article(n, f"Round {round_number}: the council passed budget item {n}.") for n in new],
            )
            after, arguments = sorted({*ids, *new}), ("ingest", str(corpus), "--model", "hashing")
        elif operation == "delete":
            gone = rng.sample(ids, k=min(len(ids) - 1, rng.randint(1, 2)))  # one always stays
            after, arguments = sorted(set(ids) - set(gone)), ("delete", *gone)
        else:
            _flip_vectors(index)  # a rebuild to interrupt
            after, arguments = ids, ("check", "--repair", "--json")
        process = _start(index, *arguments)
        time.sleep(rng.uniform(0.3, 1.2))  # each command takes about 0.8-1.5 s here
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        _, error = process.communicate(timeout=60)
        if process.returncode == -signal.SIGKILL:
            killed += 1
        else:
            assert process.returncode == 0, f"{where}: {operation} failed on its own: {error}"
            finished += 1

        live = IndexDirectory(index).current_version()
        assert live is not None and (index / "versions" / live).is_dir(), where
        if operation == "repair" and version_problems(index / "versions" / live):
            repaired = _run(index, "check", "--repair", "--json")  # the kill came before the new version
            assert repaired.returncode == 0, f"{where}: {repaired.stdout}{repaired.stderr}"
        now = state(index)[1]  # opens with every checksum verified
        assert now in (ids, after), f"{where}: {operation} left {now}, neither {ids} nor {after}"
        checked = _run(index, "check", "--json")
        assert checked.returncode == 0 and json.loads(checked.stdout)["problems"] == [], (
            f"{where}: {checked.stdout}"
        )
        folders = sorted(p.name for p in (index / "versions").iterdir())
        assert not any(name.startswith(".tmp-") for name in folders), f"{where}: {folders}"
        assert len(folders) <= IndexDirectory(index).keep_versions, f"{where}: {folders}"
        ids = now
    print(f"seed {SEED}: {killed} of {ROUNDS} rounds killed, {finished} finished")
    assert killed > 0 and killed + finished == ROUNDS, f"seed {SEED}: {killed} killed, {finished} finished"
