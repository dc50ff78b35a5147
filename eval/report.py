"""Evaluation reports for people: a Markdown summary to diff in review, a self-contained HTML page to read.

Both are rendered from the report dict that `newsdesk eval` writes as report.json, so an old run can be
re-rendered without re-running it. Questions, answers and titles come from untrusted articles: every cell is
escaped, and the HTML page loads nothing from outside itself (plots are inline PNGs).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.atomic import atomic_write, fsync_path

_DASH = "—"
_ANSWER_CHARS = 300
_QUESTION_CHARS = 300
_TITLE_CHARS = 100
_MONTH = re.compile(r"^\d{4}-\d{2}")


# ---------------------------------------------------------------------------------------------- values


def _number(name: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return _DASH
    sign = "+" if signed else ""
    if name.startswith("latency_ms"):
        return f"{value:{sign}.1f} ms"
    if name == "questions_per_second":
        return f"{value:{sign}.2f}/s"
    return f"{value:{sign}.3f}"


def _interval(name: str, ci: Any, signed: bool = False) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2 or None in ci:
        return _DASH
    return f"[{_number(name, ci[0], signed)}, {_number(name, ci[1], signed)}]"


def _trim(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _model(report: dict[str, Any]) -> str:
    model = (report.get("manifest") or {}).get("model")
    if isinstance(model, dict):
        model = model.get("name")
    return str(model) if model else "unknown"


def _summary(report: dict[str, Any]) -> str:
    config = report.get("config") or {}
    records = report.get("records") or []
    parts = [
        f"{config.get('questions', len(records))} questions",
        f"k={config.get('k', _DASH)}",
        f"{config.get('retrieval', _DASH)} retrieval",
        f"model {_model(report)}",
        f"{float(report.get('seconds') or 0.0):.1f} s",
    ]
    if report.get("created_at"):
        parts.append(str(report["created_at"]))
    if report.get("interrupted"):
        parts.append(f"interrupted after {len(records)} questions")
    return " · ".join(parts)


def _metric_rows(report: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    """(group, rows of [metric, value, CI, n]) in display order; metrics in no group land in "other"."""
    metrics: dict[str, Any] = report.get("metrics") or {}
    groups: dict[str, list[str]] = dict(report.get("groups") or {})
    grouped = {name for names in groups.values() for name in names}
    leftover = [name for name in metrics if name not in grouped]
    if leftover:
        groups["other"] = leftover
    out = []
    for group, names in groups.items():
        rows = []
        for name in names:
            entry = metrics.get(name) or {}
            n = entry.get("n")
            rows.append(
                [
                    name,
                    _number(name, entry.get("value")),
                    _interval(name, entry.get("ci")),
                    _DASH if n is None else str(n),
                ]
            )
        out.append((group, rows))
    return out


def _curve(report: dict[str, Any]) -> list[tuple[int, float | None]]:
    curve: dict[str, Any] = report.get("hit_curve") or {}
    return sorted((int(k), v) for k, v in curve.items())


@dataclass(frozen=True, slots=True)
class _Row:
    """One question, flattened to plain strings; each renderer escapes them for its own format."""

    status: str
    failed: bool
    id: str
    question: str
    gold: str
    answer: str
    citations: list[tuple[str, str, bool]]  # (label, quote, supports)
    rank: str


def _question_rows(report: dict[str, Any]) -> list[_Row]:
    """Failures first, each block in run order, so the questions to look at open the table."""
    rows = []
    for record in report.get("records") or []:
        if record.get("answerable", True):
            gold = " / ".join(str(a) for a in record.get("gold_answers") or []) or _DASH
        else:
            gold = "(unanswerable)"
        answer = str(record.get("answer") or "")
        if not record.get("answered", True):
            answer = f"(refused) {answer}".strip()
        if record.get("picked_choice") is not None:
            mark = {True: "✓", False: "✗"}.get(record.get("choice_correct"), "?")
            answer = f"{answer} · choice: {record['picked_choice']} {mark}".strip(" ·")
        citations = []
        for c in record.get("citations") or []:
            details = ", ".join(str(p) for p in (c.get("source"), str(c.get("published_at") or "")[:10]) if p)
            label = f"[{c.get('n', '?')}] {_trim(c.get('title') or '(untitled)', _TITLE_CHARS)}"
            label += f" ({details})" if details else ""
            supports = c.get("supports") is not False
            label += "" if supports else " — unsupported"
            citations.append((label, _trim(c.get("quote") or "", _ANSWER_CHARS), supports))
        rank = record.get("gold_rank")
        rows.append(
            _Row(
                status=_status(record),
                failed=bool(record.get("failure")),
                id=str(record.get("id", "")),
                question=_trim(record.get("question") or "", _QUESTION_CHARS),
                gold=_trim(gold, _ANSWER_CHARS),
                answer=_trim(answer, _ANSWER_CHARS) or _DASH,
                citations=citations,
                rank=_DASH if rank is None else str(rank),
            )
        )
    return sorted(rows, key=lambda row: not row.failed)


def _status(record: dict[str, Any]) -> str:
    """The failure, and for a wrong answer or refusal whether the reader was shown the answer at all
    (answer_in_evidence): not shown, a miss of retrieval or selection; shown, a misreading."""
    failure = record.get("failure")
    if failure in ("wrong answer", "wrong refusal") and record.get("answer_in_evidence") is False:
        return f"{failure} (answer not shown)"
    return str(failure or "ok")


def _run_details(report: dict[str, Any]) -> list[tuple[str, str]]:
    config = report.get("config") or {}
    versions = report.get("versions") or {}
    pairs = [(f"config.{k}", v) for k, v in config.items()] + [
        (f"versions.{k}", v) for k, v in versions.items()
    ]
    return [
        (k, _DASH if v is None else json.dumps(v) if isinstance(v, list | dict) else str(v)) for k, v in pairs
    ]


# -------------------------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    """A table cell: one line, pipes escaped, `<` neutralised so a question cannot open raw HTML."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _md_table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# {_md(report.get('title') or 'Evaluation report')}", "", _md(_summary(report)), ""]
    for group, rows in _metric_rows(report):
        lines += [f"## {group.capitalize()}", "", *_md_table(["metric", "value", "95% CI", "n"], rows), ""]
    curve = _curve(report)
    if curve:
        lines += ["## Hit@k curve", ""]
        lines += _md_table(
            ["k", *(str(k) for k, _ in curve)], [["hit", *(_number("hit", v) for _, v in curve)]]
        )
        lines.append("")
    header = ["result", "id", "question", "gold answer", "our answer", "cited passages", "gold rank"]
    table = [
        [
            r.status,
            r.id,
            r.question,
            r.gold,
            r.answer,
            "; ".join(label for label, _, _ in r.citations) or _DASH,
            r.rank,
        ]
        for r in _question_rows(report)
    ]
    lines += ["## Questions (failures first)", "", *_md_table(header, table), ""]
    lines += ["## Run", "", *_md_table(["setting", "value"], [list(p) for p in _run_details(report)]), ""]
    return "\n".join(lines)


