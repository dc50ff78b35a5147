"""What a language model is shown (rag.evidence) and how its answer is held to it (rag.answerers.checked)."""

from __future__ import annotations

import pytest

from index.catalog import Passage
from rag.answer import ScoredSentence
from rag.answerers import checked
from rag.evidence import HEADER_TOKENS, cited_in_passages, select_windows, widened
from rag.features import SentenceFeatures
from rag.generators import Generated
from rag.records import Hit
from rag.verify import verify

STRIKES = (
    "Moscow confirmed the operation on Wednesday. "
    "Russian jets struck the provinces of Hama, Homs and Latakia. "
    "The strikes hit targets near the coast. "
    "Officials in Damascus welcomed the help. "
    "Washington said it had not been told in advance."
)
COPY = (  # another outlet's copy of the first three sentences, lightly edited
    "Moscow confirmed the operation on Wednesday. Russian jets struck the provinces of Hama, Homs and "
    "Latakia on Wednesday. The strikes hit targets near the coast."
)
QUAKE = "A strong earthquake shook central Chile on Thursday. Six people died in the quake."


def hit(n: int, text: str, article: str | None = None, source: str = "Wire", offset: int = 0) -> Hit:
    article_id = article or f"a{n}"
    passage = Passage(
        n, f"c{n}", article_id, n, offset, offset + len(text), text, f"T{n}", source, None, None
    )
    return Hit(passage, 1.0 / (n + 1))


def sentence(hits: list[Hit], index: int, text: str, score: float) -> ScoredSentence:
    start = hits[index].passage.text.index(text)
    features = SentenceFeatures(
        0.5, 0.5, True, True, True, False, True, index, index, index, 0, -1, False, False, True
    )
    return ScoredSentence(index, start, start + len(text), score, frozenset({"struck"}), features, score)


def test_a_window_is_the_sentence_and_its_neighbours_and_touching_windows_merge() -> None:
    hits = [hit(0, STRIKES, offset=100)]
    best = sentence(hits, 0, "Russian jets struck the provinces of Hama, Homs and Latakia.", 0.9)
    next_best = sentence(hits, 0, "Officials in Damascus welcomed the help.", 0.5)
    [only] = select_windows([best], hits)
    assert only.hit.passage.text == (
        "Moscow confirmed the operation on Wednesday. Russian jets struck the provinces of Hama, Homs and "
        "Latakia. The strikes hit targets near the coast."
    )
    assert only.offset == 0 and only.hit.passage.start == 100 and only.hit.passage.chunk_id == "c0"
    [merged] = select_windows([best, next_best], hits)  # windows of sentences 0-2 and 2-4 overlap: one window
    assert merged.hit.passage.text == STRIKES and merged.score == 0.9


def test_a_wire_copy_is_shown_once_and_its_outlet_kept() -> None:
    hits = [hit(0, STRIKES, source="Northern Wire"), hit(1, COPY, source="Harbor Ledger"), hit(2, QUAKE)]
    scored = [
        sentence(hits, 0, "Russian jets struck the provinces of Hama, Homs and Latakia.", 0.9),
        sentence(hits, 1, "Russian jets struck the provinces of Hama, Homs and Latakia on Wednesday.", 0.8),
        sentence(hits, 2, "Six people died in the quake.", 0.4),
    ]
    windows = select_windows(scored, hits)
    assert [w.source.passage.article_id for w in windows] == ["a0", "a2"]
    assert windows[0].hit.also_reported_by == ("Harbor Ledger",)


def test_windows_are_packed_best_first_within_the_budget_and_at_least_one_is_shown() -> None:
    hits = [hit(0, STRIKES), hit(1, QUAKE)]
    scored = [
        sentence(hits, 1, "Six people died in the quake.", 0.9),
        sentence(hits, 0, "Washington said it had not been told in advance.", 0.5),
    ]
    both = select_windows(scored, hits, budget=1000, neighbours=0)
    assert [w.source.passage.chunk_id for w in both] == ["c1", "c0"]
    assert len(select_windows(scored, hits, budget=HEADER_TOKENS + 8, neighbours=0)) == 1
    assert len(select_windows(scored, hits, budget=1, neighbours=0)) == 1  # never nothing
    with pytest.raises(ValueError, match="budget must be > 0, got 0"):
        select_windows(scored, hits, budget=0)


