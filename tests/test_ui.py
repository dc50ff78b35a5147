"""The web UI without a browser: HTML cards, example questions, filters and handlers, model-free."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from fastapi.testclient import TestClient

from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.conversation import Turn
from rag.records import Answer, Citation, EarlierAnswer, SearchFilters
from rag.service import Newsdesk
from tests.conftest import article
from tests.test_generators import ScriptedModel
from ui.app import _Handlers, build_ui, example_questions, parse_filters
from ui.cards import citation_card, safe_url, shorten_paths, sources_html
from ui.evaluation import DEMO, UPLOADED, Evaluation

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]

PASSAGE = (
    "Russian warplanes struck targets on Wednesday. <script>alert(1)</script> According to Syrian "
    "sources, jets struck the provinces of Hama, Homs and Latakia. Moscow said the raids were aimed at IS."
)
QUOTE = "According to Syrian sources, jets struck the provinces of Hama, Homs and Latakia."


def citation(text: str = PASSAGE, **fields: Any) -> Citation:
    start = text.index(QUOTE)
    values: dict[str, Any] = {
        "n": 1,
        "article_id": "strikes",
        "chunk_id": "c1",
        "title": "Russia strikes <b>Syria</b>",
        "source": "Harbor <i>Ledger</i>",
        "url": "https://ledger.example/strikes?a=1&b=2",
        "published_at": "2015-09-30T12:00:00Z",
        "text": text,
        "start": 0,
        "end": len(text),
        "quote_start": start,
        "quote_end": start + len(QUOTE),
        "score": 0.03,
    }
    values.update(fields)
    return Citation(**values)


def test_a_card_escapes_everything_from_the_article() -> None:
    card = citation_card(citation(PASSAGE.replace("struck targets", "struck <img src=x onerror=alert(2)>")))
    assert "<script>" not in card and "<img" not in card and "<b>" not in card and "<i>" not in card
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card
    assert "Russia strikes &lt;b&gt;Syria&lt;/b&gt;" in card
    assert "Harbor &lt;i&gt;Ledger&lt;/i&gt; · 2015-09-30" in card


def test_the_mark_surrounds_exactly_the_quote() -> None:
    card = citation_card(citation())
    assert re.findall(r"<mark>(.*?)</mark>", card) == [escape(QUOTE)]
    assert "<mark>" not in citation_card(citation(), highlight=False)
    assert "<mark>" not in citation_card(citation(quote_start=None, quote_end=None))


def test_a_quote_inside_a_long_passage_is_shown_with_context_cut_at_words() -> None:
    long_text = "word " * 400 + QUOTE + " tail" * 400
    card = citation_card(citation(long_text))
    passage = re.search(r'<p class="nd-passage">(.*?)</p>', card)
    assert passage is not None
    shown = passage.group(1)
    assert shown.startswith("… word") and shown.endswith("tail …")
    assert f"<mark>{escape(QUOTE)}</mark>" in shown and len(shown) < 800


def test_the_title_links_to_the_url_only_when_there_is_a_web_url() -> None:
    card = citation_card(citation())
    assert (
        '<a href="https://ledger.example/strikes?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">'
        in card
    )
    for url in (None, "", "javascript:alert(1)", "data:text/html,<script>", "ledger.example/x"):
        assert "<a " not in citation_card(citation(url=url)), url
    assert safe_url(" HTTP://ledger.example/a ") == "HTTP://ledger.example/a"


def test_the_sources_panel_names_the_earlier_figures_a_newer_report_replaced() -> None:
    earlier = [EarlierAnswer("300", "2023-02-06", "<Post>")]
    panel = sources_html(Answer("How many?", f"{QUOTE} [1]", True, [citation()], earlier_answers=earlier))
    assert "Earlier reports: 300 (&lt;Post&gt;, 2023-02-06)" in panel
    assert "Earlier reports" not in sources_html(Answer("How many?", f"{QUOTE} [1]", True, [citation()]))


def test_the_sources_panel_shows_the_standalone_question_and_unanswered_passages() -> None:
    answered = Answer(
        "Who approved it?", f"{QUOTE} [1]", True, [citation()], standalone_question="Who approved <x>?"
    )
    panel = sources_html(answered)
    assert "Read as: <q>Who approved &lt;x&gt;?</q>" in panel and "<mark>" in panel
    declined = Answer("Who won?", "The archive does not say.", False, [citation(quote_start=None)])
    panel = sources_html(declined)
    assert "Closest passages" in panel and "<mark>" not in panel and "Read as" not in panel
    assert "Ask a question" in sources_html(None)


def test_the_sources_panel_says_which_reader_answered() -> None:
    by_model = Answer("Who?", f"{QUOTE} [1]", True, [citation()], reader="llama.cpp:<model>.gguf")
    assert '<p class="nd-reader">Answered by: llama.cpp:&lt;model&gt;.gguf</p>' in sources_html(by_model)
    assert "Answered by" not in sources_html(Answer("Who?", f"{QUOTE} [1]", True, [citation()]))


def test_uploaded_files_are_named_without_their_temporary_folder() -> None:
    paths = ["/tmp/gradio/ab12/news.jsonl"]
    assert shorten_paths("/tmp/gradio/ab12/news.jsonl:3: invalid JSON", paths) == "news.jsonl:3: invalid JSON"


def test_filters_are_read_and_a_bad_date_is_named() -> None:
    assert parse_filters(" 2015-09-01 ", "30 September 2015", ["Harbor Ledger"]) == SearchFilters(
        "2015-09-01", "2015-09-30", ("Harbor Ledger",)
    )
    assert parse_filters("", None, None) == SearchFilters()
    with pytest.raises(ValueError, match=r"since: '2015-13-45' is not a date"):
        parse_filters("2015-13-45", "", [])
    with pytest.raises(ValueError, match="since 2016-01-01 is after until 2015-01-01"):
        parse_filters("2016-01-01", "2015-01-01", [])


def small_archive(tmp_path: Path, write_jsonl: Writer, generator: ScriptedModel | None = None) -> Newsdesk:
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder(), generator=generator)
    records = [
        article(
            "strikes",
            "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday. "
            "The upper house, the Federation Council, had approved the use of force that morning.",
            title="Russia strikes Syria.",
            published_at="2015-09-30",
        ),
        article(
            "quake", "An earthquake shook the coast of Chile.", title="Chile quake", published_at="2014-04-01"
        ),
        article(
            "again",
            "A second report on the strikes.",
            title="Russia strikes Syria",
            published_at="2015-10-01",
        ),
        article(
            "budget", "The council approved a budget.", title="Budget <passed>", published_at="2019-04-02"
        ),
    ]
    desk.ingest([write_jsonl("news.jsonl", records)])
    return desk


def test_example_questions_come_from_the_most_recent_titles(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = small_archive(tmp_path, write_jsonl)
    assert example_questions(desk, 3) == [
        "What was reported about “Budget <passed>”?",
        "What was reported about “Russia strikes Syria”?",
        "What was reported about “Chile quake”?",
    ]
    assert len(example_questions(desk, 1)) == 1
    assert example_questions(desk, 0) == []
    assert example_questions(Newsdesk(tmp_path / "none", embedder=HashingEmbedder()), 4) == []


def test_an_answer_streams_word_by_word_and_a_follow_up_carries_the_history(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    handlers = _Handlers(small_archive(tmp_path, write_jsonl), examples=2, max_files=3)
    steps = list(handlers.ask("Which provinces were struck?", [], "", "", [], 5))
    assert len(steps) > 5
    shown = [messages[-1]["content"] for messages, _, _, _ in steps]
    assert all(len(a) < len(b) for a, b in itertools.pairwise(shown))
    messages, turns, panel, box = steps[-1]
    assert [t.role for t in turns] == ["user", "assistant"] and box == ""
    assert "Hama, Homs and Latakia" in turns[1].content and "<mark>" in panel
    short, answer = turns[1].content.split("\n\n")
    assert short == "Hama, Homs and Latakia"  # the short answer first, then the cited sentences
    assert messages == [
        {"role": "user", "content": "Which provinces were struck?"},
        {"role": "assistant", "content": f"<strong>{short}</strong>\n\n{escape(answer, quote=False)}"},
    ]
    *_, (_, turns, panel, _) = handlers.ask("Who approved it?", turns, "", "", [], 5)
    # "it" is what was done to the provinces, not the list of them (rag.conversation)
    assert len(turns) == 4 and "Read as: <q>Who approved the strikes?</q>" in panel


def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s: streaming must not wait for effect")

    monkeypatch.setattr(time, "sleep", refuse)


def test_an_extractive_answer_comes_as_its_words_at_once_then_whole_with_its_short_answer(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers = _Handlers(small_archive(tmp_path, write_jsonl), examples=2, max_files=3)
    no_sleeping(monkeypatch)
    began = time.perf_counter()
    *partial, (messages, turns, panel, _) = handlers.ask("Which provinces were struck?", [], "", "", [], 5)
    assert time.perf_counter() - began < 5
    assert len(partial) > 5 and all(step[1] == [] for step in partial)  # no turn is kept before the end
    assert "<strong>" not in partial[-1][0][-1]["content"]  # the short answer comes with the answer
    assert messages[-1]["content"].startswith("<strong>Hama, Homs and Latakia</strong>\n\n")
    reply = turns[1]
    assert reply.answer is not None and reply.answer.short_answer == "Hama, Homs and Latakia"
    assert reply.content == f"Hama, Homs and Latakia\n\n{reply.answer.answer}" and "<mark>" in panel


def test_a_language_model_is_shown_as_it_writes_then_replaced_by_the_verified_answer(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler is read step by step, as gradio reads it: a draft reaches the page while the model
    is still writing; the verified answer (the sentence nothing supports dropped) takes its place."""
    model = ScriptedModel(
        "Short answer: Hama, Homs and Latakia\n"
        "Russian jets struck positions in the provinces of Hama, Homs and Latakia. [1] "
        "The strikes <b>ended</b> in Lima. [2]"
    )
    handlers = _Handlers(small_archive(tmp_path, write_jsonl, model), examples=2, max_files=3)
    no_sleeping(monkeypatch)
    steps = handlers.ask("Which provinces were struck?", [], "", "", [], 5)
    messages, turns, panel, box = next(steps)
    total = len(re.findall(r"\S+\s*", model.reply))
    assert 0 < model.written < total, "the first draft was shown only after the model had finished"
    assert messages[-1] == {"role": "assistant", "content": "Russian "} and turns == [] and box == ""
    assert "checked against them" in panel
    *drafts, (messages, turns, panel, box) = steps
    shown = [step[0][-1]["content"] for step in drafts]
    assert shown[-1] == "Russian jets struck positions in the provinces of Hama, Homs and Latakia. [1] " + (
        "The strikes &lt;b&gt;ended&lt;/b&gt; in Lima. [2]"
    )
    assert all(step[2] is not None and step[1] == [] for step in drafts)
    answer = turns[1].answer
    assert answer is not None and answer.verification is not None and answer.verification["dropped"] == 1
    assert "Lima" not in answer.answer and "Lima" not in messages[-1]["content"]
    assert messages[-1]["content"] == f"<strong>Hama, Homs and Latakia</strong>\n\n{escape(answer.answer)}"
    assert [c.article_id for c in answer.citations] == ["strikes"] and "<mark>" in panel

    *_, (messages, turns, panel, _) = handlers.ask("Who approved it?", turns, "", "", [], 5)
    asked_with = model.histories[-1]
    assert [t.role for t in asked_with] == ["user", "assistant"] and asked_with[1].answer is answer
    assert len(turns) == 4 and turns[3].answer is not None and turns[3].answer.standalone_question
    assert "Read as: <q>" in panel