def render_comparison_markdown(comparison: dict[str, Any]) -> str:
    lines = [
        "# Comparison",
        "",
        f"old: `{_md(comparison.get('old', ''))}` · new: `{_md(comparison.get('new', ''))}`",
        "",
    ]
    rows = []
    for name, entry in (comparison.get("metrics") or {}).items():
        significant = {True: "**yes**", False: "no"}.get(entry.get("significant"), _DASH)
        rows.append(
            [
                name,
                _number(name, entry.get("old")),
                _number(name, entry.get("new")),
                _number(name, entry.get("diff"), signed=True),
                _interval(name, entry.get("ci"), signed=True),
                significant,
            ]
        )
    lines += _md_table(["metric", "old", "new", "diff", "95% CI of diff", "significant"], rows)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ plots


def _png(draw: Callable[[Any], None]) -> str:
    """Draws on a fresh 5 by 3 inch figure and returns it as a data: URI; the figure is always closed."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - matplotlib is a declared dependency
        raise ImportError("HTML reports need matplotlib: pip install 'matplotlib>=3.8'") from exc
    matplotlib.use("Agg")  # never a window, also when a display is set
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    try:
        draw(ax)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot_curve(curve: list[tuple[int, float | None]]) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        points = [(k, v) for k, v in curve if v is not None]
        ax.plot([k for k, _ in points], [v for _, v in points], marker="o")
        ax.set(xlabel="k", ylabel="hit rate", ylim=(0, 1.05), title="Hit@k")
        ax.set_xticks([k for k, _ in curve])

    return draw


def _plot_latency(series: dict[str, list[float]]) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        import numpy as np

        edges = np.histogram_bin_edges([v for values in series.values() for v in values], bins=20)
        for name, values in series.items():
            # Total is the headline (filled); its parts are outlines on top, so all three stay readable.
            filled = name == "total"
            style = (
                {"histtype": "stepfilled", "alpha": 0.35}
                if filled
                else {"histtype": "step", "linewidth": 1.5}
            )
            ax.hist(values, bins=edges, label=name, **style)
        ax.set(xlabel="ms per question", ylabel="questions", title="Latency")
        ax.legend(fontsize=8, framealpha=0.8)

    return draw


def _plot_accuracy(by: str, groups: dict[str, list[bool]]) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        names = sorted(groups)
        rates = [sum(groups[g]) / len(groups[g]) for g in names]
        bars = ax.bar(range(len(names)), rates)
        ax.bar_label(bars, labels=[f"n={len(groups[g])}" for g in names], fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0, ha="right")
        ax.set(ylabel="correct", ylim=(0, 1.15), title=f"Answer accuracy by {by}")

    return draw


def _accuracy_groups(records: list[dict[str, Any]]) -> tuple[str, dict[str, list[bool]]] | None:
    """By question month when the set spans two or more, else by outlet when known, else no plot."""
    scored = [r for r in records if r.get("correct") is not None]
    months: dict[str, list[bool]] = {}
    outlets: dict[str, list[bool]] = {}
    for r in scored:
        date = str(r.get("question_date") or "")
        if _MONTH.match(date):
            months.setdefault(date[:7], []).append(bool(r["correct"]))
        if r.get("outlet"):
            outlets.setdefault(str(r["outlet"]), []).append(bool(r["correct"]))
    if len(months) >= 2:
        return "question month", months
    if outlets:
        return "outlet", outlets
    return None


def _plots(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(alt text, data URI) for each plot the report has data for."""
    records = report.get("records") or []
    plots = []
    curve = _curve(report)
    if any(v is not None for _, v in curve):
        plots.append(("hit@k curve", _png(_plot_curve(curve))))
    series: dict[str, list[float]] = {}
    for part in ("total", "retrieve", "answer"):
        values = [float(t[part]) for r in records if (t := r.get("timings_ms") or {}).get(part) is not None]
        if values:
            series[part] = values
    if series:
        plots.append(("latency histogram", _png(_plot_latency(series))))
    accuracy = _accuracy_groups(records)
    if accuracy:
        plots.append((f"answer accuracy by {accuracy[0]}", _png(_plot_accuracy(*accuracy))))
    return plots


