"""Gold questions answered with the real bundled model, end to end (offline, marked `model`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from eval.gold import load_gold
from eval.metrics import contains_answer
from eval.run import run_gold, summarize
from newsdesk_app.cli.main import build_demo, main
from rag.conversation import Turn
from rag.retrieval import RetrievalSettings
from rag.service import Newsdesk
from tests.conftest import DEMO_DIR, SEED_ARTICLES, SEED_GOLD, read_jsonl

pytestmark = pytest.mark.model
SYRIA = "demo-world-2015-09-30-russia-first-airstrikes-syria"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Newsdesk:
    return build_demo(tmp_path_factory.mktemp("demo") / "index")


def test_demo_headline_question_cites_the_syria_passage(demo: Newsdesk) -> None:
    answer = demo.ask("Which provinces were struck?")
    assert answer.answered
    assert re.search(r"provinces of Hama, Homs and Latakia\. \[1\]", answer.answer)
    first = answer.citations[0]
    assert first.n == 1 and first.article_id == SYRIA
    assert all(name in first.quote for name in ("Hama", "Homs", "Latakia"))
    assert (first.source, first.published_at, first.title) == (
        "Northern Wire",
        "2015-09-30",
        "Russia launches first air strikes in Syria hours after parliament vote",
    )


def test_demo_gold_set_scores_at_least_what_it_scored_when_written(demo: Newsdesk) -> None:
    """The demo gold set (45 questions: 8 follow-ups, 7 unanswerable) through the evaluation harness.

    Floors are the figures measured when the set was written (answer accuracy 0.76, refusal recall
    0.43, citation precision 0.90); a change that drops below them is a regression. Since time-aware
    ranking, one follow-up ("Who directed it?" after an Oscar question of February 2020) is declined
    where it used to be answered from the wrong article. Since issue 18 the answer quotes only the
    sentences holding its short answer, so a wrong short answer no longer comes with a runner-up
    sentence that happens to hold the right one: answer accuracy 0.76 -> 0.63 (hand weights and learned
    reader alike) at the same citation precision (0.88); the learned reader's short answers 0.47 (hand
    weights 0.42). Wrong refusals 1 of 38."""
    questions = load_gold(DEMO_DIR / "gold.jsonl")
    assert len(questions) >= 30 and sum(not q.answerable for q in questions) >= 5
    assert sum(bool(q.history) for q in questions) >= 5
    metrics = summarize(run_gold(demo, questions, k=5))
    assert metrics["hit@5"]["value"] == 1.0
    assert metrics["answer_accuracy"]["value"] >= 0.6
    assert metrics["short_answer_accuracy"]["value"] >= 0.45
    assert metrics["citation_precision"]["value"] >= 0.85
    assert metrics["unsupported_sentence_share"]["value"] == 0.0
    assert metrics["refusal_recall"]["value"] >= 0.4
    assert metrics["wrong_refusal_rate"]["value"] <= 0.06


def test_hybrid_retrieval_does_not_lose_to_bm25_alone_on_the_demo_gold(demo: Newsdesk) -> None:
    gold = [q for q in read_jsonl(DEMO_DIR / "gold.jsonl") if q["answerable"]]
    bm25 = Newsdesk(demo.index_dir, retrieval=RetrievalSettings(dense_weight=0.0))

    def hits_at_1(desk: Newsdesk) -> int:
        return sum(desk.search(q["question"], 1)[0].passage.article_id in q["gold_article_ids"] for q in gold)

    assert hits_at_1(demo) >= hits_at_1(bm25)


def test_demo_command_builds_once_and_chats(demo: Newsdesk) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--chat", "--index", str(demo.index_dir)], input="Which provinces were struck?\n"
    )
    assert result.exit_code == 0, result.output
    assert (
        "Hama, Homs and Latakia" in result.output and "[1] Russia launches first air strikes" in result.output
    )


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Newsdesk:
    if not SEED_ARTICLES.is_dir():
        pytest.skip("shared seed data is not present")
    desk = Newsdesk(tmp_path_factory.mktemp("seed") / "index")
    desk.ingest([SEED_ARTICLES])
    return desk


def test_seed_provinces_question_over_the_cli(seed: Newsdesk) -> None:
    result = CliRunner().invoke(
        main, ["ask", "Which provinces were struck?", "--json", "--index", str(seed.index_dir)]
    )
    data = json.loads(result.output)
    assert data["answered"] and "Hama, Homs and Latakia" in data["answer"]
    citation = data["citations"][0]
    assert citation["article_id"] == "000_d626a176c8e4c495"
    quote = citation["text"][citation["quote_start"] : citation["quote_end"]]
    assert all(name in quote for name in ("Hama", "Homs", "Latakia"))


SEED_QUESTIONS = (
    [pytest.param(g, id=g["id"]) for g in read_jsonl(SEED_GOLD)]
    if SEED_GOLD.exists()
    else [pytest.param({}, marks=pytest.mark.skip(reason="shared seed data is not present"))]
)


@pytest.mark.parametrize("gold", SEED_QUESTIONS)
def test_seed_gold_questions(seed: Newsdesk, gold: dict[str, Any]) -> None:
    answer = seed.ask(gold["question"])
    if not gold["answerable"]:
        assert not answer.answered and answer.answer.startswith("I could not find")
        return
    assert answer.answered, answer.answer
    assert contains_answer(answer.answer, gold["answers"], gold.get("required_terms", [])), answer.answer
    assert {c.article_id for c in answer.citations} == set(gold["gold_article_ids"])


def test_a_follow_up_is_answered_in_the_context_of_the_conversation(demo: Newsdesk) -> None:
    first = demo.ask("Which provinces were struck?")
    history = [Turn("user", first.question), Turn("assistant", first.answer)]
    follow_up = demo.ask("Who approved it?", history=history)
    # "it" after a question that asked for several provinces stands for what was done to them
    assert follow_up.standalone_question == "Who approved the strikes?"
    assert follow_up.answered and "Federation Council" in follow_up.answer
    assert follow_up.citations[0].article_id == SYRIA


def test_eval_writes_labelled_features_for_every_demo_question(demo: Newsdesk, tmp_path: Path) -> None:
    """features.jsonl: a header naming the feature lists, then one line per question whose sentences
    and candidates carry a label (1: holds an acceptable answer) and a vector in the header's order."""
    from eval.features import read_features
    from rag.features import FORMAT_VERSION, CandidateFeatures, ChoiceFeatures, SentenceFeatures

    result = CliRunner().invoke(
        main,
        ["eval", str(DEMO_DIR / "gold.jsonl"), "--index", str(demo.index_dir), "--out", str(tmp_path)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "features.jsonl"
    header = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert header["sentence_features"] == list(SentenceFeatures.FEATURES)
    assert header["candidate_features"] == list(CandidateFeatures.FEATURES)
    assert header["version"] == FORMAT_VERSION
    assert header["choice_features"] == list(ChoiceFeatures.FEATURES)
    rows = read_features(path)
    assert [row["id"] for row in rows] == [q.id for q in load_gold(DEMO_DIR / "gold.jsonl")]
    sentences = [s for row in rows for s in row["sentences"]]
    candidates = [c for row in rows for c in row["candidates"]]
    assert all(len(vector) == len(SentenceFeatures.FEATURES) for _, vector in sentences)
    assert all(len(vector) == len(CandidateFeatures.FEATURES) for _, vector, _ in candidates)
    assert {label for label, _ in sentences} == {0, 1}
    assert {label for label, _, _ in candidates} == {0, 1}
