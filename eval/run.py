"""Run a gold set through the service and turn the per-question records into metrics.

Per question: retrieve (ranking 50 passages deep, so article metrics see 10 distinct articles),
answer from the first k passages as `ask` does, pick a choice when the question has choices,
and record what a reader of the report needs to see why it failed.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from eval.choices import choice_features, pick_choice
from eval.features import question_features
from eval.gold import GoldQuestion
from eval.metrics import (
    Statistic,
    bootstrap_ci,
    contains_answer,
    gold_rank,
    hit_at,
    mean_of,
    mrr_at,
    ndcg_at,
    paired_bootstrap,
    percentile,
    ratio_of,
    recall_at,
    short_answer_matches,
    token_f1,
)
from eval.refusal_cases import read_passages, until_before
from rag.answer import unsupported_claims
from rag.features import ChoiceFeatures
from rag.records import Answer, Citation, SearchFilters
from rag.service import Newsdesk, Reading, top_articles
from rag.verify import unsupported_sentences
from rag.when import parse_as_of

DEPTH = 50
GROUPS = {
    "retrieval": ["hit@1", "hit@3", "hit@5", "hit@10", "recall@10", "mrr@10", "ndcg@10"],
    "answers": [
        "answer_accuracy",
        "short_answer_accuracy",
        "answer_in_evidence",
        "mean_answer_words",
        "token_f1",
        "choice_accuracy",
    ],
    "citations": ["citation_precision", "citation_recall", "unsupported_sentence_share"],
    "refusal": ["refusal_precision", "refusal_recall", "wrong_refusal_rate"],
    "cost": [
        *(f"latency_ms_{q}_{stage}" for stage in ("retrieve", "answer", "total") for q in ("p50", "p95")),
        "questions_per_second",
    ],
}
ProgressCallback = Callable[[int, int], None]


def _ranked_articles(article_ids: Sequence[str], limit: int = 10) -> list[str]:
    ranked: list[str] = []
    for article in article_ids:
        if article not in ranked:
            ranked.append(article)
        if len(ranked) == limit:
            break
    return ranked


def _supports(citation: Citation, gold: GoldQuestion) -> bool:
    return citation.article_id in gold.gold_article_ids or contains_answer(citation.text, gold.answers)


def _unsupported(answer: Answer) -> list[str]:
    """Extractive sentences must be verbatim in their quote; a language model's, which paraphrase, must
    pass the verifier's support rule against the passages they cite."""
    if answer.verification is not None:
        return unsupported_sentences(answer.answer, answer.citations)
    return unsupported_claims(answer.answer, answer.citations)


def _failure(record: dict[str, Any], gold: GoldQuestion) -> str | None:
    if not gold.answerable:
        return "answered unanswerable" if record["answered"] else None
    if gold.gold_article_ids and record["gold_rank"] is None:
        return "retrieval"
    if not record["answered"]:
        return "wrong refusal"
    if not record["correct"]:
        return "wrong answer"
    if record["unsupported_sentences"]:
        return "unsupported citation"
    return None


def score_question(desk: Newsdesk, gold: GoldQuestion, k: int, as_of: date | None = None) -> dict[str, Any]:
    """`as_of`: the day the question is asked when the gold record gives no question_date."""
    return score_traced(desk, gold, k, as_of)[0]


def weigh_choices(
    desk: Newsdesk, reading: Reading, choices: Sequence[str], as_of: date | None
) -> tuple[list[ChoiceFeatures], int | None]:
    """Each choice's record (eval.choices) from the evidence the answer read, and the index of the
    choice the desk's scorer picks (None when nothing names any). The sentences are the extractive
    answerer's, every one weighed: `Newsdesk.read(weigh_every_sentence=True)` keeps them; a generated
    answer has none, so they are weighed here."""
    if not choices:
        return [], None
    scored = reading.draft.scored
    if not scored:
        reader = desk.reader(reading.snapshot, as_of)
        scored = tuple(reader.score_sentences(reading.answer.question, reading.hits, reading.question_vector))
    records = choice_features(
        scored,
        reading.hits,
        choices,
        top_articles(reading.snapshot, reading.ranking),
        reading.draft.candidates,
        desk.answer_settings.weights,
    )
    return records, pick_choice(records, desk.scorer)