# ------------------------------------------------------------------------------------------------- html

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d1d1f; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.summary { color: #555; } .interrupted { color: #a30000; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #c8c8c8; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.groups { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.plots img { margin: 4px 12px 4px 0; border: 1px solid #e0e0e0; }
table.questions { width: 100%; font-size: 13px; }
table.questions td { overflow-wrap: break-word; }
td.id { white-space: nowrap; } td.question { min-width: 14em; } td.cites { min-width: 16em; }
tr.fail td { background: #fdecea; } td.status { white-space: nowrap; font-weight: 600; }
tr.fail td.status { color: #a30000; } tr.ok td.status { color: #1b7f3b; }
ul.cites { margin: 0; padding-left: 1.1em; } .unsupported { color: #a30000; }
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: list[str], rows: Iterable[list[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i >= numeric_from else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _question_table(rows: list[_Row]) -> str:
    header = ["result", "id", "question", "gold answer", "our answer", "cited passages", "gold rank"]
    out = ['<table class="questions"><thead><tr>', *(f"<th>{h}</th>" for h in header), "</tr></thead><tbody>"]
    for r in rows:
        cites = "".join(
            f'<li title="{_e(quote)}"{"" if supports else " class=unsupported"}>{_e(label)}</li>'
            for label, quote, supports in r.citations
        )
        cells = [
            f'<td class="status">{_e(r.status)}</td>',
            f'<td class="id">{_e(r.id)}</td>',
            f'<td class="question">{_e(r.question)}</td>',
            *(f"<td>{_e(text)}</td>" for text in (r.gold, r.answer)),
            f'<td class="cites"><ul class="cites">{cites}</ul></td>' if cites else f"<td>{_DASH}</td>",
            f'<td class="num">{_e(r.rank)}</td>',
        ]
        out.append(f'<tr class="{"fail" if r.failed else "ok"}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def render_html(report: dict[str, Any]) -> str:
    title = _e(report.get("title") or "Evaluation report")
    summary = _e(_summary(report))
    if report.get("interrupted"):
        tail = _e(f"interrupted after {len(report.get('records') or [])} questions")
        summary = summary.replace(tail, f'<span class="interrupted">{tail}</span>')
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f'<h1>{title}</h1><p class="summary">{summary}</p><div class="groups">',
    ]
    for group, rows in _metric_rows(report):
        table = _html_table(["metric", "value", "95% CI", "n"], rows)
        parts.append(f"<section><h2>{_e(group.capitalize())}</h2>{table}</section>")
    parts.append("</div>")
    curve = _curve(report)
    if curve:
        parts.append("<h2>Hit@k curve</h2>")
        parts.append(
            _html_table(["k", *(str(k) for k, _ in curve)], [["hit", *(_number("hit", v) for _, v in curve)]])
        )
    plots = _plots(report)
    if plots:
        images = "".join(f'<img src="{uri}" alt="{_e(alt)}" width="500" height="300">' for alt, uri in plots)
        parts.append(f'<h2>Plots</h2><div class="plots">{images}</div>')
    parts.append("<h2>Questions (failures first)</h2>")
    parts.append(_question_table(_question_rows(report)))
    parts.append("<h2>Run</h2>")
    parts.append(_html_table(["setting", "value"], [list(p) for p in _run_details(report)], numeric_from=2))
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------- files


def write_reports(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Writes out_dir/report.json, report.md and report.html; returns {"json": ..., "md": ..., "html": ...}.

    Each file is replaced atomically, so a reader never sees half a report; HTML is rendered first because
    it is the step that can fail (plotting), and then nothing is written.
    """
    out_dir = Path(out_dir)
    texts = {
        "html": render_html(report),
        "md": render_markdown(report),
        "json": json.dumps(report, indent=2) + "\n",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"report.{kind}" for kind in ("json", "md", "html")}
    for kind, path in paths.items():
        atomic_write(path, texts[kind])
    fsync_path(out_dir)
    return paths
