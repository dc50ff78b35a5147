"""Evaluation reports: files written, failures first, HTML self-contained and escaped, comparison table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from eval.report import render_comparison_markdown, render_html, render_markdown, write_reports

SCRIPT = "<script>alert('x')</script>"
GROUPS = {
    "retrieval": ["hit@1", "hit@3", "mrr@10"],
    "answers": ["answer_accuracy", "token_f1", "choice_accuracy"],
    "citations": ["citation_precision"],
    "refusal": ["refusal_precision", "wrong_refusal_rate"],
    "cost": ["latency_ms_p50_total", "questions_per_second"],
}


def metric(value: float | None, ci: list[float] | None, n: int) -> dict[str, Any]:
    return {"value": value, "ci": ci, "n": n}


def record(qid: str, date: str | None, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": qid,
        "question": f"Question {qid}?",
        "question_date": date,
        "answerable": True,
        "gold_answers": [f"gold {qid}"],
        "gold_article_ids": [f"art-{qid}"],
        "choices": [],
        "picked_choice": None,
        "choice_correct": None,
        "answer": f"Answer {qid} [1]",
        "answered": True,
        "correct": True,
        "token_f1": 1.0,
        "gold_rank": 1,
        "retrieved_article_ids": [f"art-{qid}", "other"],
        "citations": [
            {
                "n": 1,
                "article_id": f"art-{qid}",
                "title": f"Title | {qid}",
                "source": "CNN",
                "published_at": "2015-10-01T08:00:00Z",
                "quote": "a quote",
                "supports": True,
            }
        ],
        "outlet": "CNN",
        "failure": None,
        "timings_ms": {"retrieve": 10.0, "answer": 40.0, "total": 50.0},
    }
    base.update(fields)
    return base


@pytest.fixture
def report() -> dict[str, Any]:
    records = [
        record("q-pass-1", "2015-10-02"),
        record(
            "q-fail",
            "2015-11-05",
            question=f"Who wrote {SCRIPT}?\nSecond line",
            answer=f"It was {SCRIPT} " + "very long " * 60,
            correct=False,
            token_f1=0.1,
            gold_rank=None,
            failure="wrong answer",
            timings_ms={"retrieve": 12.0, "answer": 70.0, "total": 82.0},
        ),
        record("q-pass-2", "2015-11-20", gold_rank=2),
        record(
            "q-unanswerable",
            None,
            answerable=False,
            gold_answers=[],
            gold_article_ids=[],
            answer="The archive does not say.",
            answered=False,
            gold_rank=None,
            citations=[],
            outlet=None,
        ),
    ]
    metrics = {
        "hit@1": metric(0.667, [0.333, 1.0], 3),
        "hit@3": metric(1.0, [1.0, 1.0], 3),
        "mrr@10": metric(0.833, [0.5, 1.0], 3),
        "answer_accuracy": metric(0.75, [0.5, 1.0], 4),
        "token_f1": metric(0.7, [0.4, 1.0], 4),
        "choice_accuracy": metric(None, None, 0),
        "citation_precision": metric(1.0, [1.0, 1.0], 3),
        "refusal_precision": metric(1.0, [1.0, 1.0], 1),
        "wrong_refusal_rate": metric(0.0, [0.0, 0.0], 3),
        "latency_ms_p50_total": metric(50.0, None, 4),
        "questions_per_second": metric(12.5, None, 4),
    }
    return {
        "title": "seed gold on /tmp/index",
        "created_at": "2026-11-25T10:30:00+00:00",
        "seconds": 0.32,
        "interrupted": False,
        "config": {
            "gold": "/tmp/gold.jsonl",
            "index": "/tmp/index",
            "corpus": None,
            "k": 10,
            "retrieval": "hybrid",
        },
        "manifest": {"model": "all-MiniLM-L6-v2", "dimension": 384},
        "versions": {"newsdesk": "0.1.0", "python": "3.11.7"},
        "metrics": metrics,
        "groups": GROUPS,
        "hit_curve": {str(k): min(1.0, 0.667 + 0.111 * (k - 1)) for k in range(1, 11)},
        "records": records,
    }


def test_write_reports_writes_three_files_and_json_round_trips(
    report: dict[str, Any], tmp_path: Path
) -> None:
    paths = write_reports(report, tmp_path / "out")
    assert set(paths) == {"json", "md", "html"}
    assert all(path.is_file() and path.parent == tmp_path / "out" for path in paths.values())
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == report
    assert paths["md"].read_text(encoding="utf-8") == render_markdown(report)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_markdown_has_groups_failures_first_and_escaped_cells(report: dict[str, Any]) -> None:
    text = render_markdown(report)
    for group in GROUPS:
        assert f"## {group.capitalize()}" in text
    assert text.index("q-fail") < text.index("q-pass-1") < text.index("q-pass-2")
    assert "| choice_accuracy | — | — | 0 |" in text
    assert "| latency_ms_p50_total | 50.0 ms | — | 4 |" in text
    assert "| hit@1 | 0.667 | [0.333, 1.000] | 3 |" in text
    assert "[1] Title \\| q-pass-1 (CNN, 2015-10-01)" in text
    assert "(refused) The archive does not say." in text and "(unanswerable)" in text
    fail_row = next(line for line in text.splitlines() if "q-fail" in line)
    assert "<script>" not in fail_row and "Second line" in fail_row
    assert "…" in fail_row and len(fail_row) < 1000
    assert all(line.count("|") - line.count("\\|") == 8 for line in text.splitlines() if "| q-" in line)


def test_html_is_self_contained_with_plots_and_escaped(report: dict[str, Any]) -> None:
    page = render_html(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert page.count('<img src="data:image/png;base64,') == 3
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.index("q-fail") < page.index("q-pass-1")
    assert '<tr class="fail">' in page
    for group in GROUPS:
        assert f"<h2>{group.capitalize()}</h2>" in page


def test_html_omits_accuracy_plot_without_months_or_outlets(report: dict[str, Any]) -> None:
    for r in report["records"]:
        r["question_date"], r["outlet"] = "2015-10-02", None
    assert render_html(report).count('<img src="data:image/png;base64,') == 2


def test_interrupted_run_is_announced(report: dict[str, Any]) -> None:
    report["interrupted"] = True
    assert "interrupted after 4 questions" in render_markdown(report)
    assert '<span class="interrupted">interrupted after 4 questions</span>' in render_html(report)


def test_comparison_table_marks_significant_diffs() -> None:
    comparison = {
        "old": "runs/old",
        "new": "runs/new",
        "metrics": {
            "hit@1": {"old": 0.7, "new": 0.8, "diff": 0.1, "ci": [0.02, 0.2], "significant": True, "n": 5},
            "token_f1": {
                "old": 0.5,
                "new": 0.49,
                "diff": -0.01,
                "ci": [-0.05, 0.03],
                "significant": False,
                "n": 5,
            },
            "latency_ms_p50_total": {"old": 50.0, "new": 41.5, "diff": -8.5, "ci": None, "significant": None},
        },
    }
    text = render_comparison_markdown(comparison)
    assert "| metric | old | new | diff | 95% CI of diff | significant |" in text
    assert "| hit@1 | 0.700 | 0.800 | +0.100 | [+0.020, +0.200] | **yes** |" in text
    assert "| token_f1 | 0.500 | 0.490 | -0.010 | [-0.050, +0.030] | no |" in text
    assert "| latency_ms_p50_total | 50.0 ms | 41.5 ms | -8.5 ms | — | — |" in text
