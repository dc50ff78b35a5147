"""Questions the archive can answer and questions it cannot, for choosing when to decline.

A news-quiz gold set (RealTime QA) has no unanswerable questions, so a question is asked twice: as it
is (a case the answerer should answer when an acceptable answer is in the passages read) and against
the archive as it stood DAYS before the question's date, through the date filter (a case it should
decline when the answer is then nowhere in the passages read). A question the gold set marks
unanswerable is one such case as asked. Each case keeps the feature records of the sentences that
could answer, the input of the refusal model (eval/train.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from eval.gold import GoldQuestion
from eval.metrics import contains_answer
from rag.answer import ExtractiveAnswerer, ScoredSentence
from rag.conversation import rewrite
from rag.diversity import LOOK_AHEAD, distinct_hits
from rag.records import Hit, SearchFilters
from rag.retrieval import HybridRetriever
from rag.service import Newsdesk
from rag.when import parse_as_of

DAYS = 60


def until_before(gold: GoldQuestion, days: int = DAYS) -> str | None:
    """The last day of the archive as it stood `days` before the question's date (None: undated)."""
    asked = parse_as_of(gold.question_date)
    return (asked - timedelta(days=days)).isoformat() if asked is not None else None


def read_passages(
    retriever: HybridRetriever, gold: GoldQuestion, until: str | None, k: int = 5
) -> tuple[list[Hit], bool]:
    """The passages `ask` reads for the question on its date, published up to `until`, and whether an
    acceptable answer is in them."""
    query = rewrite(gold.question, gold.history)
    ranking, _ = retriever.search_with_vector(
        query, k * LOOK_AHEAD, SearchFilters(until=until), as_of=parse_as_of(gold.question_date)
    )
    hits = distinct_hits(ranking, k)
    found = bool(gold.answers) and contains_answer(" ".join(h.passage.text for h in hits), gold.answers)
    return hits, found


def read_sentences(
    desk: Newsdesk, gold: GoldQuestion, until: str | None, k: int = 5
) -> tuple[list[ScoredSentence], bool]:
    """The sentences that could answer (best first, by the desk's scorer) as `ask` reads them, and
    whether an acceptable answer is in the passages read."""
    snapshot = desk.snapshot()
    retriever = desk.retriever(snapshot)
    hits, found = read_passages(retriever, gold, until, k)
    as_of = parse_as_of(gold.question_date)
    reader = ExtractiveAnswerer(
        retriever.embedder, snapshot.lexical, desk.answer_settings, as_of, desk.scorer
    )
    scored = reader.best_scored(gold.question, hits, retriever.embed_query(gold.question), None)
    return scored, found


def refusal_cases(
    desk: Newsdesk,
    questions: Sequence[GoldQuestion],
    days: int = DAYS,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """One line per case: id, question_date, answerable, the best score and the sentence records."""
    cases: list[dict[str, Any]] = []
    for done, gold in enumerate(questions, start=1):
        scored, found = read_sentences(desk, gold, None)
        if not gold.answerable or found:
            cases.append(_case(gold, scored, gold.answerable))
        if gold.answerable and (until := until_before(gold, days)) is not None:
            scored, found = read_sentences(desk, gold, until)
            if not found:
                cases.append(_case(gold, scored, False))
        if progress:
            progress(done, len(questions))
    return cases


def _case(gold: GoldQuestion, scored: Sequence[ScoredSentence], answerable: bool) -> dict[str, Any]:
    return {
        "id": gold.id,
        "question_date": gold.question_date,
        "answerable": answerable,
        "best_score": scored[0].score if scored else 0.0,
        "sentences": [[round(v, 6) for v in s.features.as_vector()] for s in scored],
    }
