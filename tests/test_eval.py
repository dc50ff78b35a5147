"""Evaluation: metrics on hand-worked cases, the gold loader, and end-to-end runs with reports."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from eval.gold import GoldFormatError, load_gold
from eval.metrics import (
    bootstrap_ci,
    contains_answer,
    hit_at,
    mean_of,
    mrr_at,
    ndcg_at,
    normalize_answer,
    paired_bootstrap,
    recall_at,
    token_f1,
)
from index.embedding import HashingEmbedder
from newsdesk_app.cli.main import main
from tests.conftest import SEED_ARTICLES, SEED_GOLD, article

RANKED = ["a", "b", "c", "d"]


def test_ranking_metrics_on_a_hand_worked_list() -> None:
    assert [hit_at(RANKED, ["c"], k) for k in (1, 2, 3)] == [0.0, 0.0, 1.0]
    assert mrr_at(RANKED, ["c"]) == pytest.approx(1 / 3)
    assert ndcg_at(RANKED, ["c"]) == pytest.approx(1 / math.log2(4))  # one relevant item at rank 3
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))  # relevant at ranks 2 and 4
    assert ndcg_at(RANKED, ["b", "d"]) == pytest.approx(expected)
    assert recall_at(RANKED, ["b", "d"], 3) == 0.5
    assert mrr_at(RANKED, ["z"]) == 0.0 and ndcg_at(RANKED, ["z"]) == 0.0


@pytest.mark.parametrize(
    ("text", "answer", "expected"),
    [
        ("more than 240 000 deaths", "240,000", True),
        ("more than 240,000 deaths", "240 000", True),
        ("The Louvre museum", "louvre", True),
        ("Hama, Homs and Latakia.", "Hama, Homs and Latakia", True),
        ("Chandler said", "Chan", False),  # whole words only
        ("in 2401 and 000", "240,000", False),
    ],
)
def test_answer_normalization(text: str, answer: str, expected: bool) -> None:
    assert contains_answer(text, [answer]) is expected


def test_normalize_drops_articles_and_punctuation_and_f1_counts_tokens() -> None:
    assert normalize_answer("The U.S. said: 1,000!") == "u s said 1000"
    assert token_f1("Sergei Lavrov chaired it", ["Sergei Lavrov"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert contains_answer("Kerry called Lavrov", ["Kerry"], ["Lavrov", "Putin"]) is False


def test_bootstrap_interval_covers_the_mean_and_paired_difference_is_significant() -> None:
    rows = np.array([[1.0], [0.0], [1.0], [1.0], [0.0], [1.0], [1.0], [1.0]])
    low, high = bootstrap_ci(rows, mean_of(0)) or (None, None)
    assert low is not None and high is not None and low <= rows.mean() <= high
    old, new = np.zeros((40, 1)), np.ones((40, 1))
    assert paired_bootstrap(old, new, mean_of(0)) == (1.0, 1.0)


def test_malformed_gold_lines_are_named(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        '{"id": "q1", "question": "Fine?", "answers": ["yes"]}\n'
        "{oops\n"
        '{"id": "q3", "question": "No answers?"}\n'
        '{"id": "q1", "question": "Again?", "answers": ["x"]}\n',
        encoding="utf-8",
    )
    with pytest.raises(GoldFormatError) as raised:
        load_gold(gold)
    message = str(raised.value)
    assert "gold.jsonl:2" in message and "gold.jsonl:3: an answerable question needs" in message
    assert "gold.jsonl:4: duplicate id 'q1'" in message


def run_eval(*args: str) -> str:
    result = CliRunner().invoke(main, ["eval", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.skipif(not SEED_GOLD.exists(), reason="shared seed data is not present")
def test_seed_eval_with_the_fake_embedder_writes_reports_and_compares(tmp_path: Path) -> None:
    from rag.service import Newsdesk

    index = tmp_path / "index"
    Newsdesk(index, embedder=HashingEmbedder()).ingest([SEED_ARTICLES])
    run_eval(str(SEED_GOLD), "--index", str(index), "--out", str(tmp_path / "one"))
    report = json.loads((tmp_path / "one" / "report.json").read_text())
    assert {"config", "manifest", "versions", "metrics", "records", "hit_curve"} <= set(report)
    for name in (
        "hit@5",
        "mrr@10",
        "ndcg@10",
        "answer_accuracy",
        "citation_precision",
        "refusal_recall",
        "latency_ms_p50_total",
        "questions_per_second",
    ):
        assert name in report["metrics"]
    assert report["metrics"]["hit@1"]["value"] == 1.0 and len(report["records"]) == 5
    assert (tmp_path / "one" / "report.md").exists() and (tmp_path / "one" / "report.html").exists()
    output = run_eval(
        str(SEED_GOLD),
        "--index",
        str(index),
        "--retrieval",
        "bm25",
        "--out",
        str(tmp_path / "two"),
        "--compare",
        str(tmp_path / "one"),
    )
    comparison = json.loads((tmp_path / "two" / "comparison.json").read_text())
    assert comparison["metrics"]["hit@1"]["diff"] == 0.0 and "hit@1" in str(output)


@pytest.mark.model
@pytest.mark.skipif(not SEED_GOLD.exists(), reason="shared seed data is not present")
def test_seed_eval_with_the_real_model_from_a_corpus(tmp_path: Path) -> None:
    run_eval(str(SEED_GOLD), "--corpus", str(SEED_ARTICLES), "--out", str(tmp_path / "r"))
    metrics = json.loads((tmp_path / "r" / "report.json").read_text())["metrics"]
    assert metrics["answer_accuracy"]["value"] == 1.0 and metrics["refusal_recall"]["value"] == 1.0
    assert (
        metrics["citation_precision"]["value"] == 1.0
        and metrics["unsupported_sentence_share"]["value"] == 0.0
    )


def test_a_short_answer_matches_when_either_side_holds_most_of_the_other() -> None:
    from eval.metrics import short_answer_matches

    assert short_answer_matches("Marcos Jr", ["Ferdinand Marcos Jr."])
    assert short_answer_matches("about 700", ["700"])
    assert short_answer_matches("Hama, Homs and Latakia", ["Hama, Homs and Latakia"])
    assert not short_answer_matches("Jr", ["Ferdinand Marcos Jr."])
    assert not short_answer_matches("7000", ["700"])
    assert not short_answer_matches(None, ["700"]) and not short_answer_matches("", ["700"])


def test_a_question_s_features_line_labels_each_choice_against_the_gold(tmp_path: Path) -> None:
    """Choices are labelled as choice accuracy judges them; the line round-trips through the file."""
    from eval.features import FeaturesFormatError, question_features, read_features, write_features
    from eval.gold import GoldQuestion
    from rag.answerers import Draft
    from rag.features import ChoiceFeatures

    gold = GoldQuestion("q1", "How many were arrested?", answers=("700",), choices=("300", "700"))
    records = (ChoiceFeatures(0.5, 1.0, 2.0, 0.4, 1, 0.0), ChoiceFeatures(0.25, 0.5, 1.0, 0.3, 0, 1.5))
    line = question_features(Draft("", False, []), records, gold)
    assert line["choices"] == [[0, [0.5, 1.0, 2.0, 0.4, 1.0, 0.0]], [1, [0.25, 0.5, 1.0, 0.3, 0.0, 1.5]]]
    assert line["sentences"] == [] and line["candidates"] == []
    assert read_features(write_features([line], tmp_path)) == [line]
    (tmp_path / "features.jsonl").write_text('{"format": "newsdesk-features", "version": 0}\n')
    with pytest.raises(FeaturesFormatError, match="does not match"):
        read_features(tmp_path / "features.jsonl")


def _record(qid: str, shown: bool | None, short: bool) -> dict[str, object]:
    record: dict[str, object] = {
        "id": qid,
        "answerable": True,
        "answered": True,
        "correct": short,
        "short_correct": short,
        "answer_words": 5,
        "token_f1": 0.5,
        "choices": [],
        "choice_correct": None,
        "citations": [],
        "gold_article_ids": [],
        "unsupported_sentences": 0,
        "sentences": 1,
        "timings_ms": {"retrieve": 1.0, "answer": 1.0, "total": 2.0},
    }
    if shown is not None:
        record["answer_in_evidence"] = shown
    return record


def test_answer_in_evidence_is_the_share_of_questions_whose_reader_was_shown_a_gold_answer() -> None:
    """Reading and selection told apart: a wrong answer with the answer shown is a misreading."""
    from eval.run import Run, compare, metric_rows, summarize

    records = [_record("q1", True, True), _record("q2", True, False), _record("q3", False, False)]
    rows, statistic = metric_rows(records)["answer_in_evidence"]
    assert rows == [[1.0], [1.0], [0.0]] and statistic(np.asarray(rows)) == pytest.approx(2 / 3)
    new = {"metrics": summarize(Run(records, 1.0, False)), "records": records}
    old_records = [_record(r["id"], None, bool(r["short_correct"])) for r in records]  # type: ignore[arg-type]
    old_metrics = summarize(Run(old_records, 1.0, False))
    old_metrics.pop("answer_in_evidence")  # a report written before the metric existed
    old = {"metrics": old_metrics, "records": old_records}
    compared = compare(old, new, "old", "new")["metrics"]
    assert compared["answer_in_evidence"]["old"] is None and compared["answer_in_evidence"]["new"] == 0.6667
    assert compared["short_answer_accuracy"]["diff"] == 0.0


def test_a_reader_s_evidence_is_what_it_could_quote_from(tmp_path: Path) -> None:
    """The extractive reader's evidence is its sentences that could answer; eval scores it per question."""
    from eval.gold import GoldQuestion
    from eval.run import score_question
    from rag.service import Newsdesk

    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    text = "Russian jets struck the provinces of Hama, Homs and Latakia on Wednesday. Officials met."
    source = tmp_path / "news.jsonl"
    source.write_text(json.dumps({"id": "s", "title": "Strikes", "text": text}) + "\n", encoding="utf-8")
    desk.ingest([source])
    gold = GoldQuestion(
        "q", "Which provinces did the Russian jets strike?", answers=("Hama, Homs and Latakia",)
    )
    record = score_question(desk, gold, 5)
    assert record["answer_in_evidence"] is True
    missing = GoldQuestion("m", "Which provinces did the Russian jets strike?", answers=("Aleppo",))
    assert score_question(desk, missing, 5)["answer_in_evidence"] is False