def test_a_model_failing_mid_answer_leaves_the_conversation_and_the_question(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    failing = ScriptedModel("Russian jets struck Hama. [1]", fail_after=2)
    handlers = _Handlers(small_archive(tmp_path, write_jsonl, failing), examples=2, max_files=3)
    history = [Turn("user", "Hi"), Turn("assistant", "Hello [1]")]
    with pytest.warns(UserWarning, match="failed: reset"):
        *drafts, (messages, turns, panel, box) = handlers.ask("Which provinces?", history, "", "", [], 5)
    assert [step[0][-1]["content"] for step in drafts] == ["Russian ", "Russian jets "]
    assert turns == history and box == "Which provinces?" and "failed: reset" in panel
    assert [m["content"] for m in messages] == ["Hi", "Hello [1]"]


def test_a_bad_date_leaves_the_conversation_as_it_was(tmp_path: Path, write_jsonl: Writer) -> None:
    handlers = _Handlers(small_archive(tmp_path, write_jsonl), examples=2, max_files=3)
    history = [Turn("user", "Hi <b>"), Turn("assistant", "Hello [1]")]
    with pytest.warns(UserWarning, match="2015-02-30"):
        [(messages, turns, panel, box)] = handlers.ask("Which?", history, "2015-02-30", "", [], 5)
    assert turns == history and box == "Which?" and "2015-02-30" in panel
    assert messages[0]["content"] == "Hi &lt;b&gt;"


def test_an_upload_reports_what_it_did_and_a_bad_one_explains_why(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    handlers = _Handlers(small_archive(tmp_path, write_jsonl), examples=2, max_files=3)
    good = write_jsonl("more.jsonl", [article("bridge", "The bridge reopened.", published_at="2024-01-01")])
    report, cleared, stats, outlets, box, *buttons = handlers.ingest([str(good)], False)
    assert "Added 1" in report and "bridge" in report and cleared is None and "5" in stats
    assert outlets.choices == [("Test Wire", "Test Wire")] and box.visible
    assert buttons[0].value == "What was reported about “Title of bridge”?"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "title": "t", "text": 5}\n', encoding="utf-8")
    with pytest.warns(UserWarning, match="could not be read"):
        report, *_ = handlers.ingest([str(bad)], False)
    assert "bad.jsonl:1" in report and str(tmp_path) not in report and "Traceback" not in report
    report, *_ = handlers.ingest([str(good)] * 4, False)
    assert "4 files is over the limit of 3" in report and "NEWSDESK_MAX_UPLOAD_FILES" in report


def test_a_read_only_login_may_not_add_articles_in_the_ui(tmp_path: Path, write_jsonl: Writer) -> None:
    desk = small_archive(tmp_path, write_jsonl)
    handlers = _Handlers(desk, examples=2, max_files=3, read_only_user="reader")
    good = write_jsonl("more.jsonl", [article("bridge", "The bridge reopened.", published_at="2024-01-01")])
    report, *_ = handlers.ingest([str(good)], False, request=gr.Request(username="reader"))
    assert "read-only key" in report and desk.article("bridge") is None
    report, *_ = handlers.ingest([str(good)], False, request=gr.Request(username="editor"))
    assert "Added 1" in report and desk.article("bridge") is not None


def test_build_ui_gives_a_blocks_app(tmp_path: Path, write_jsonl: Writer) -> None:
    blocks = build_ui(small_archive(tmp_path, write_jsonl), examples=2)
    assert isinstance(blocks, gr.Blocks)


GOLD: list[dict[str, Any]] = [
    {
        "id": "q1",
        "question": "Which provinces were struck?",
        "answers": ["Hama, Homs and Latakia"],
        "gold_article_ids": ["strikes"],
    },
    {"id": "q2", "question": "Who won the 2030 World Cup?", "answerable": False},
]


def test_an_evaluation_shows_the_report_in_a_sandbox_and_offers_its_files(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    evaluation = Evaluation(small_archive(tmp_path, write_jsonl))
    gold = write_jsonl("gold.jsonl", GOLD)
    frame, files = evaluation.run(UPLOADED, str(gold), 5, None)
    assert frame.startswith('<iframe class="nd-eval-frame"') and 'sandbox=""' in frame
    assert "answer_accuracy" in frame and "hit@1" in frame and "<style>" not in frame  # all inside srcdoc
    assert files is not None and [Path(f).name for f in files] == ["report.html", "report.md", "report.json"]
    report = json.loads(Path(files[2]).read_text(encoding="utf-8"))
    assert report["config"]["gold"] == "gold.jsonl" and report["config"]["questions"] == 2
    assert report["metrics"]["hit@1"]["value"] == 1.0 and report["config"]["retrieval"] == "hybrid"


def test_the_demo_gold_set_is_one_choice_and_the_limit_cuts_it(tmp_path: Path, write_jsonl: Writer) -> None:
    evaluation = Evaluation(small_archive(tmp_path, write_jsonl))
    frame, files = evaluation.run(DEMO, None, 3, 2)
    assert files is not None and "answer_accuracy" in frame
    report = json.loads(Path(files[2]).read_text(encoding="utf-8"))
    assert report["config"] | {"index": None} == {
        "gold": "gold.jsonl",
        "index": None,
        "corpus": None,
        "k": 3,
        "retrieval": "hybrid",
        "limit": 2,
        "questions": 2,
    }


def test_a_malformed_gold_file_names_its_line_without_the_upload_folder(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    evaluation = Evaluation(small_archive(tmp_path, write_jsonl))
    bad = tmp_path / "gradio" / "5f3a" / "bad.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps(GOLD[0]) + '\n{"id": "q2", "question": "Who?"}\n', encoding="utf-8")
    with pytest.warns(UserWarning, match="1 gold line"):
        message, files = evaluation.run(UPLOADED, str(bad), 5, None)
    assert files is None and 'class="nd-error"' in message
    assert "bad.jsonl:2: an answerable question needs at least one entry in &#x27;answers&#x27;" in message
    assert str(tmp_path) not in message and "Traceback" not in message
    message, files = evaluation.run(UPLOADED, None, 5, None)
    assert files is None and "Upload a gold file" in message
    with pytest.warns(UserWarning, match="at least 1, got 0"):
        message, files = evaluation.run(DEMO, None, 5, 0)
    assert files is None


def test_an_upload_in_the_web_ui_is_bounded_by_the_servers_limits(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    desk = small_archive(tmp_path, write_jsonl)
    version = desk.info()["version"]
    limits = ServerSettings(max_records=3).load_limits()
    handlers = _Handlers(desk, examples=2, max_files=3, limits=limits)
    many = write_jsonl("many.jsonl", [article(f"n{i}", f"Report {i} on the harbour.") for i in range(5)])
    with pytest.warns(UserWarning, match="NEWSDESK_MAX_RECORDS"):
        report, *_ = handlers.ingest([str(many)], False)
    assert "more than 3 records" in report and "NEWSDESK_MAX_RECORDS" in report
    assert desk.info()["version"] == version and desk.article("n0") is None


def test_an_upload_in_the_web_ui_stops_with_nothing_written_when_the_server_shuts_down(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    desk = small_archive(tmp_path, write_jsonl)
    version = desk.info()["version"]
    app = create_app(desk, ServerSettings(ui=True))
    with TestClient(app):  # runs the app's lifespan: its shutdown is what sets the event
        assert not app.state.stopping.is_set()
    assert app.state.stopping.is_set()
    handlers = _Handlers(desk, examples=2, max_files=3, stopping=app.state.stopping)
    more = write_jsonl("more.jsonl", [article("bridge", "The bridge reopened.", published_at="2024-01-01")])
    with pytest.warns(UserWarning, match="stopp"):
        handlers.ingest([str(more)], False)
    assert desk.info()["version"] == version and desk.article("bridge") is None
