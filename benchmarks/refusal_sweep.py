"""How the support threshold trades refusals: precision, wrong refusals and recall at each setting.

    python benchmarks/refusal_sweep.py --index RTQA_INDEX --questions GOLD.jsonl [--limit 500]
    python benchmarks/refusal_sweep.py --index DEMO_INDEX --questions rag/demo/gold.jsonl --as-is

A gold set of answerable news-quiz questions (RealTime QA) has no unanswerable ones, so each question
is asked twice: as it is (answerable when the gold answer is in the passages read) and against the
archive as it stood DAYS before the question's date, through the date filter (unanswerable when the
answer is then nowhere in the passages read). `--as-is` asks a gold set's own answerable and
unanswerable questions once each (the demo and seed sets). The answerer declines when its best
sentence's score is under the threshold: the hand support under AnsweringWeights.min_support, or
the learned reader's chance under its model's refusal_threshold (NEWSDESK_READER picks the
scorer, as for `ask`); this prints what each threshold would do for the scorer in use.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from eval.gold import GoldQuestion, load_gold
from eval.metrics import contains_answer
from rag.answer import ExtractiveAnswerer
from rag.conversation import rewrite
from rag.diversity import distinct_hits
from rag.records import SearchFilters
from rag.service import Newsdesk
from rag.when import parse_as_of

HAND_THRESHOLDS = (0.30, 0.35, 0.38, 0.40, 0.42, 0.45, 0.50, 0.55)
CHANCE_THRESHOLDS = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25, 0.30)


def best_support(desk: Newsdesk, gold: GoldQuestion, until: str | None) -> tuple[float, bool]:
    """The score of the best answering sentence, and whether a gold answer is in the passages."""
    snapshot = desk.snapshot()
    retriever = desk._retriever(snapshot)
    as_of = parse_as_of(gold.question_date)
    query = rewrite(gold.question, gold.history)
    ranking, _ = retriever.search_with_vector(query, 15, SearchFilters(until=until), as_of=as_of)
    hits = distinct_hits(ranking, 5)
    reader = ExtractiveAnswerer(
        retriever.embedder, snapshot.lexical, desk.answer_settings, as_of, desk.scorer
    )
    scored = reader.best_scored(gold.question, hits, retriever.embed_query(gold.question), 1)
    found = contains_answer(" ".join(h.passage.text for h in hits), gold.answers) if gold.answers else False
    return (scored[0].score if scored else 0.0), found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--as-is", action="store_true", help="use the gold set's own answerable flags")
    args = parser.parse_args()
    desk = Newsdesk(args.index)
    cases: list[tuple[float, bool]] = []  # (support, answerable)
    for gold in load_gold(args.questions)[: args.limit]:
        if args.as_is:
            cases.append((best_support(desk, gold, None)[0], gold.answerable))
            continue
        asked = parse_as_of(gold.question_date)
        if asked is None:
            continue
        support, found = best_support(desk, gold, None)
        if found:
            cases.append((support, True))
        support, found = best_support(desk, gold, (asked - timedelta(days=args.days)).isoformat())
        if not found:
            cases.append((support, False))
    answerable = sum(a for _, a in cases)
    unanswerable = len(cases) - answerable
    print(f"{answerable} answerable, {unanswerable} unanswerable questions; scorer: {desk.scorer.name}")
    print("threshold  refused  precision  wrong-refusals  recall")
    for threshold in HAND_THRESHOLDS if desk.scorer.name == "hand" else CHANCE_THRESHOLDS:
        refused = [a for s, a in cases if s < threshold]
        right = sum(not a for a in refused)
        precision = right / len(refused) if refused else float("nan")
        wrong = (len(refused) - right) / answerable if answerable else float("nan")
        recall = right / unanswerable if unanswerable else float("nan")
        print(f"{threshold:9.2f}  {len(refused):7d}  {precision:9.3f}  {wrong:14.3f}  {recall:6.3f}")


if __name__ == "__main__":
    main()
