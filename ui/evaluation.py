"""The Evaluation tab: score a gold set against the loaded archive and read the report in the page.

Presentation only. The gold file is read by `eval.gold.load_gold`, scored by `eval.run.run_gold`,
summarized by `eval.run.build_report` and rendered by `eval.report`, exactly as `newsdesk eval` does;
this module wires them to widgets and turns domain errors into messages.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import deque
from html import escape
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import gradio as gr

from eval.gold import load_gold
from eval.report import write_reports
from eval.run import build_report, run_gold
from index.errors import NewsdeskError
from rag.retrieval import RetrievalSettings
from rag.service import Newsdesk
from ui.cards import PANEL_CSS, message_html, shorten_paths

DEMO = "Demo gold set (questions about the bundled demo archive)"
UPLOADED = "My gold file (upload below)"
KEPT_RUNS = 8  # report folders kept for download; gradio has copied older ones into its cache by then
Outputs = tuple[str, list[str] | None]

# The report page brings its own light styles: give it a light canvas in dark mode too.
# gradio evaluates css_template as a JS template string: no backticks, backslashes or dollar signs here.
FRAME_CSS = """
.nd-eval-frame {
  display: block;
  width: 100%;
  height: 78vh;
  border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg);
  background: #ffffff;
}
"""


def retrieval_name(settings: RetrievalSettings) -> str:
    """The `newsdesk eval --retrieval` name of the service's settings, for the report's config."""
    if not settings.dense_weight:
        return "bm25"
    if not settings.lexical_weight:
        return "dense"
    return "hybrid"


def report_frame(document: str) -> str:
    """The report page in a sandboxed iframe: its own styles and CSP apply, and nothing in it can run."""
    return (
        '<iframe class="nd-eval-frame" title="Evaluation report" sandbox="" '
        f'srcdoc="{escape(document, quote=True)}"></iframe>'
    )


class Evaluation:
    """The tab's handler, bound to one service; keeps the last few report folders for download."""

    def __init__(self, desk: Newsdesk) -> None:
        self.desk = desk
        self._folders: deque[Path] = deque()
        self._lock = threading.Lock()

    def run(
        self,
        source: str,
        upload: str | None,
        k: float,
        limit: float | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - gradio's way to ask for a progress bar
    ) -> Outputs:
        """Score the chosen gold set; the report page and its three files, or a message saying why not."""
        if limit is not None and limit < 1:
            return self._failed(f"the question limit must be at least 1, got {limit:g}")
        count = None if limit is None else int(limit)
        if source != DEMO:
            if not upload:
                return message_html("Upload a gold file (.jsonl) first, or choose the demo gold set."), None
            return self._evaluate(Path(upload), int(k), count, progress)
        with as_file(files("rag.demo") / "gold.jsonl") as demo:
            return self._evaluate(demo, int(k), count, progress)

    def _evaluate(self, gold: Path, k: int, limit: int | None, progress: gr.Progress) -> Outputs:
        progress(0, desc="Reading the gold file")
        try:
            questions = load_gold(gold)[:limit]
            progress(0, desc="Loading the index and model")

            def scored(done: int, total: int) -> None:
                progress((done, total), desc="Scoring questions", unit="questions")

            run = run_gold(self.desk, questions, k, scored)
            progress(1.0, desc="Writing the report")
            config = {
                "gold": gold.name,  # not the temporary folder an upload sits in
                "index": self.desk.location,
                "corpus": None,
                "k": k,
                "retrieval": retrieval_name(self.desk.retrieval_settings),
                "limit": limit,
            }
            report = build_report(self.desk, run, config)
            paths = write_reports(report, self._folder())
        except NewsdeskError as error:
            return self._failed(shorten_paths(str(error), [str(gold)]))
        page = paths["html"].read_text(encoding="utf-8")
        return report_frame(page), [str(paths[kind]) for kind in ("html", "md", "json")]

    def _failed(self, message: str) -> Outputs:
        gr.Warning(escape(message.splitlines()[0]))
        return message_html(message, error=True), None

    def _folder(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="newsdesk-eval-"))
        with self._lock:
            self._folders.append(folder)
            while len(self._folders) > KEPT_RUNS:
                shutil.rmtree(self._folders.popleft(), ignore_errors=True)
        return folder


def evaluation_tab(desk: Newsdesk, events: dict[str, Any]) -> None:
    """The tab's widgets and events, inside the caller's `gr.Tab`; `events` are extra listener options."""
    handler = Evaluation(desk)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            source = gr.Radio([DEMO, UPLOADED], value=DEMO, label="Gold set", elem_id="nd-eval-source")
            upload = gr.File(
                file_count="single",
                file_types=[".jsonl"],
                label="Gold file: one JSON question a line (see the README's gold format)",
                height=170,  # room for the drop zone under its label, no taller than the settings beside it
                elem_id="nd-eval-upload",
            )
        with gr.Column(scale=2):
            k = gr.Slider(1, 20, value=5, step=1, label="Passages the answer reads (k)", elem_id="nd-eval-k")
            limit = gr.Number(
                value=None,
                precision=0,
                minimum=1,
                label="Only the first N questions (empty: all)",
                elem_id="nd-eval-limit",
            )
            start = gr.Button("Run evaluation", variant="primary", elem_id="nd-eval-run")
    downloads = gr.File(
        file_count="multiple", label="Report files", interactive=False, elem_id="nd-eval-files"
    )
    report = gr.HTML(
        message_html("Choose a gold set and press “Run evaluation”: the report appears here."),
        css_template=PANEL_CSS + FRAME_CSS,
        js_on_load=None,
        elem_id="nd-eval-report",
    )
    upload.upload(lambda: UPLOADED, outputs=source, **events)
    upload.clear(lambda: DEMO, outputs=source, **events)
    start.click(handler.run, inputs=[source, upload, k, limit], outputs=[report, downloads], **events)
