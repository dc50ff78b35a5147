"""Is the answer in what a reader is shown? And, with a model, what each kind of evidence earns.

    python benchmarks/evidence_presence.py [--gold G] [--corpus C] [--budgets 400,600,800,1200]
        [--hold-back 60] [--out presence.json]

For every answerable dev question (as `newsdesk eval` reads it: k=5, its question_date), whether any
gold answer (normalized as eval.metrics does) is in a text of the evidence, and the prompt's tokens:
- `passages`: what a language model was shown before rag.evidence (`pack_passages` of the 5 hits);
- `windows@B`: rag.evidence's windows at budget B, over the hits and the rest of their articles;
- `windows-hits@B`: the same windows cut from the 5 retrieved passages only (no other passage of their
  articles), to separate what widening adds from what selection does;
- `extractive`: the sentences the extractive reader could quote (its Draft.evidence);
- `articles`: the top 5 articles whole (the ceiling any selection from them has).
Figures are given for all questions and without the last --hold-back by question_date (the questions
the model comparison is run on, held back from choosing the budget).

    NEWSDESK_LLM_GGUF=qwen2.5-1.5b NEWSDESK_LLM_THREADS=2 python benchmarks/evidence_presence.py \
        --readers GOLD_SUBSET.jsonl [--out readers.json]

runs `newsdesk eval`'s scoring on GOLD_SUBSET three times in one process, the model loaded once: the
model shown whole passages (as before rag.evidence), the model shown windows, and the extractive
reader; and prints each one's short-answer accuracy, citation precision, answer_in_evidence and
seconds per question.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.gold import GoldQuestion, load_gold
from eval.metrics import contains_answer
from eval.report import write_reports
from eval.run import build_report, corpus_index_dir, run_gold, summarize
from index.archive import Snapshot
from index.ingest import IngestOptions
from index.tokens import count_tokens
from newsdesk_app.settings import desk_from_environment
from rag.answerers import Answerer, GeneratedAnswerer
from rag.evidence import select_windows, widened
from rag.generators import pack_passages, prompt_messages
from rag.records import Hit
from rag.service import Newsdesk, top_articles
from rag.when import parse_as_of

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa"
K = 5


def prompt_tokens(question: str, hits: Sequence[Hit]) -> int:
    return sum(count_tokens(m["content"]) for m in prompt_messages(question, hits))


def held_back(questions: Sequence[GoldQuestion], count: int) -> set[str]:
    """The ids of the last `count` questions by question_date (ties by file order)."""
    ordered = sorted(enumerate(questions), key=lambda x: (x[1].question_date or "", x[0]))
    return {q.id for _, q in ordered[len(ordered) - count :]} if count else set()


def presence(desk: Newsdesk, gold: GoldQuestion, budgets: Sequence[int]) -> dict[str, Any]:
    asked: date | None = parse_as_of(gold.question_date)
    reading = desk.read(gold.question, K, history=gold.history, as_of=asked)
    snapshot: Snapshot = reading.snapshot

    def found(texts: Sequence[str]) -> bool:
        return any(contains_answer(text, gold.answers) for text in texts)

    row: dict[str, Any] = {"id": gold.id}
    packed = pack_passages(reading.hits)
    row["passages"] = (found([h.passage.text for h in packed]), prompt_tokens(gold.question, packed))
    row["extractive"] = (found(reading.draft.evidence), sum(count_tokens(t) for t in reading.draft.evidence))
    row["articles"] = (found(top_articles(snapshot, reading.ranking)[:K]), 0)
    hits = widened(reading.hits, snapshot.catalog.article_passages)
    reader = desk.reader(snapshot, asked)
    scored = reader.score_sentences(gold.question, hits, reading.question_vector, answer_only=True)
    own = [s for s in scored if s.hit_index < len(reading.hits)]
    for budget in budgets:
        for name, sentences in ((f"windows@{budget}", scored), (f"windows-hits@{budget}", own)):
            windows = select_windows(sentences, hits, budget) if sentences else []
            shown = [w.hit for w in windows] or packed  # no sentence scored: the answerer packs passages
            row[name] = (found([h.passage.text for h in shown]), prompt_tokens(gold.question, shown))
    return row


def table(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    names = [name for name in rows[0] if name != "id"] if rows else []
    return {
        name: {
            "answer_in_evidence": round(statistics.mean(float(r[name][0]) for r in rows), 4),
            "mean_prompt_tokens": round(statistics.mean(r[name][1] for r in rows)),
            "n": len(rows),
        }
        for name in names
    }


def open_desk(corpus: Path, **overrides: Any) -> Newsdesk:
    desk = desk_from_environment(corpus_index_dir([corpus], None), answer_cache_size=0, **overrides)
    desk.ingest([corpus], IngestOptions())  # nothing to do when the cached index is current
    return desk


def run_presence(args: argparse.Namespace) -> dict[str, Any]:
    questions = [q for q in load_gold(args.gold) if q.answerable and q.answers]
    desk = open_desk(args.corpus, generator=None)
    desk.warm_up()
    kept = held_back(load_gold(args.gold), args.hold_back)
    budgets = [int(b) for b in args.budgets.split(",")]
    rows = []
    began = time.perf_counter()
    for n, gold in enumerate(questions, start=1):
        rows.append(presence(desk, gold, budgets))
        if n % 100 == 0:
            print(f"{n}/{len(questions)} {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return {
        "all": table(rows),
        "without_held_back": table([r for r in rows if r["id"] not in kept]),
        "held_back": table([r for r in rows if r["id"] in kept]),
    }


class PassagesDesk(Newsdesk):
    """The desk as it was before rag.evidence: the model shown the best whole passages, its short answer
    not held to a quote (no extractive fallback)."""

    def answerer(
        self, snapshot: Snapshot, as_of: date | None = None, *, weigh_every_sentence: bool = False
    ) -> Answerer:
        assert self.generator is not None
        return GeneratedAnswerer(self.generator)


def run_readers(args: argparse.Namespace) -> dict[str, Any]:
    questions = load_gold(args.readers)
    windows = open_desk(args.corpus, model_windows=True)
    if windows.generator is None:
        raise SystemExit("set NEWSDESK_LLM_GGUF (or NEWSDESK_LLM_BASE_URL) for --readers")
    before = PassagesDesk(
        windows.index_dir, generator=windows.generator, scorer=windows.scorer, answer_cache_size=0
    )
    passages = open_desk(args.corpus, generator=windows.generator, model_windows=False)
    extractive = open_desk(args.corpus, generator=None)
    results: dict[str, Any] = {}
    desks: list[tuple[str, Newsdesk]] = [
        ("extractive", extractive),
        ("model-windows", windows),
        ("model-passages-before", before),  # no quoted-short-answer rule
        ("model-passages", passages),  # the default: whole passages, the short answer held to a quote
    ]
    for name, desk in desks:
        run = run_gold(desk, questions, K, progress=_progress(name))
        metrics = summarize(run)
        picked = [
            "short_answer_accuracy",
            "answer_accuracy",
            "answer_in_evidence",
            "citation_precision",
            "wrong_refusal_rate",
            "latency_ms_p50_answer",
            "latency_ms_p95_answer",
        ]
        results[name] = {m: metrics[m]["value"] for m in picked} | {
            "ci_short_answer_accuracy": metrics["short_answer_accuracy"]["ci"],
            "seconds_per_question": round(run.seconds / max(1, len(run.records)), 2),
            "answered": sum(r["answered"] for r in run.records),
            "n": len(run.records),
        }
        if args.reports:
            config = {"gold": str(args.readers), "index": str(desk.index_dir), "k": K, "reader": name}
            write_reports(build_report(desk, run, config), args.reports / name)
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    return results


def _progress(name: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            print(f"{name}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gold", type=Path, default=DATA / "gold.dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus.dev.jsonl.gz")
    parser.add_argument("--budgets", default="400,600,800,1200")
    parser.add_argument("--hold-back", type=int, default=60)
    parser.add_argument("--readers", type=Path, help="a gold file: compare the readers on it (needs a model)")
    parser.add_argument("--reports", type=Path, help="with --readers: write each reader's eval report here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run_readers(args) if args.readers else run_presence(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
