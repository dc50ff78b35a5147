"""benchmarks/load.py runs end to end on a small load and reports what it promises. Its figures are
printed by the script (docs/benchmarks.md), never asserted as timings here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"


def test_a_small_load_during_ingests_succeeds_and_reports_latency_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    command = [sys.executable, str(SCRIPT), "--requests", "60", "--quiet-requests", "20", "--clients", "4"]
    result = subprocess.run(
        [*command, "--batch", "10", "--json", str(out)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    for phase, sent in (("quiet", 20), ("during_ingest", 60), ("quiet_again", 20)):
        assert figures[phase]["requests"] == sent and figures[phase]["success_rate"] == 1.0, figures[phase]
        assert set(figures[phase]["by_endpoint"]) == {"/api/ask", "/v1/chat/completions"}
        assert 0 < figures[phase]["latency"]["p50_ms"] <= figures[phase]["latency"]["p99_ms"]
    rounds = figures["ingest_rounds"]
    assert rounds and all(r["exit"] == 0 for r in rounds)
    assert figures["articles"]["after"] == figures["articles"]["before"] + 10 * len(rounds)
    assert set(figures["rss_growth_mb"]) == {
        "quiet_load",
        "load_during_ingests",
        "quiet_load_on_the_grown_index",
    }
