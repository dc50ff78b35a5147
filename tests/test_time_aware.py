"""Time-aware retrieval and multiple-choice picking, on small hand-made archives."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eval.choices import choice_features, mentions, pick_choice
from index.embedding import HashingEmbedder
from index.embedding import HashingEmbedder as Embedder
from index.lexical import LexicalIndex
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.answer import ExtractiveAnswerer
from rag.retrieval import RetrievalSettings
from rag.service import Newsdesk
from tests.conftest import article

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
BUDGETS = [
    ("budget-2019", "2019-03-01", "The Brindleford council budget was set at 4 million pounds."),
    ("budget-2021", "2021-06-10", "The Brindleford council budget was set at 6 million pounds."),
    ("budget-2022", "2022-03-08", "The Brindleford council budget was set at 9 million pounds."),
    ("budget-2026", "2026-01-20", "The Brindleford council budget was set at 8 million pounds."),
]
QUESTION = "What was the Brindleford council budget set at?"


@pytest.fixture
def desk(tmp_path: Path, write_jsonl: Writer) -> Newsdesk:
    service = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    records = [article(i, text, published_at=day, title="Council budget") for i, day, text in BUDGETS]
    service.ingest([write_jsonl("budgets.jsonl", records)])
    return service


def first_article(desk: Newsdesk, question: str, as_of: date | None = None) -> str:
    return desk.search(question, 4, as_of=as_of)[0].passage.article_id


def test_asked_as_of_a_date_the_newest_article_before_it_comes_first(desk: Newsdesk) -> None:
    assert first_article(desk, QUESTION, date(2022, 3, 10)) == "budget-2022"
    assert first_article(desk, QUESTION, date(2019, 3, 5)) == "budget-2019"  # later ones are not yet news
    assert first_article(desk, QUESTION, date(2021, 7, 1)) == "budget-2021"
    answer = desk.ask(QUESTION, as_of=date(2021, 7, 1))
    assert "6 million" in answer.answer and answer.citations[0].published_at == "2021-06-10"


def test_a_period_named_in_the_question_is_preferred_without_an_as_of_date(desk: Newsdesk) -> None:
    assert (
        first_article(desk, "What was the Brindleford council budget set at in June 2021?") == "budget-2021"
    )
    assert (
        first_article(desk, "What was the Brindleford council budget set at in March 2019?") == "budget-2019"
    )


def test_recency_words_prefer_the_newest_of_equally_matching_articles(desk: Newsdesk) -> None:
    untimed = Newsdesk(desk.index_dir, embedder=HashingEmbedder(), retrieval=RetrievalSettings(time_weight=0))
    question = "What is the latest Brindleford council budget?"
    timed_order = [h.passage.article_id for h in desk.search(question, 4)]
    untimed_order = [h.passage.article_id for h in untimed.search(question, 4)]
    assert timed_order[0] == "budget-2026" and untimed_order[0] != "budget-2026"


def test_with_no_date_and_no_time_words_the_ranking_ignores_time(desk: Newsdesk) -> None:
    untimed = Newsdesk(desk.index_dir, embedder=HashingEmbedder(), retrieval=RetrievalSettings(time_weight=0))
    ranked = [h.passage.article_id for h in desk.search(QUESTION, 4)]
    assert ranked == [h.passage.article_id for h in untimed.search(QUESTION, 4)]


def test_the_api_and_the_cli_take_an_as_of_date(desk: Newsdesk) -> None:
    client = TestClient(create_app(desk, ServerSettings(ui=False), load_now=True))
    response = client.post("/api/ask", json={"question": QUESTION, "as_of": "2019-03-05"})
    assert response.status_code == 200 and response.json()["citations"][0]["article_id"] == "budget-2019"
    hits = client.post("/api/search", json={"query": QUESTION, "as_of": "2022-03-10"}).json()["hits"]
    assert hits[0]["article_id"] == "budget-2022"
    refused = client.post("/api/ask", json={"question": QUESTION, "as_of": "soon"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "as_of"

    from click.testing import CliRunner

    from newsdesk_app.cli.main import main

    result = CliRunner().invoke(
        main, ["ask", QUESTION, "--index", str(desk.index_dir), "--as-of", "2019-03-05", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"budget-2019"' in result.output.split('"citations"')[1][:200]
    bad = CliRunner().invoke(main, ["ask", QUESTION, "--index", str(desk.index_dir), "--as-of", "soon"])
    assert bad.exit_code == 2 and "as_of: 'soon' is not a date" in bad.output


def test_mentions_count_whole_words_only() -> None:
    assert mentions("Kohl's", "Kohl's said; KOHL'S agreed. Kohl'sville did not.") == 2
    assert mentions("700", "About 700 people, not 7000 or 1700.") == 1
    assert mentions(" ", "anything") == 0


def test_the_choice_named_most_by_the_top_articles_is_picked() -> None:
    texts = [
        "Police have arrested more than 700 people over the attack on the Capitol, prosecutors said.",
        "The inquiry into the attack continues; 700 people face charges, and 300 have pleaded guilty.",
    ]
    answerer = ExtractiveAnswerer(Embedder(), LexicalIndex.build(texts))
    question = "About how many people have been arrested for the attack?"
    hits: list[Any] = []  # no passage read: the articles alone decide
    scored = answerer.score_sentences(question, hits)
    assert pick_choice(choice_features(scored, hits, ["50", "100", "300", "700"], texts)) == 3
    assert pick_choice(choice_features(scored, hits, ["5", "6"], texts)) is None


def test_the_hand_pick_among_choice_records_is_worked_by_hand() -> None:
    """B is best supported by the passages read (0.5 + 0.2 x 1.5 = 0.8 against A's 0.6 + 0.2 x 0.5 =
    0.7), so its 1.2 article mentions gain the 0.5 bonus and beat C's 1.4; with no article naming any
    choice the best-supported one stands; with nothing naming any, None."""
    from rag.features import ChoiceFeatures, hand_choice
    from rag.weights import HAND_WEIGHTS

    PASSAGE_WEIGHT, SUPPORT_BONUS = HAND_WEIGHTS.passage_weight, HAND_WEIGHTS.support_bonus

    def choice(support: float, passages: float, articles: float) -> ChoiceFeatures:
        return ChoiceFeatures(support, passages, articles, 0.0, 0, 0.0)  # the rest are not hand-weighted

    records = [choice(0.6, 0.5, 1.0), choice(0.5, 1.5, 1.2), choice(0.0, 0.0, 1.4)]
    assert hand_choice(records, PASSAGE_WEIGHT, SUPPORT_BONUS) == 1
    assert hand_choice(records, PASSAGE_WEIGHT, 0.0) == 2
    unread = [choice(0.0, 0.0, 0.0), choice(0.4, 0.0, 0.0)]
    assert hand_choice(unread, PASSAGE_WEIGHT, SUPPORT_BONUS) == 1
    assert hand_choice([choice(0.0, 0.0, 0.0)] * 2, PASSAGE_WEIGHT, SUPPORT_BONUS) is None
    assert len(records[0].as_vector()) == len(ChoiceFeatures.FEATURES) == 6
