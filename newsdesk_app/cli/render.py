"""Human-readable output for the terminal: answers with their sources, search hits, summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from index.ingest import IngestReport
from rag.records import Answer, Citation, Hit, earlier_text, join_names

_CONTEXT = 160


def _byline(title: str, source: str | None, published_at: str | None) -> Text:
    line = Text(title or "(untitled)", style="bold")
    details = " · ".join(part for part in (source, (published_at or "")[:10]) if part)
    if details:
        line.append(f" — {details}", style="dim")
    return line


def _flat(text: str) -> str:
    return " ".join(text.split())


def _excerpt(text: str, quote: tuple[int, int] | None) -> Text:
    """The passage around the quote, cut at word boundaries, with the quoted words highlighted."""
    start, end = quote if quote is not None else (0, 0)
    left = max(0, start - _CONTEXT)
    right = min(len(text), max(end + _CONTEXT, 2 * _CONTEXT))
    if left > 0:
        left = min(start, next((i + 1 for i in range(left, start) if text[i].isspace()), start))
    if right < len(text):
        right = max(end, next((i for i in range(right, end, -1) if text[i].isspace()), end))
    excerpt = Text("… " if left else "")
    excerpt.append(_flat(text[left:start]) + (" " if start > left else ""))
    excerpt.append(_flat(text[start:end]), style="bold yellow")
    excerpt.append((" " if right > end else "") + _flat(text[end:right]))
    if right < len(text):
        excerpt.append(" …")
    return excerpt


def print_citation(console: Console, citation: Citation) -> None:
    console.print(
        Text(f"[{citation.n}] ", style="bold cyan")
        + _byline(citation.title, citation.source, citation.published_at)
    )
    if citation.also_reported_by:
        console.print(Text(f"    also reported by {join_names(citation.also_reported_by)}", style="dim"))
    if citation.url:
        console.print(Text(f"    {citation.url}", style="underline blue"))
    quote = (
        None
        if citation.quote_start is None or citation.quote_end is None
        else (citation.quote_start, citation.quote_end)
    )
    console.print(Text("    ") + _excerpt(citation.text, quote))


def print_answer(console: Console, answer: Answer) -> None:
    if answer.standalone_question:  # a follow-up, searched as this (the web UI says the same)
        console.print(Text(f"Read as: {answer.standalone_question}", style="dim"))
    if answer.short_answer:
        console.print(Text(answer.short_answer, style="bold"))
    if answer.earlier_answers:
        console.print(Text(earlier_text(answer.earlier_answers), style="dim"))
    console.print(Text(answer.answer, style="" if answer.answered else "italic"))
    if answer.citations:
        console.print()
        console.print(Text("Sources" if answer.answered else "Closest passages", style="bold underline"))
        for citation in answer.citations:
            print_citation(console, citation)
    console.print(Text(f"({answer.timings_ms.get('total', 0):.0f} ms)", style="dim"))


def print_hits(console: Console, hits: Sequence[Hit]) -> None:
    if not hits:
        console.print("No passages match.")
    for rank, hit in enumerate(hits, start=1):
        p = hit.passage
        console.print(
            Text(f"{rank}. ", style="bold cyan")
            + _byline(p.title, p.source, p.published_at)
            + Text(f"  score {hit.score:.4f}", style="dim")
        )
        if p.url:
            console.print(Text(f"   {p.url}", style="underline blue"))
        console.print(Text("   ") + _excerpt(p.text, None))


def report_dict(report: IngestReport) -> dict[str, Any]:
    return {
        "version": report.version,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": [{"origin": s.origin, "reason": s.reason} for s in report.skipped],
        "errors": [str(e) for e in report.errors],
        "warnings": report.warnings,
        # The lists above hold the first few of each (LoadLimits.max_listed); these count them all.
        "skipped_count": report.skipped_count,
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "chunks_written": report.chunks_written,
        "chunks_embedded": report.chunks_embedded,
        "chunks_from_cache": report.chunks_from_cache,
        "seconds": round(report.seconds, 3),
        "embed_seconds": round(report.embed_seconds, 3),
    }


def print_ingest_report(console: Console, report: IngestReport) -> None:
    articles = len(report.added) + len(report.updated)
    rate = ""
    if report.seconds > 0 and articles:
        rate = f" in {report.seconds:.1f} s ({articles / report.seconds:.1f} articles/s, "
        rate += f"{report.chunks_written / report.seconds:.1f} chunks/s)"
    cached = f" ({report.chunks_from_cache} from the embedding cache)" if report.chunks_from_cache else ""
    console.print(
        f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
        f"skipped {report.skipped_count}, errors {report.error_count}; "
        f"{report.chunks_written} chunks written, {report.chunks_embedded} embedded{cached}{rate}"
    )
    for warning in report.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    _more(console, report.warning_count - len(report.warnings), "warnings", "yellow")
    for skipped in report.skipped:
        console.print(Text(f"skipped {skipped.origin}: {skipped.reason}", style="yellow"))
    _more(console, report.skipped_count - len(report.skipped), "skipped", "yellow")
    for error in report.errors:
        console.print(Text(f"error (skipped) {error}", style="red"))
    _more(console, report.error_count - len(report.errors), "errors", "red")


def _more(console: Console, count: int, kind: str, style: str) -> None:
    if count > 0:
        console.print(Text(f"... and {count} more {kind}, not listed", style=style))
