"""`newsdesk train-reader`: fit the learned reader on a gold set and judge it on later questions.

1. Every question is answered with the hand weights (its features written to features.jsonl) and,
   as the simplest baseline, with BM25-only retrieval and the hand weights.
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
from eval.run import Run, compare, corpus_index_dir, run_gold, summarize
from eval.train import date_folds, top_hits, train
from index.ingest import IngestOptions
from rag.reader_model import KINDS, SHIPPED_MODEL, ReaderModel, load_model
from rag.scoring import LearnedScorer, LinearScorer
from rag.service import Newsdesk, default_index_dir

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
DEFAULT_THRESHOLD = 0.2


def _report(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    return {"records": records, "metrics": summarize(Run(records, seconds, False))}


def _judge(
    desk: Newsdesk,
    questions: list[GoldQuestion],
    features: list[dict[str, Any]],
    folds: list[int],
    k: int,
    threshold: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Answers of each fold after the first by a reader fitted on the folds before it; the top-item
    hit rates of hand and learned scoring on those folds."""
    records: list[dict[str, Any]] = []
    offline: dict[str, dict[str, float]] = {kind: {"hand": 0.0, "learned": 0.0} for kind in KINDS}
    judged = 0
    for fold in range(1, max(folds) + 1):
        earlier = [row for row, f in zip(features, folds, strict=True) if f < fold]
        model = train(earlier, threshold, {"fold": fold})
        asked = [q for q, f in zip(questions, folds, strict=True) if f == fold]
        rows = [row for row, f in zip(features, folds, strict=True) if f == fold]
        learned = Newsdesk(
            desk.index_dir,
            embedder=desk.embedder_for(desk.snapshot().manifest.model),
            scorer=LearnedScorer(model),
        )
        records.extend(run_gold(learned, asked, k).records)
        for kind in KINDS:
            offline[kind]["hand"] += top_hits(LinearScorer(), rows, kind) * len(rows)
            offline[kind]["learned"] += top_hits(LearnedScorer(model), rows, kind) * len(rows)
        judged += len(rows)
    return records, {
        kind: {k: round(v / max(1, judged), 4) for k, v in o.items()} for kind, o in offline.items()
    }


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
    lines += [f"| {kind} | {o['hand']} | {o['learned']} |" for kind, o in offline.items()]
    lines += ["", "Features that mattered most (share of the final trees' gain):", ""]
    for kind, trees in model.ensembles.items():
        top = ", ".join(f"{name} {value:.2f}" for name, value in list(trees.importance.items())[:6])
        lines.append(f"- {kind}: {top}")
    return "\n".join(lines) + "\n"


@click.command("train-reader")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--corpus", multiple=True, type=click.Path(exists=True, path_type=Path), help="Articles to index first."
)
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Date folds.")
@click.option(
    "--refusal-threshold", type=click.FloatRange(0.0, 1.0), default=None, help="Decline under this chance."
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Report folder.")
@click.option("--model-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
def train_reader_command(
    gold: Path,
    corpus: tuple[Path, ...],
    index_dir: Path | None,
    k: int,
    folds: int,
    refusal_threshold: float | None,
    out: Path | None,
    model_out: Path | None,
    limit: int | None,
) -> None:
    """Fit the learned reader on GOLD, judge it on later date folds beside BM25-only and the hand weights."""
    from eval.cli import RETRIEVAL
    from eval.features import write_features
    from rag.cli import reports_errors, stdout

    @reports_errors
    def run() -> None:
        questions = load_gold(gold)[:limit]
        if corpus and index_dir:
            raise click.UsageError("give --index or --corpus, not both")
        target = corpus_index_dir(corpus, None) if corpus else (index_dir or default_index_dir())
        if corpus:
            Newsdesk(target).ingest(list(corpus), IngestOptions())  # a no-op when already indexed
        folder = out or Path("newsdesk-train") / f"{gold.stem}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        folder.mkdir(parents=True, exist_ok=True)
        threshold = refusal_threshold
        if threshold is None:
            threshold = (
                load_model(SHIPPED_MODEL).refusal_threshold if SHIPPED_MODEL.exists() else DEFAULT_THRESHOLD
            )
        hand_desk = Newsdesk(target, scorer=LinearScorer())
        embedder = hand_desk.embedder_for(hand_desk.snapshot().manifest.model)
        stdout.print(f"answering {len(questions)} questions with the hand weights …")
        hand = run_gold(hand_desk, questions, k)
        write_features(hand.features, folder)
        stdout.print("… with BM25-only retrieval …")
        bm25_desk = Newsdesk(target, embedder=embedder, retrieval=RETRIEVAL["bm25"], scorer=LinearScorer())
        bm25 = run_gold(bm25_desk, questions, k)
        assigned = date_folds(hand.features, folds)
        stdout.print(f"… and by readers fitted on earlier date folds ({folds} folds) …")
        learned, offline = _judge(hand_desk, questions, hand.features, assigned, k, threshold)
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
        model = train(hand.features, threshold, about)
        target_model = model_out or folder / "reader_model.json"
        model.save(target_model)
        (folder / "train-report.json").write_text(
            json.dumps({"about": about, "records": reports}, indent=1) + "\n"
        )
        (folder / "train-report.md").write_text(_markdown(table, offline, about, model))
        stdout.print(_markdown(table, offline, about, model))
        stdout.print(f"model: {target_model}\nreport: {folder / 'train-report.md'}")

    run()
