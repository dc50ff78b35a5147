"""`newsdesk train-reader`: fit the learned reader on a gold set and judge it on later questions.

1. Every question is answered with the hand weights (its features written to features.jsonl) and,
   as the simplest baseline, with BM25-only retrieval and the hand weights; and asked as of its date
   and 60 days before it, for the refusal cases (eval/refusal_cases.py).
2. The questions are cut into date folds; for each fold after the first, a reader fitted on the
   earlier folds only answers that fold's questions.
3. The three are compared on those held-back folds, with paired bootstrap intervals
   (train-report.md / .json), and a reader fitted on every question is written as JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from eval.gold import GoldQuestion, load_gold
from eval.refusal_cases import DAYS, refusal_cases
from eval.run import Run, compare, corpus_index_dir, run_gold, summarize
from eval.train import case_records, date_folds, top_hits, train
from index.ingest import IngestOptions
from newsdesk_app.cli.errors import reports_errors, stdout
from newsdesk_app.cli.eval_command import RETRIEVAL
from newsdesk_app.cli.options import (
    corpus_option,
    gold_argument,
    index_option_for,
    k_option,
    limit_option,
    out_option,
)
from newsdesk_app.settings import default_index_dir, desk_from_environment
from rag.reader_model import KINDS, ReaderModel
from rag.scoring import LearnedScorer, LinearScorer, refusal_from_env
from rag.service import Newsdesk

HEADLINE = (
    "short_answer_accuracy",
    "answer_accuracy",
    "mean_answer_words",
    "choice_accuracy",
    "citation_precision",
    "wrong_refusal_rate",
    "hit@10",
    "latency_ms_p50_total",
)
WRONG_REFUSAL_BUDGET = 0.02  # held-back dev cases: 0.02 declined 3.1% of answerable, 0.03 5.8%, 0.04 9.8%


def _report(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    return {"records": records, "metrics": summarize(Run(records, seconds, False))}


def _refusals(model: ReaderModel, cases: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts of declined cases, answerable and not, by the hand threshold and by the model."""
    hand, learned = LinearScorer(), LearnedScorer(model, refusal="learned")
    counts = {
        name: {"answerable": 0, "unanswerable": 0, "declined_answerable": 0, "declined_unanswerable": 0}
        for name in ("hand", "learned")
    }
    for case in cases:
        records = case_records(case)
        kind = "answerable" if case["answerable"] else "unanswerable"
        for name, scorer in (("hand", hand), ("learned", learned)):
            counts[name][kind] += 1
            declined = not records or not scorer.answers(records, scorer.sentence_scores(records))
            counts[name][f"declined_{kind}"] += int(declined)
    return counts