def test_the_report_says_when_a_wrong_answer_was_never_shown_to_the_reader() -> None:
    from eval.report import render_markdown

    missed = {**_record("q1", False, False), "failure": "wrong answer", "question": "Who?", "answer": "X"}
    misread = {**_record("q2", True, False), "failure": "wrong answer", "question": "Who?", "answer": "Y"}
    text = render_markdown({"title": "t", "records": [missed, misread], "metrics": {}, "groups": {}})
    assert "| wrong answer (answer not shown) | q1 |" in text and "| wrong answer | q2 |" in text


def test_unanswerable_days_also_asks_each_question_of_the_archive_before_its_answer_existed(
    tmp_path: Path, write_jsonl: Callable[[str, Iterable[dict[str, Any]]], Path]
) -> None:
    from rag.service import Newsdesk

    index = tmp_path / "index"
    corpus = [
        article("strike", "Russian jets struck Hama and Homs on Wednesday.", published_at="2015-09-30"),
        article("old-vote", "Voters in Lisbon elected Fernando Medina as mayor.", published_at="2015-06-01"),
    ]
    Newsdesk(index, embedder=HashingEmbedder()).ingest([write_jsonl("corpus.jsonl", corpus)])
    gold = write_jsonl(
        "gold.jsonl",
        [
            # Before 2015-08-03 the archive has no strike: an unanswerable case.
            {
                "id": "strike",
                "question": "Which provinces did Russian jets strike?",
                "answers": ["Hama"],
                "choices": ["Hama", "Aleppo"],
                "question_date": "2015-10-02",
            },
            # The mayor was elected months before the question: the earlier archive holds the answer too.
            {
                "id": "mayor",
                "question": "Who was elected mayor of Lisbon?",
                "answers": ["Fernando Medina"],
                "question_date": "2015-10-02",
            },
        ],
    )
    run_eval(str(gold), "--index", str(index), "--out", str(tmp_path / "r"), "--unanswerable-days", "60")
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    records = {r["id"]: r for r in report["records"]}
    assert set(records) == {"strike", "mayor", "strike@early60d"}
    early = records["strike@early60d"]
    assert early["answerable"] is False and early["asked_until"] == "2015-08-03"
    assert "strike" not in early["retrieved_article_ids"]  # the date filter kept the later article out
    recall = report["metrics"]["refusal_recall"]
    assert not early["answered"] and (recall["value"], recall["n"]) == (1.0, 1)
    assert records["strike"]["answerable"] and report["metrics"]["answer_accuracy"]["n"] == 2  # asked as is
    assert report["metrics"]["choice_accuracy"]["n"] == 1  # the unanswerable case's choices are not scored
    assert report["config"]["unanswerable_days"] == 60
