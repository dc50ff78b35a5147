"""The web UI: a chat that quotes its sources, filters, an archive tab that ingests uploads, and evaluation.

Presentation only. Every handler calls the same `Newsdesk` service the CLI and the API call;
retrieval and answering stay in `rag/`. Domain errors become messages, never tracebacks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from html import escape
from typing import Any

import gradio as gr

from index.dates import date_part, normalize_date
from index.errors import NewsdeskError
from index.ingest import IngestAborted, IngestOptions
from index.loaders import SUPPORTED_SUFFIXES, LoadLimits
from rag.conversation import Turn
from rag.records import SearchFilters
from rag.service import Newsdesk
from rag.streaming import Piece, exchange, reply_stream
from ui.cards import (
    PANEL_CSS,
    aborted_html,
    archive_html,
    message_html,
    report_html,
    shorten_paths,
    sources_html,
)
from ui.evaluation import evaluation_tab

Messages = list[dict[str, str]]
CHECKING = "The sources appear once the answer has been checked against them."


def example_questions(desk: Newsdesk, count: int) -> list[str]:
    """Questions about the most recent articles of the loaded archive, one per distinct title."""
    if count <= 0:
        return []
    try:
        catalog = desk.snapshot().catalog
    except NewsdeskError:
        return []
    titles: list[str] = []
    for title in catalog.recent_titles(count * 4):
        cleaned = " ".join(title.split()).rstrip(" .?!:;")
        if cleaned and cleaned not in titles:
            titles.append(cleaned)
    return [f"What was reported about “{title}”?" for title in titles[:count]]


def parse_filters(since: str | None, until: str | None, outlets: Sequence[str] | None) -> SearchFilters:
    """SearchFilters from the form; ValueError names the date that cannot be read."""
    dates: list[str | None] = []
    for name, value in (("since", since), ("until", until)):
        text = (value or "").strip()
        if not text:
            dates.append(None)
            continue
        try:
            dates.append(date_part(normalize_date(text, field=name)))
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a date; use YYYY-MM-DD, e.g. 2015-09-30") from None
    first, last = dates
    if first and last and first > last:
        raise ValueError(f"since {first} is after until {last}")
    return SearchFilters(first, last, tuple(outlets or ()))


def _display(text: str) -> str:
    """Answer text as the chat shows it: escaped, so markup inside an article shows literally."""
    return escape(text, quote=False)


def _padded(questions: list[str], count: int) -> list[str]:
    """Always `count` entries, so the UI can keep a fixed set of example buttons."""
    return questions[:count] + [""] * (count - len(questions))


def _shown(turn: Turn) -> str:
    """A turn as the chat shows it. An answer that opens with its short answer ("Hama, Homs and
    Latakia", then a blank line, then the cited sentences) shows that phrase in bold."""
    text = _display(turn.content)
    first, gap, rest = text.partition("\n\n")
    if turn.role == "assistant" and gap and rest:
        return f"<strong>{first}</strong>\n\n{rest}"
    return text


def _messages(turns: Sequence[Turn]) -> Messages:
    return [{"role": t.role, "content": _shown(t)} for t in turns]


def _drafting(turns: Sequence[Turn], draft: str) -> Messages:
    """The conversation with the reply so far, as plain text: it is not checked yet, and the short
    answer (shown in bold) comes only with the verified answer."""
    return [*_messages(turns), {"role": "assistant", "content": _display(draft)}]


def _info(desk: Newsdesk) -> dict[str, Any] | None:
    try:
        return desk.info()
    except NewsdeskError:
        return None


def _outlets(info: dict[str, Any] | None) -> list[str]:
    return sorted(name for name in (info or {}).get("outlets", {}) if name)


def _archive_panel(info: dict[str, Any] | None) -> str:
    if info is None:
        return message_html("No archive yet: add articles below.")
    return archive_html(info)


class _Handlers:
    """The UI's event handlers, bound to one service."""

    def __init__(
        self,
        desk: Newsdesk,
        examples: int,
        max_files: int,
        limits: LoadLimits | None = None,
        stopping: threading.Event | None = None,
        read_only_user: str | None = None,
    ) -> None:
        self.desk = desk
        self.read_only_user = read_only_user
        self.examples = examples
        self.max_files = max_files
        self.limits = limits or LoadLimits()
        self.stopping = stopping

    def ask(
        self,
        question: str,
        turns: list[Turn],
        since: str,
        until: str,
        outlets: list[str] | None,
        k: float,
    ) -> Iterator[tuple[Messages, list[Turn], Any, str]]:
        """Stream the reply as every door does (rag.streaming): a language model's text as it writes it,
        else the answer's words at once; then the verified answer in its place, its short answer first,
        with its sources."""
        question = (question or "").strip()
        if not question:
            yield _messages(turns), turns, gr.skip(), ""
            return
        try:
            filters = parse_filters(since, until, outlets)
        except ValueError as error:
            gr.Warning(escape(str(error)))
            yield _messages(turns), turns, message_html(str(error), error=True), question
            return
        asked = [*turns, Turn("user", question)]
        draft = ""
        try:
            for item in reply_stream(self.desk.ask_stream(question, int(k), filters, history=turns)):
                if isinstance(item, Piece):  # a model's draft is not checked yet: its sources wait
                    panel = message_html(CHECKING) if item.draft and not draft else gr.skip()
                    draft += item.text
                    yield _drafting(asked, draft), turns, panel, ""
                    continue
                done = [*turns, *exchange(question, item)]
                yield _messages(done), done, sources_html(item), ""
        except NewsdeskError as error:  # before the first piece or after it: the question is kept to retry
            gr.Warning(escape(str(error)))
            yield _messages(turns), turns, message_html(str(error), error=True), question

    def ingest(
        self,
        paths: list[str] | None,
        skip_errors: bool,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - gradio's way to ask for a progress bar
        request: gr.Request | None = None,
    ) -> tuple[Any, ...]:
        """Ingest the uploaded files, then refresh everything that depends on the archive."""
        if request is not None and self.read_only_user and request.username == self.read_only_user:
            report = message_html(
                f"You are logged in as '{self.read_only_user}' with a read-only key: you may ask, but adding "
                "articles needs a full API key or the web UI password. Nothing was read.",
                error=True,
            )
        elif not paths:
            report = message_html("Choose one or more files first.")
        elif len(paths) > self.max_files:
            report = message_html(
                f"{len(paths)} files is over the limit of {self.max_files} a time "
                "(NEWSDESK_MAX_UPLOAD_FILES); nothing was read.",
                error=True,
            )
        else:
            progress(0, desc="Reading files")

            def embedded(done: int, total: int, articles_done: int, articles: int) -> None:
                progress((done, total or None), desc="Embedding passages", unit="passages")

            try:
                options = IngestOptions(skip_errors=skip_errors, limits=self.limits, cancel=self.stopping)
                result = self.desk.ingest(paths, options, embedded)
                report = report_html(result, paths)
            except IngestAborted as error:
                gr.Warning(f"{error.count} record(s) could not be read; nothing was written.")
                report = aborted_html(error, paths)
            except NewsdeskError as error:
                message = shorten_paths(str(error), paths)
                gr.Warning(escape(message))
                report = message_html(message, error=True)
        return (report, None, *self.refresh())

    def refresh(self) -> tuple[Any, ...]:
        """What depends on the archive: counts, outlet choices, example questions."""
        info = _info(self.desk)
        questions = example_questions(self.desk, self.examples)
        buttons = [gr.Button(q, visible=bool(q)) for q in _padded(questions, self.examples)]
        return (
            _archive_panel(info),
            gr.Dropdown(choices=_outlets(info)),
            gr.Column(visible=bool(questions)),
            *buttons,
        )


def build_ui(
    desk: Newsdesk,
    *,
    examples: int = 4,
    max_files: int = 20,
    read_only_user: str | None = None,
    limits: LoadLimits | None = None,
    stopping: threading.Event | None = None,
) -> gr.Blocks:
    """The Blocks app; the server mounts it with `gr.mount_gradio_app(app, build_ui(desk), path="/")`.
    `limits` bound what one upload may make the server read (the server's settings, as for the API);
    `stopping`, set when the server shuts down, stops an upload being ingested with nothing written;
    `read_only_user`, the login name of a read-only key, may ask but not upload."""
    handlers = _Handlers(desk, examples, max_files, limits, stopping, read_only_user)
    info = _info(desk)
    questions = example_questions(desk, examples)
    blocks = gr.Blocks(title="Newsdesk", analytics_enabled=False)
    # The programmatic API is the server's /api (with its keys); the UI's events are not a second one.
    private: dict[str, Any] = {"api_visibility": "private"}
    with blocks:
        gr.Markdown("# Newsdesk\nAnswers from the news archive, every sentence quoted from a cited source.")
        with gr.Tab("Ask"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Conversation",
                    height=460,
                    sanitize_html=True,
                    render_markdown=False,
                    feedback_options=None,
                    buttons=[],  # a copy button would copy the escaped text
                    placeholder="Answers quote the archive; each [n] is a source on the right.",
                    elem_id="nd-chat",
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        placeholder="Ask a question about the archive…",
                        show_label=False,
                        scale=5,
                        elem_id="nd-question",
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="nd-ask")
                    clear = gr.Button("Clear", scale=1, min_width=80, elem_id="nd-clear")
                with gr.Column(visible=bool(questions), elem_id="nd-examples") as example_box:
                    gr.Markdown("**Questions from this archive**")
                    example_buttons = [
                        gr.Button(
                            q, size="sm", variant="secondary", visible=bool(q), elem_classes="nd-example"
                        )
                        for q in _padded(questions, examples)
                    ]
                with gr.Accordion("Filters", open=False):
                    with gr.Row():
                        since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", elem_id="nd-since")
                        until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", elem_id="nd-until")
                    outlets = gr.Dropdown(choices=_outlets(info), multiselect=True, label="Outlets", value=[])
                    k = gr.Slider(1, 20, value=5, step=1, label="Passages to retrieve")
            with gr.Column(scale=2):
                sources = gr.HTML(
                    sources_html(None),
                    css_template=PANEL_CSS,
                    js_on_load=None,
                    elem_id="nd-sources",
                )
        with gr.Tab("Archive"), gr.Row(equal_height=False):
            with gr.Column(scale=1):
                stats = gr.HTML(
                    _archive_panel(info), css_template=PANEL_CSS, js_on_load=None, elem_id="nd-stats"
                )
            with gr.Column(scale=1):
                upload = gr.File(
                    file_count="multiple",
                    file_types=list(SUPPORTED_SUFFIXES),
                    label="Articles to add: " + ", ".join(SUPPORTED_SUFFIXES),
                    elem_id="nd-upload",
                )
                skip_errors = gr.Checkbox(label="Skip unreadable records instead of stopping", value=False)
                add = gr.Button("Add to archive", variant="primary", elem_id="nd-add")
                report = gr.HTML("", css_template=PANEL_CSS, js_on_load=None, elem_id="nd-report")
        with gr.Tab("Evaluation"):
            evaluation_tab(desk, private)

        turns = gr.State([])
        asking: dict[str, Any] = {
            "fn": handlers.ask,
            "inputs": [question, turns, since, until, outlets, k],
            "outputs": [chat, turns, sources, question],
            **private,
        }
        question.submit(**asking)
        ask.click(**asking)
        for button in example_buttons:
            button.click(lambda q: q, inputs=button, outputs=question, **private).then(**asking)
        clear.click(
            lambda: ([], [], sources_html(None), ""), outputs=[chat, turns, sources, question], **private
        )
        chat.clear(lambda: ([], sources_html(None)), outputs=[turns, sources], **private)  # its bin icon
        archive_views = [stats, outlets, example_box, *example_buttons]
        add.click(
            handlers.ingest, inputs=[upload, skip_errors], outputs=[report, upload, *archive_views], **private
        )
        # The page was built once; a visitor after an upload (by anyone) must see the archive as it is now.
        blocks.load(handlers.refresh, outputs=archive_views, show_progress="hidden", **private)
    return blocks