def _judge(
    desk: Newsdesk,
    questions: list[GoldQuestion],
    features: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    folds: list[int],
    k: int,
    budget: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Answers of each fold after the first by a reader fitted on the folds before it; the top-item
    hit rates of hand and learned scoring, and the refusal counts, on those folds."""
    fold_of = {row["id"]: f for row, f in zip(features, folds, strict=True)}
    records: list[dict[str, Any]] = []
    offline: dict[str, Any] = {kind: {"hand": 0.0, "learned": 0.0} for kind in KINDS}
    refusals: dict[str, dict[str, int]] = {}
    judged = 0
    for fold in range(1, max(folds) + 1):
        earlier = [row for row, f in zip(features, folds, strict=True) if f < fold]
        model = train(earlier, [c for c in cases if fold_of[c["id"]] < fold], budget, {"fold": fold})
        asked = [q for q, f in zip(questions, folds, strict=True) if f == fold]
        rows = [row for row, f in zip(features, folds, strict=True) if f == fold]
        embedder = desk.embedder_for(desk.snapshot().manifest.model)
        scorer = LearnedScorer(model, refusal=refusal_from_env())
        learned = desk_from_environment(desk.index_dir, embedder=embedder, scorer=scorer)
        records.extend(run_gold(learned, asked, k).records)
        for kind in KINDS:
            offline[kind]["hand"] += top_hits(LinearScorer(), rows, kind) * len(rows)
            offline[kind]["learned"] += top_hits(LearnedScorer(model), rows, kind) * len(rows)
        for name, counts in _refusals(model, [c for c in cases if fold_of[c["id"]] == fold]).items():
            total = refusals.setdefault(name, dict.fromkeys(counts, 0))
            for key, value in counts.items():
                total[key] += value
        judged += len(rows)
    summary = {kind: {k: round(v / max(1, judged), 4) for k, v in o.items()} for kind, o in offline.items()}
    return records, {**summary, "refusal_cases": refusals}


def _markdown(
    table: dict[str, dict[str, Any]], offline: dict[str, Any], about: dict[str, Any], model: ReaderModel
) -> str:
    lines = [
        f"# Learned reader on {about['gold']}: held-back date folds",
        "",
        f"{about['judged']} questions judged (folds 2–{about['folds']} of {about['folds']}, each answered"
        f" by a reader fitted on earlier questions only; {about['questions']} questions in all)."
        " Same run, same index.",
        "",
        "| metric | BM25-only | hand weights | learned | learned − hand (95% CI) | learned − BM25 (95% CI) |",
        "|---|---|---|---|---|---|",
    ]
    for name in HEADLINE:
        row = table[name]

        def diff(entry: dict[str, Any]) -> str:
            interval = f" [{entry['ci'][0]:+.3f}, {entry['ci'][1]:+.3f}]" if entry.get("ci") else ""
            return "—" if entry["diff"] is None else f"{entry['diff']:+.3f}{interval}"

        values = " | ".join(str(row[which]) for which in ("bm25", "hand", "learned"))
        lines.append(f"| {name} | {values} | {diff(row['vs_hand'])} | {diff(row['vs_bm25'])} |")
    lines += [
        "",
        "Top item right (the features alone, same folds):",
        "",
        "| kind | hand | learned |",
        "|---|---|---|",
    ]
    lines += [f"| {kind} | {offline[kind]['hand']} | {offline[kind]['learned']} |" for kind in KINDS]
    lines += [
        "",
        f"Refusal cases of the same folds (each question as asked, and {DAYS} days before its date):",
        "",
        "| declines by | wrong refusals | unanswerable declined (recall) | precision |",
        "|---|---|---|---|",
    ]
    for name, c in offline["refusal_cases"].items():
        declined = c["declined_answerable"] + c["declined_unanswerable"]
        wrong = c["declined_answerable"] / max(1, c["answerable"])
        recall = c["declined_unanswerable"] / max(1, c["unanswerable"])
        precision = c["declined_unanswerable"] / max(1, declined)
        label = "hand support < min_support" if name == "hand" else "learned refusal model"
        lines.append(f"| {label} | {wrong:.3f} | {recall:.3f} | {precision:.3f} |")
    lines += ["", "Features that mattered most (share of the final trees' gain):", ""]
    for kind, trees in model.ensembles.items():
        top = ", ".join(f"{name} {value:.2f}" for name, value in list(trees.importance.items())[:6])
        lines.append(f"- {kind}: {top}")
    return "\n".join(lines) + "\n"


@click.command("train-reader")
@gold_argument
@corpus_option("Articles to index first.", multiple=True)
@index_option_for("Train on this index (default: $NEWSDESK_INDEX or the per-user one).")
@k_option("Passages each answer reads.")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Date folds.")
@click.option(
    "--wrong-refusal-budget",
    type=click.FloatRange(0.0, 0.5),
    default=WRONG_REFUSAL_BUDGET,
    show_default=True,
    help="The share of answerable refusal cases the refusal threshold may decline.",
)
@out_option("Report folder.")
@click.option(
    "--model-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the model (default: OUT/reader_model.json; copy it to rag/ to ship it).",
)
@limit_option("Only the first N questions.")
def train_reader_command(
    gold: Path,
    corpus: tuple[Path, ...],
    index_dir: Path | None,
    k: int,
    folds: int,
    wrong_refusal_budget: float,
    out: Path | None,
    model_out: Path | None,
    limit: int | None,
) -> None:
    """Fit the learned reader on GOLD, judge it on later date folds beside BM25-only and the hand weights."""
    from eval.features import write_features

    @reports_errors
    def run() -> None:
        questions = load_gold(gold)[:limit]
        if corpus and index_dir:
            raise click.UsageError("give --index or --corpus, not both")
        target = corpus_index_dir(corpus, None) if corpus else (index_dir or default_index_dir())
        if corpus:
            # Hand weights: a shipped model that no longer matches the features must not stop retraining.
            desk_from_environment(target, scorer=LinearScorer()).ingest(list(corpus), IngestOptions())  # once
        folder = out or Path("newsdesk-train") / f"{gold.stem}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        folder.mkdir(parents=True, exist_ok=True)
        hand_desk = desk_from_environment(target, scorer=LinearScorer())
        embedder = hand_desk.embedder_for(hand_desk.snapshot().manifest.model)
        stdout.print(f"answering {len(questions)} questions with the hand weights …")
        hand = run_gold(hand_desk, questions, k)
        write_features(hand.features, folder)
        stdout.print("… with BM25-only retrieval …")
        bm25_desk = desk_from_environment(
            target, embedder=embedder, retrieval=RETRIEVAL["bm25"], scorer=LinearScorer()
        )
        bm25 = run_gold(bm25_desk, questions, k)
        stdout.print(f"… as of the question's date and {DAYS} days before (refusal cases) …")
        cases = refusal_cases(hand_desk, questions)
        (folder / "refusal-cases.jsonl").write_text(
            "".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8"
        )
        assigned = date_folds(hand.features, folds)
        stdout.print(f"… and by readers fitted on earlier date folds ({folds} folds) …")
        learned, offline = _judge(
            hand_desk, questions, hand.features, cases, assigned, k, wrong_refusal_budget
        )
        judged = {r["id"] for r in learned}
        reports = {
            "bm25": _report([r for r in bm25.records if r["id"] in judged], bm25.seconds),
            "hand": _report([r for r in hand.records if r["id"] in judged], hand.seconds),
            "learned": _report(learned, hand.seconds),
        }
        vs_hand = compare(reports["hand"], reports["learned"], "hand", "learned")["metrics"]
        vs_bm25 = compare(reports["bm25"], reports["learned"], "bm25", "learned")["metrics"]
        table = {
            name: {
                **{which: reports[which]["metrics"][name]["value"] for which in reports},
                "vs_hand": vs_hand[name],
                "vs_bm25": vs_bm25[name],
            }
            for name in HEADLINE
        }
        dates = sorted(str(q.question_date or "") for q in questions)
        about = {
            "gold": gold.name,
            "questions": len(questions),
            "judged": len(judged),
            "folds": folds,
            "dates": [dates[0][:10], dates[-1][:10]] if dates else [],
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "held_back": table,
            "top_item_right": offline,
        }
        model = train(hand.features, cases, wrong_refusal_budget, about)
        target_model = model_out or folder / "reader_model.json"
        model.save(target_model)
        (folder / "train-report.json").write_text(
            json.dumps({"about": about, "records": reports}, indent=1) + "\n"
        )
        (folder / "train-report.md").write_text(_markdown(table, offline, about, model))
        stdout.print(_markdown(table, offline, about, model))
        stdout.print(f"model: {target_model}\nreport: {folder / 'train-report.md'}")

    run()
