"""Wire copies: the same story from several outlets is read once and credited to all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from index.catalog import Passage
from index.embedding import HashingEmbedder
from rag.diversity import distinct_hits
from rag.records import Hit
from rag.service import Newsdesk
from tests.conftest import article
from ui.cards import citation_card

STORY = (
    "The Brindleford library reopened on 3 May 2024, eleven months after the river Wend flooded its ground "
    "floor. About 2,000 books had to be replaced, the town council said."
)
COPY = STORY.replace("the town council said", "the council said")
OTHER = "Harbour cranes were installed in Rotterdam on Tuesday after a two-year delay."


def hit(n: int, text: str, source: str) -> Hit:
    return Hit(
        Passage(n, f"c{n}", f"a{n}", 0, 0, len(text), text, "Library", source, None, "2024-05-03"), 1.0
    )


def test_copies_are_read_once_and_their_outlets_credited() -> None:
    ranking = [hit(0, STORY, "Harbor Ledger"), hit(1, COPY, "Civic Herald"), hit(2, OTHER, "Northern Wire")]
    kept = distinct_hits(ranking, 2)
    assert [h.passage.article_id for h in kept] == ["a0", "a2"]
    assert kept[0].also_reported_by == ("Civic Herald",)
    assert distinct_hits([hit(0, STORY, "A"), hit(1, OTHER, "B")], 2)[0].also_reported_by == ()


def test_two_passages_of_one_article_are_not_copies() -> None:
    ranking = [hit(0, STORY, "Harbor Ledger"), Hit(hit(1, COPY, "Harbor Ledger").passage, 0.9)]
    ranking[1] = Hit(
        Passage(1, "c1", "a0", 1, 0, len(COPY), COPY, "Library", "Harbor Ledger", None, None), 0.9
    )
    assert len(distinct_hits(ranking, 2)) == 2


def test_an_answer_cites_the_story_once_and_names_every_outlet(
    tmp_path: Path, write_jsonl: Callable[[str, Iterable[dict[str, Any]]], Path]
) -> None:
    records = [
        article("ledger", STORY, source="Harbor Ledger"),
        article("herald", COPY, source="Civic Herald"),
        article("cranes", OTHER, source="Northern Wire"),
    ]
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    desk.ingest([write_jsonl("news.jsonl", records)])
    answer = desk.ask("How many books had to be replaced after the Brindleford library flood?")
    assert answer.answered and "2,000" in answer.answer
    [cited] = [c for c in answer.citations if c.quote]
    others = {"ledger": "Civic Herald", "herald": "Harbor Ledger"}
    assert cited.also_reported_by == [others[cited.article_id]]
    assert "also reported by" in citation_card(cited) and answer.as_dict()["citations"][0]["also_reported_by"]