def score_traced(
    desk: Newsdesk, gold: GoldQuestion, k: int, as_of: date | None = None, until: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The question's record and its labelled features (eval.features); `until`: the archive as it
    stood that day (the date filter), for an unanswerable case."""
    asked = parse_as_of(gold.question_date) or as_of
    reading = desk.read(
        gold.question,
        k,
        SearchFilters(until=until) if until else None,
        history=gold.history,
        as_of=asked,
        depth=DEPTH,
        weigh_every_sentence=bool(gold.choices),  # the choices are weighed with every sentence
    )
    answer = reading.answer
    choice_records, picked_index = weigh_choices(desk, reading, gold.choices, asked)
    ranked = _ranked_articles([hit.passage.article_id for hit in reading.ranking])
    correct = answer.answered and contains_answer(answer.answer, gold.answers, gold.required_terms)
    sentences = answer.answer.count("]") if answer.answered else 0
    picked = gold.choices[picked_index] if picked_index is not None else None
    record: dict[str, Any] = {
        "id": gold.id,
        "question": gold.question,
        "question_date": gold.question_date,
        "asked_until": until,
        "answerable": gold.answerable,
        "gold_answers": list(gold.answers),
        "gold_article_ids": list(gold.gold_article_ids),
        "choices": list(gold.choices),
        "picked_choice": picked,
        "choice_correct": (picked is not None and contains_answer(picked, gold.answers))
        if gold.choices
        else None,
        "answer": answer.answer,
        "short_answer": answer.short_answer,
        "short_correct": short_answer_matches(answer.short_answer, gold.answers),
        # Whether the reader was shown the answer at all (any gold answer in a text of its evidence):
        # a wrong answer with it is a misreading, without it a miss of selection or retrieval.
        "answer_in_evidence": any(contains_answer(text, gold.answers) for text in reading.draft.evidence)
        if gold.answers
        else None,
        "answer_words": len(answer.answer.split()) if answer.answered else None,
        "answered": answer.answered,
        "correct": bool(correct) if gold.answerable else None,
        "token_f1": token_f1(answer.answer, gold.answers) if answer.answered and gold.answers else 0.0,
        "gold_rank": gold_rank(ranked, gold.gold_article_ids),
        "retrieved_article_ids": ranked,
        "citations": [
            {
                "n": c.n,
                "article_id": c.article_id,
                "title": c.title,
                "source": c.source,
                "published_at": c.published_at,
                "quote": c.quote,
                "supports": _supports(c, gold),
            }
            for c in (answer.citations if answer.answered else [])
        ],
        "outlet": next(
            (h.passage.source for h in reading.ranking if h.passage.article_id in gold.gold_article_ids), None
        ),
        "unsupported_sentences": len(_unsupported(answer)) if answer.answered else 0,
        "sentences": sentences,
        "timings_ms": answer.timings_ms,
        "verification": answer.verification,  # a generated answer's check by rag.verify, else None
        "standalone_question": answer.standalone_question,
    }
    record["retrieval"] = {
        **{f"hit@{n}": hit_at(ranked, gold.gold_article_ids, n) for n in range(1, 11)},
        "recall@10": recall_at(ranked, gold.gold_article_ids, 10),
        "mrr@10": mrr_at(ranked, gold.gold_article_ids),
        "ndcg@10": ndcg_at(ranked, gold.gold_article_ids),
    }
    record["failure"] = _failure(record, gold)
    return record, question_features(reading.draft, choice_records, gold)


@dataclass(slots=True)
class Run:
    records: list[dict[str, Any]]
    seconds: float
    interrupted: bool
    features: list[dict[str, Any]] = field(default_factory=list)  # eval.features, one per record


def run_gold(
    desk: Newsdesk,
    questions: Sequence[GoldQuestion],
    k: int,
    progress: ProgressCallback | None = None,
    as_of: date | None = None,
    unanswerable_days: int | None = None,
) -> Run:
    """Score every question; Ctrl-C stops early and keeps what was scored. With `unanswerable_days`,
    each dated answerable question is also asked of the archive as it stood that many days before its
    date; when no acceptable answer is then in the passages read, that is scored as an unanswerable
    case (id suffixed "@early<days>d"): a news-quiz gold set has no unanswerable questions of its own."""
    desk.warm_up()
    records: list[dict[str, Any]] = []
    features: list[dict[str, Any]] = []
    began = time.perf_counter()
    interrupted = False
    try:
        for done, gold in enumerate(questions, start=1):
            for case, until in _cases(desk, gold, k, unanswerable_days):
                record, weighed = score_traced(desk, case, k, as_of, until)
                records.append(record)
                features.append(weighed)
            if progress:
                progress(done, len(questions))
    except KeyboardInterrupt:
        interrupted = True
    return Run(records, time.perf_counter() - began, interrupted, features)


def _cases(
    desk: Newsdesk, gold: GoldQuestion, k: int, unanswerable_days: int | None
) -> list[tuple[GoldQuestion, str | None]]:
    """The question as asked, and its unanswerable case when one is asked for and the earlier archive
    does not hold the answer (eval.refusal_cases)."""
    cases: list[tuple[GoldQuestion, str | None]] = [(gold, None)]
    if unanswerable_days is None or not gold.answerable:
        return cases
    until = until_before(gold, unanswerable_days)
    if until is not None and not read_passages(desk.retriever(desk.snapshot()), gold, until, k)[1]:
        cases.append((replace(gold, id=f"{gold.id}@early{unanswerable_days}d", answerable=False), until))
    return cases


def _metric(rows: list[list[float]], statistic: Statistic) -> dict[str, Any]:
    matrix = np.asarray(rows, dtype=float).reshape(len(rows), -1) if rows else np.zeros((0, 2))
    value = statistic(matrix)
    return {
        "value": None if value is None else round(value, 4),
        "ci": bootstrap_ci(matrix, statistic) if value is not None else None,
        "n": len(rows),
    }


def metric_rows(records: Sequence[dict[str, Any]]) -> dict[str, tuple[list[list[float]], Statistic]]:
    """For each metric, its per-question rows and the statistic over them (shared with --compare)."""
    with_gold = [r for r in records if r["answerable"] and r["gold_article_ids"]]
    answerable = [r for r in records if r["answerable"]]
    answered = [r for r in records if r["answered"]]
    answered_answerable = [r for r in answered if r["answerable"]]
    mean = mean_of(0)
    table: dict[str, tuple[list[list[float]], Statistic]] = {}
    for name in GROUPS["retrieval"]:
        table[name] = ([[r["retrieval"][name]] for r in with_gold], mean)
    table["answer_accuracy"] = ([[float(r["correct"])] for r in answerable], mean)
    table["short_answer_accuracy"] = ([[float(r.get("short_correct", False))] for r in answerable], mean)
    table["answer_in_evidence"] = (
        [[float(r["answer_in_evidence"])] for r in answerable if r.get("answer_in_evidence") is not None],
        mean,
    )
    table["mean_answer_words"] = (
        [[float(r["answer_words"])] for r in answered if r.get("answer_words") is not None],
        mean,
    )
    table["token_f1"] = ([[r["token_f1"]] for r in answerable], mean)
    # An unanswerable case keeps its question's choices, but its passages cannot tell them apart.
    table["choice_accuracy"] = (
        [[float(bool(r["choice_correct"]))] for r in answerable if r["choices"]],
        mean,
    )
    table["citation_precision"] = (
        [[sum(c["supports"] for c in r["citations"]), len(r["citations"])] for r in answered_answerable],
        ratio_of(0, 1),
    )
    table["citation_recall"] = (
        [
            [float(any(c["article_id"] in r["gold_article_ids"] for c in r["citations"]))]
            for r in answered_answerable
            if r["gold_article_ids"]
        ],
        mean,
    )
    table["unsupported_sentence_share"] = (
        [[r["unsupported_sentences"], r["sentences"]] for r in answered],
        ratio_of(0, 1),
    )
    declined = [[float(not r["answerable"]), 1.0] for r in records if not r["answered"]]
    table["refusal_precision"] = (declined, ratio_of(0, 1))
    table["refusal_recall"] = ([[float(not r["answered"])] for r in records if not r["answerable"]], mean)
    table["wrong_refusal_rate"] = ([[float(not r["answered"])] for r in answerable], mean)
    return table


def summarize(run: Run) -> dict[str, Any]:
    metrics = {name: _metric(rows, statistic) for name, (rows, statistic) in metric_rows(run.records).items()}
    for stage in ("retrieve", "answer", "total"):
        values = [r["timings_ms"][stage] for r in run.records]
        for q, label in ((50, "p50"), (95, "p95")):
            found = percentile(values, q)
            metrics[f"latency_ms_{label}_{stage}"] = {
                "value": None if found is None else round(found, 2),
                "ci": None,
                "n": len(values),
            }
    qps = len(run.records) / run.seconds if run.seconds else None
    metrics["questions_per_second"] = {
        "value": None if qps is None else round(qps, 3),
        "ci": None,
        "n": len(run.records),
    }
    return metrics


def hit_curve(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    rows = [r for r in records if r["answerable"] and r["gold_article_ids"]]
    return {
        str(n): round(float(np.mean([r["retrieval"][f"hit@{n}"] for r in rows])), 4) if rows else None
        for n in range(1, 11)
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("newsdesk", "sentence-transformers", "faiss-cpu", "bm25s", "torch", "tiktoken"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def build_report(desk: Newsdesk, run: Run, config: dict[str, Any]) -> dict[str, Any]:
    snapshot = desk.snapshot()
    return {
        "title": f"{Path(config['gold']).name} on {config['index']}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(run.seconds, 2),
        "interrupted": run.interrupted,
        "config": {**config, "questions": len(run.records)},
        "manifest": {
            "model": snapshot.manifest.model,
            "dimension": snapshot.manifest.dimension,
            "chunker": snapshot.manifest.chunker,
            "vector_backend": snapshot.manifest.vector_backend,
            "counts": snapshot.manifest.counts,
            "created_at": snapshot.manifest.created_at,
        },
        "versions": versions(),
        "metrics": summarize(run),
        "groups": GROUPS,
        "hit_curve": hit_curve(run.records),
        "records": run.records,
    }


def compare(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> dict[str, Any]:
    """Differences per metric, with a paired bootstrap over the questions both runs scored."""
    common = [r["id"] for r in new["records"] if r["id"] in {o["id"] for o in old["records"]}]
    by_id_old = {r["id"]: r for r in old["records"]}
    by_id_new = {r["id"]: r for r in new["records"]}
    old_table = metric_rows([by_id_old[i] for i in common])
    new_table = metric_rows([by_id_new[i] for i in common])
    result: dict[str, Any] = {}
    for name, (old_rows, statistic) in old_table.items():
        new_rows = new_table[name][0]
        # A metric added since the old report was written (answer_in_evidence) has no old value.
        old_value = (old["metrics"].get(name) or {}).get("value")
        new_value = new["metrics"][name]["value"]
        interval = None
        if old_rows and len(old_rows) == len(new_rows):
            interval = paired_bootstrap(np.asarray(old_rows, float), np.asarray(new_rows, float), statistic)
        result[name] = {
            "old": old_value,
            "new": new_value,
            "diff": None if old_value is None or new_value is None else round(new_value - old_value, 4),
            "ci": interval,
            "significant": None if interval is None else not (interval[0] <= 0 <= interval[1]),
            "n": len(old_rows),
        }
    for name in GROUPS["cost"]:
        old_value, new_value = old["metrics"][name]["value"], new["metrics"][name]["value"]
        result[name] = {
            "old": old_value,
            "new": new_value,
            "diff": None if old_value is None or new_value is None else round(new_value - old_value, 3),
            "ci": None,
            "significant": None,
            "n": len(common),
        }
    return {"old": old_name, "new": new_name, "metrics": result}


def corpus_index_dir(paths: Sequence[str | Path], model: str | None) -> Path:
    """A cache folder keyed by the corpus files' content (and model), so a second run does not re-embed."""
    digest = hashlib.sha256((model or "default").encode())
    for path in sorted(Path(p) for p in paths):
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return Path(platformdirs.user_cache_dir("newsdesk")) / "eval-indexes" / digest.hexdigest()[:24]