def test_the_other_passages_of_the_top_articles_follow_the_retrieved_ones() -> None:
    first, second = hit(0, STRIKES, article="strikes"), hit(1, QUAKE, article="quake")
    sibling = hit(5, "Later the ministry said more strikes would follow.", article="strikes").passage
    articles = {"strikes": [first.passage, sibling], "quake": [second.passage]}
    wide = widened([first, second], lambda article_id: articles[article_id])
    assert [h.passage.chunk_id for h in wide] == ["c0", "c1", "c5"]
    assert wide[2].dense_score is None and wide[2].lexical_score is None  # not retrieved: ranked last


def test_a_citation_of_a_window_points_into_its_whole_passage() -> None:
    hits = [hit(0, STRIKES, offset=40)]
    windows = select_windows([sentence(hits, 0, "The strikes hit targets near the coast.", 0.9)], hits)
    _, citations, _ = verify("Jets struck Hama, Homs and Latakia. [1]", [w.hit for w in windows])
    [citation] = cited_in_passages(citations, windows)
    assert citation.text == STRIKES and (citation.start, citation.end) == (40, 40 + len(STRIKES))
    assert citation.quote == "Russian jets struck the provinces of Hama, Homs and Latakia."


def _shown() -> tuple[list[Hit], list[Hit]]:
    hits = [hit(0, STRIKES), hit(1, QUAKE)]
    scored = [
        sentence(hits, 0, "Russian jets struck the provinces of Hama, Homs and Latakia.", 0.9),
        sentence(hits, 1, "Six people died in the quake.", 0.5),
    ]
    windows = select_windows(scored, hits, neighbours=0)
    return hits, [w.hit for w in windows]


def test_a_quoted_short_answer_is_kept_and_the_evidence_shown_is_carried() -> None:
    hits, _ = _shown()
    windows = select_windows(
        [sentence(hits, 0, "Russian jets struck the provinces of Hama, Homs and Latakia.", 0.9)],
        hits,
        neighbours=0,
    )
    reply = Generated("Jets struck Hama, Homs and Latakia. [1]", "hama, homs AND latakia!")
    draft = checked(reply, [w.hit for w in windows], hits, windows, lambda: "Aleppo")
    assert draft.answered and draft.short_answer == "hama, homs AND latakia!"  # case and punctuation aside
    assert draft.evidence == ("Russian jets struck the provinces of Hama, Homs and Latakia.",)
    assert draft.citations[0].text == STRIKES  # mapped back into the passage


def test_an_unquoted_short_answer_gives_way_to_the_extractive_one_only_when_a_cited_passage_holds_it() -> (
    None
):
    hits, shown = _shown()
    reply = Generated("Jets struck Hama, Homs and Latakia. [1]", "Aleppo")
    assert checked(reply, shown, hits, fallback=lambda: "Hama, Homs and Latakia").short_answer == (
        "Hama, Homs and Latakia"
    )
    assert checked(reply, shown, hits, fallback=lambda: "six people").short_answer is None  # not cited
    assert checked(reply, shown, hits).short_answer is None  # no extractive reader
    marker = Generated("Jets struck Hama, Homs and Latakia. [1]", "[1]")
    assert checked(marker, shown, hits, fallback=lambda: "Latakia").short_answer == "Latakia"


def test_nothing_cited_declines_with_the_retrieved_passages() -> None:
    hits, shown = _shown()
    draft = checked(
        Generated("Benfica won the league in May. [1]", "Benfica"), shown, hits, fallback=lambda: "x"
    )
    assert not draft.answered and draft.short_answer is None
    assert [c.chunk_id for c in draft.citations] == ["c0", "c1"] and draft.evidence == tuple(
        h.passage.text for h in shown
    )
