"""`newsdesk eval`: score a gold set and write report.json, report.md and report.html."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from eval.gold import load_gold
from eval.refusal_cases import DAYS
from eval.run import build_report, compare, corpus_index_dir, run_gold
from index.ingest import IngestOptions
from newsdesk_app.cli.errors import reports_errors, stderr, stdout
from newsdesk_app.cli.options import (
    corpus_option,
    gold_argument,
    k_option,
    limit_option,
    out_option,
    read_index_option_for,
)
from newsdesk_app.cli.progress import IngestProgress
from newsdesk_app.settings import default_index_dir, desk_from_environment
from rag.retrieval import ENGINE_RRF, OWN_BM25, RetrievalSettings
from rag.when import parse_as_of

RETRIEVAL = {
    "hybrid": RetrievalSettings(),
    # On a Milvus index whose engine runs BM25 (elsewhere these are "hybrid"): newsdesk's own BM25 index
    # instead of the engine's, or the engine's own fusion (plain RRF) instead of the weighted one here.
    "hybrid-own-bm25": RetrievalSettings(bm25=OWN_BM25),
    "hybrid-engine-rrf": RetrievalSettings(bm25=ENGINE_RRF),
    "hybrid-untimed": RetrievalSettings(time_weight=0.0),  # the default before time-aware ranking
    "bm25": RetrievalSettings(dense_weight=0.0, time_weight=0.0),
    "dense": RetrievalSettings(lexical_weight=0.0, time_weight=0.0),
}


def _headline(console: Console, report: dict[str, Any]) -> None:
    table = Table(title=report["title"], show_lines=False)
    for column in ("group", "metric", "value", "95% CI", "n"):
        table.add_column(column)
    for group, names in report["groups"].items():
        for name in names:
            entry = report["metrics"][name]
            value = "—" if entry["value"] is None else f"{entry['value']}"
            interval = "—" if not entry["ci"] else f"{entry['ci'][0]} – {entry['ci'][1]}"
            table.add_row(group, name, value, interval, str(entry["n"]))
    console.print(table)


def as_of_option(value: str) -> date | None:
    if value.strip().lower() == "none":
        return None
    if value.strip().lower() == "today":
        return date.today()
    try:
        return parse_as_of(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--as-of") from error


@click.command("eval")
@gold_argument
@read_index_option_for(
    "Evaluate this index, a folder or milvus:URI#COLLECTION (default: $NEWSDESK_INDEX or the per-user one)."
)
@corpus_option("Ingest these articles into a cached index first (keyed by their content).", multiple=True)
@click.option("--model", default=None, help="Embedding model for --corpus.")
@k_option("Passages the answer reads.")
@click.option("--retrieval", type=click.Choice(sorted(RETRIEVAL)), default="hybrid", show_default=True)
@out_option("Report folder (default: newsdesk-eval/<gold>-<time>).")
@click.option(
    "--compare",
    "compare_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="An earlier report folder to compare with (paired bootstrap).",
)
@limit_option("Only the first N questions.")
@click.option(
    "--as-of",
    "as_of",
    default="none",
    show_default=True,
    help="The date questions are asked on when the gold set gives none (YYYY-MM-DD, 'today', or 'none': "
    "as `ask` without --as-of); a question's own question_date always wins.",
)
@click.option(
    "--unanswerable-days",
    "unanswerable_days",
    type=click.IntRange(min=1),
    default=None,
    help="Also ask each dated question of the archive as it stood DAYS before its date, and score it as"
    " unanswerable when the passages then read hold no answer (refusals on a set with no unanswerable"
    f" questions; {DAYS} is what newsdesk train-reader uses).",
)
def eval_command(
    gold: Path,
    index_dir: Path | str | None,
    corpus: tuple[Path, ...],
    model: str | None,
    k: int,
    retrieval: str,
    out: Path | None,
    compare_dir: Path | None,
    limit: int | None,
    as_of: str,
    unanswerable_days: int | None,
) -> None:
    """Score retrieval, answers, citations and refusals on GOLD (one JSON question a line)."""
    from eval.features import write_features
    from eval.report import render_comparison_markdown, write_reports

    @reports_errors
    def run() -> None:
        questions = load_gold(gold)[:limit]
        default_date = as_of_option(as_of)
        if corpus and index_dir:
            raise click.UsageError("give --index or --corpus, not both")
        target = corpus_index_dir(corpus, model) if corpus else (index_dir or default_index_dir())
        desk = desk_from_environment(target, retrieval=RETRIEVAL[retrieval])
        if corpus:
            with IngestProgress() as progress:
                ingested = desk.ingest(list(corpus), IngestOptions(model=model), progress)
            if ingested.version:
                stderr.print(f"indexed {len(ingested.added)} articles into {target}")
        with Progress(
            TextColumn("questions"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        ) as bar:
            task = bar.add_task("eval", total=len(questions))
            result = run_gold(
                desk,
                questions,
                k,
                lambda done, _: bar.update(task, completed=done),
                as_of=default_date,
                unanswerable_days=unanswerable_days,
            )
        config = {
            "gold": str(gold),
            "index": str(target),
            "corpus": [str(c) for c in corpus] or None,
            "k": k,
            "retrieval": retrieval,
            "limit": limit,
            "as_of": default_date.isoformat() if default_date else None,
            "unanswerable_days": unanswerable_days,
            "generator": desk.generator.name if desk.generator else None,
            "reader": desk.scorer.name,  # the learned reader or the hand weights (NEWSDESK_READER)
            "answered_by": desk.reader_name(),  # extractive, or a model judging or writing
        }
        report = build_report(desk, result, config)
        folder = out or Path("newsdesk-eval") / f"{gold.stem}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        paths = write_reports(report, folder)
        write_features(result.features, folder)
        _headline(stdout, report)
        if result.interrupted:
            stderr.print(
                f"[yellow]interrupted: {len(result.records)} of {len(questions)} questions scored[/]"
            )
        if compare_dir:
            old = json.loads((compare_dir / "report.json").read_text(encoding="utf-8"))
            comparison = compare(old, report, str(compare_dir), str(folder))
            (folder / "comparison.json").write_text(json.dumps(comparison, indent=2), encoding="utf-8")
            markdown = render_comparison_markdown(comparison)
            (folder / "comparison.md").write_text(markdown, encoding="utf-8")
            stdout.print(markdown)
        stdout.print(f"report: {paths['html']}  {paths['md']}  {paths['json']}", style="dim")

    run()
