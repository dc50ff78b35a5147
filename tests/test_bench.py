"""`newsdesk bench --quick --json` runs end to end and reports every figure, each with its baseline.
Timings are printed by the benchmark, never asserted here; what is asserted is that each figure exists,
is a measurement (a positive number), and that the search figures are for the right index."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def quick() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "newsdesk_app.cli", "bench", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def test_ingest_figures_stand_beside_the_raw_encode_baseline(quick: dict[str, Any]) -> None:
    ingest = quick["ingest"]
    for key in ("chunks_per_s", "raw_encode_chunks_per_s", "ratio_to_raw", "embedder_alone_chunks_per_s"):
        assert positive(ingest[key]), key
    assert ingest["ratio_to_raw"] == pytest.approx(
        ingest["chunks_per_s"] / ingest["raw_encode_chunks_per_s"], 0.05
    )
    assert ingest["chunks"] > 0 and ingest["raw_encode_batch_size"] == 32
    assert ingest["cached_reingest_chunks_embedded"] == 0  # every vector came from the cache


def test_query_figures_cover_retrieval_ask_bm25_and_concurrent_serving(quick: dict[str, Any]) -> None:
    query = quick["query"]
    for stage in ("retrieval", "ask", "bm25_retrieval", "bm25_ask", "serve_latency_8_clients"):
        assert positive(query[stage]["p50_ms"]) and query[stage]["p95_ms"] >= query[stage]["p50_ms"], stage
    assert positive(query["serve_qps_8_clients"]) and positive(query["serve_qps_1_client"])
    assert query["serve_failed_requests"] == 0


def test_scale_rows_report_index_recall_and_bytes_per_chunk(quick: dict[str, Any]) -> None:
    rows = quick["scale"]
    assert [r["chunks"] for r in rows] == [10_000, 100_000, 1_000_000]
    assert rows[0]["index"] == "exact" and rows[0]["recall_at_10"] == 1.0
    assert rows[-1]["index"].startswith("IVF")
    for row in rows:
        assert row["recall_at_10"] >= 0.95
        for key in (
            "build_s",
            "search_p50_ms",
            "exact_search_p50_ms",
            "disk_bytes_per_chunk",
            "memory_bytes_per_chunk",
        ):
            assert positive(row[key]), (row["chunks"], key)
    # The compressed index holds far less than the 1,536 bytes of a float32 row in memory.
    assert rows[-1]["memory_bytes_per_chunk"] < 1024


def test_startup_is_measured_with_and_without_the_web_ui(quick: dict[str, Any]) -> None:
    startup = quick["startup"]
    for key in (
        "serve_to_first_answer_s_with_ui",
        "serve_to_first_answer_s_api_only",
        "import_floor_s_with_ui",
    ):
        assert positive(startup[key]), key
    assert quick["machine"]["cpus"] >= 1 and positive(quick["seconds"])


def test_an_unknown_stage_is_refused_by_name() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "newsdesk_app.cli", "bench", "--only", "ingest,warp"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "warp" in result.stderr
