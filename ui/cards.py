"""HTML for the web UI's panels: source cards, the archive summary and ingest reports.

Everything that comes from an article (title, outlet, url, text) is untrusted: it is
escaped with `html.escape` before it goes into markup, and a url becomes a link only
when it is http(s), so neither `<script>` in a text nor `javascript:` in a url can run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from index.ingest import IngestAborted, IngestReport
from rag.records import Answer, Citation, earlier_text, join_names

CONTEXT_CHARS = 280  # passage text shown either side of the quote

# Scoped to each gr.HTML component by gradio (css_template); theme variables keep dark mode readable.
# gradio evaluates css_template as a JS template string: no backticks, backslashes or dollar signs here.
PANEL_CSS = """
font-size: var(--text-md);
line-height: 1.5;
.nd-empty, .nd-query, .nd-note { color: var(--body-text-color-subdued); margin: 0 0 0.6em; }
.nd-query q { font-style: italic; color: var(--body-text-color); }
.nd-heading { font-weight: 600; margin: 0 0 0.5em; }
.nd-card {
  border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg);
  background: var(--block-background-fill);
  padding: 0.7em 0.9em;
  margin: 0 0 0.7em;
}
.nd-title { font-weight: 600; margin: 0; }
.nd-title a { color: var(--link-text-color); text-decoration: underline; }
.nd-n { color: var(--color-accent); font-weight: 700; margin-right: 0.3em; }
.nd-meta { color: var(--body-text-color-subdued); font-size: var(--text-sm); margin: 0.15em 0 0.45em; }
.nd-passage { margin: 0; white-space: normal; overflow-wrap: anywhere; }
.nd-passage mark { background: #fde68a; color: #1f2937; padding: 0 0.1em; border-radius: 2px; }
.nd-stats { border: none; border-collapse: collapse; margin: 0 0 1em; width: 100%; }
.nd-stats tr { border: none; }
.nd-stats th, .nd-stats td {
  border: none;
  border-bottom: 1px solid var(--border-color-primary);
  text-align: left;
  padding: 0.3em 1em 0.3em 0;
  vertical-align: top;
  font-size: var(--text-md);
}
.nd-stats th { font-weight: 600; color: var(--body-text-color); width: 35%; }
.nd-stats td { overflow-wrap: anywhere; }
.nd-error { color: var(--error-text-color); white-space: pre-wrap; margin: 0; }
.nd-report ul { margin: 0.3em 0 0.6em 1.2em; padding: 0; }
"""


def safe_url(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) address, else None (no `javascript:` links)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _window(text: str, start: int, end: int) -> tuple[int, int]:
    """Where to cut the passage around text[start:end], at word boundaries."""
    left = max(0, start - CONTEXT_CHARS)
    right = min(len(text), end + CONTEXT_CHARS)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space >= 0 else start
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space >= 0 else end
    return left, right


def passage_html(citation: Citation, *, highlight: bool = True) -> str:
    """The passage around the quote, the quoted words in `<mark>`; without a quote, its opening."""
    text = citation.text
    quoted = highlight and citation.quote_start is not None and citation.quote_end is not None
    start = citation.quote_start if quoted and citation.quote_start is not None else 0
    end = citation.quote_end if quoted and citation.quote_end is not None else 0
    left, right = _window(text, start, end)
    if not quoted:
        right = min(len(text), 2 * CONTEXT_CHARS)
        if right < len(text):
            space = text.rfind(" ", 0, right)
            right = space if space > 0 else right
    parts = ["… " if left > 0 else "", escape(text[left:start])]
    if quoted:
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
    parts.append(escape(text[end:right]))
    parts.append(" …" if right < len(text) else "")
    return "".join(parts)


def citation_card(citation: Citation, *, highlight: bool = True) -> str:
    title = escape(citation.title or "(untitled)")
    url = safe_url(citation.url)
    if url:
        title = f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
    meta = " · ".join(escape(part) for part in (citation.source, (citation.published_at or "")[:10]) if part)
    if citation.also_reported_by:
        meta += f" · also reported by {escape(join_names(citation.also_reported_by))}"
    return (
        f'<article class="nd-card" data-n="{citation.n}">'
        f'<p class="nd-title"><span class="nd-n">[{citation.n}]</span>{title}</p>'
        f'<p class="nd-meta">{meta}</p>'
        f'<p class="nd-passage">{passage_html(citation, highlight=highlight)}</p>'
        "</article>"
    )


def sources_html(answer: Answer | None) -> str:
    """The sources panel: one card per citation, or the closest passages when nothing answered."""
    if answer is None:
        return '<p class="nd-empty">Ask a question: the passages its answer quotes appear here.</p>'
    parts: list[str] = []
    if answer.standalone_question is not None:
        parts.append(f'<p class="nd-query">Read as: <q>{escape(answer.standalone_question)}</q></p>')
    if answer.earlier_answers:
        parts.append(f'<p class="nd-note">{escape(earlier_text(answer.earlier_answers))}</p>')
    if answer.reader is not None:
        parts.append(f'<p class="nd-reader">Answered by: {escape(answer.reader)}</p>')
    if not answer.citations:
        parts.append('<p class="nd-empty">No passages matched.</p>')
    elif answer.answered:
        parts.append('<p class="nd-heading">Sources</p>')
    else:
        parts.append('<p class="nd-heading">Closest passages (none answers the question)</p>')
    parts += [citation_card(c, highlight=answer.answered) for c in answer.citations]
    return "".join(parts)


def message_html(message: str, *, error: bool = False) -> str:
    return f'<p class="{"nd-error" if error else "nd-note"}">{escape(message)}</p>'


def _rows(rows: Iterable[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)


def archive_html(info: dict[str, Any]) -> str:
    """Counts, date range, model and outlets of `Newsdesk.info()`."""
    first, last = (info.get("date_range") or [None, None])[:2]
    outlets: dict[str, int] = info.get("outlets") or {}
    summary = _rows(
        [
            ("Articles", f"{info.get('articles', 0):,}"),
            ("Passages", f"{info.get('chunks', 0):,}"),
            ("Published", f"{first} to {last}" if first else "no dates"),
            ("Model", f"{info.get('model', '?')} ({info.get('dimension', '?')} dimensions)"),
            ("Index", f"{info.get('index', '')} ({info.get('version', '')})"),
        ]
    )
    outlet_rows = _rows((name or "(no outlet)", f"{count:,}") for name, count in outlets.items())
    return (
        f'<table class="nd-stats">{summary}</table>'
        f'<p class="nd-heading">Outlets</p><table class="nd-stats">{outlet_rows}</table>'
    )


def _listed(label: str, items: Sequence[str]) -> str:
    if not items:
        return ""
    shown = "".join(f"<li>{escape(item)}</li>" for item in items[:50])
    more = f"<li>… and {len(items) - 50} more</li>" if len(items) > 50 else ""
    return f"<p>{escape(label)}</p><ul>{shown}{more}</ul>"


def shorten_paths(text: str, paths: Sequence[str]) -> str:
    """Uploaded files by their names, not by the temporary folders gradio keeps them in."""
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(path, Path(path).name)
    return text


def report_html(report: IngestReport, uploaded: Sequence[str] = ()) -> str:
    """What an upload changed, with every skipped file or record and its reason."""
    counts = (
        f"Added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
        f"skipped {report.skipped_count}, errors {report.error_count}; "
        f"passages written: {report.chunks_written}, in {report.seconds:.1f} s."
    )
    skipped = [shorten_paths(f"{s.origin}: {s.reason}", uploaded) for s in report.skipped]
    return (
        f'<div class="nd-report"><p class="nd-heading">{escape(counts)}</p>'
        + _listed("Added:", report.added)
        + _listed("Updated:", report.updated)
        + _listed("Skipped:", skipped)
        + _listed("Errors (skipped):", [shorten_paths(str(e), uploaded) for e in report.errors])
        + _listed("Warnings:", [shorten_paths(w, uploaded) for w in report.warnings])
        + "</div>"
    )


def aborted_html(error: IngestAborted, uploaded: Sequence[str] = ()) -> str:
    """A refused upload: which records could not be read, and what to do about it."""
    return (
        f'<div class="nd-report"><p class="nd-error">{error.count} record(s) could not be read; '
        "nothing was written. Fix them, or tick “Skip unreadable records” to add the rest.</p>"
        + _listed("Problems:", [shorten_paths(str(e), uploaded) for e in error.errors])
        + "</div>"
    )
