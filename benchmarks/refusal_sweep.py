"""How the refusal threshold trades refusals: precision, wrong refusals and recall at each setting.

    python benchmarks/refusal_sweep.py --index RTQA_INDEX --questions GOLD.jsonl [--limit 500]
    python benchmarks/refusal_sweep.py --index DEMO_INDEX --questions rag/demo/gold.jsonl

The cases are those of eval/refusal_cases.py: each dated question asked as it is (answerable when
an acceptable answer is in the passages read) and against the archive as it stood DAYS before its
date (unanswerable when the answer is then nowhere in the passages read); a question the gold set
marks unanswerable is asked once. With the hand weights (NEWSDESK_READER=hand) the answerer declines
when its best sentence's support is under AnsweringWeights.min_support; with the learned reader
when its refusal model's chance is under the model's threshold. This prints what each threshold
would do for the scorer in use; `--cases-out` keeps the cases (JSON lines).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.gold import load_gold
from eval.refusal_cases import DAYS, refusal_cases
from eval.train import case_records
from newsdesk_app.settings import desk_from_environment
from rag.reader_model import refusal_row
from rag.scoring import LearnedScorer

HAND_THRESHOLDS = (0.30, 0.35, 0.38, 0.40, 0.42, 0.45, 0.50, 0.55)
CHANCE_THRESHOLDS = (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--cases-out", type=Path, help="write each case (JSON lines)")
    args = parser.parse_args()
    desk = desk_from_environment(args.index)  # NEWSDESK_READER chooses the reader
    cases = refusal_cases(desk, load_gold(args.questions)[: args.limit], args.days)
    if args.cases_out:
        args.cases_out.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    scorer = desk.scorer
    scored: list[tuple[float, bool]] = []
    for case in cases:
        if isinstance(scorer, LearnedScorer):
            records = case_records(case)
            row = refusal_row(records, scorer.sentence_scores(records))
            scored.append((scorer.model.refusal.chance(row) if records else 0.0, case["answerable"]))
        else:
            scored.append((case["best_score"], case["answerable"]))
    answerable = sum(a for _, a in scored)
    unanswerable = len(scored) - answerable
    print(f"{answerable} answerable, {unanswerable} unanswerable questions; scorer: {scorer.name}")
    print("threshold  refused  precision  wrong-refusals  recall")
    for threshold in CHANCE_THRESHOLDS if isinstance(scorer, LearnedScorer) else HAND_THRESHOLDS:
        refused = [a for s, a in scored if s < threshold]
        right = sum(not a for a in refused)
        precision = right / len(refused) if refused else float("nan")
        wrong = (len(refused) - right) / answerable if answerable else float("nan")
        recall = right / unanswerable if unanswerable else float("nan")
        print(f"{threshold:9.2f}  {len(refused):7d}  {precision:9.3f}  {wrong:14.3f}  {recall:6.3f}")


if __name__ == "__main__":
    main()
