"""The web UI in a real browser: Debian chromium driven by Playwright, the demo index, the real model.

The whole server (`create_app`, UI mounted at /) runs in a background thread on 127.0.0.1;
every request the page makes to anywhere else is recorded and fails the test.
Screenshots land in test-artifacts/browser/ for a person to look at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rag.service import Newsdesk
from tests.servers import serving
from tests.test_generators import ScriptedModel

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,  # the demo index is built with the real bundled model
    # gradio's queue calls pandas options that pandas 3 deprecates; not ours to fix
    pytest.mark.filterwarnings("ignore:::gradio.queueing"),
]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
ANSWER_TIMEOUT_MS = 60_000
ACTION_TIMEOUT_MS = 30_000

LIBRARY = {
    "id": "brindleford-library",
    "title": "Brindleford library reopens after flood",
    "text": (
        "The Brindleford public library reopened on 3 May 2024, eleven months after a flood from the "
        "river Wend destroyed its ground floor. About 2,000 books had to be replaced, the town council "
        "said. Volunteers helped reshelve the collection."
    ),
    "published_at": "2024-05-03",
    "source": "Brindleford Gazette",
    "url": "https://gazette.example/brindleford-library",
}
PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
FESTIVAL = {
    "id": "quillmere-festival",
    "title": "Quillmere festival draws <b>record</b> crowd",
    "text": (
        f"The Quillmere harbour festival drew 4,000 visitors on 12 June 2025 {PAYLOAD} according to "
        "the organisers. The festival will return next summer with a larger market."
    ),
    "published_at": "2025-06-12",
    "source": "Quillmere <i>Echo</i>",
    "url": "javascript:window.__pwned=3",
}


@contextmanager
def _served(desk: Newsdesk) -> Iterator[str]:
    """The whole server (APIs and web UI) for `desk` on a free loopback port, in a thread."""
    from newsdesk_app.server.app import create_app
    from newsdesk_app.server.settings import ServerSettings

    with serving(create_app(desk, ServerSettings(), load_now=True)) as url:
        yield url


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from newsdesk_app.cli.main import build_demo

    index = tmp_path_factory.mktemp("browser") / "index"
    build_demo(index).close()
    return index


@pytest.fixture(scope="module")
def base_url(demo_index: Path) -> Iterator[str]:
    desk = Newsdesk(demo_index)
    with _served(desk) as url:
        yield url
    desk.close()


@pytest.fixture(scope="module")
def held_model() -> ScriptedModel:
    """A language model that writes a draft and stops after "Russian jets " until it is released."""
    reply = (
        "Short answer: Hama, Homs and Latakia\n"
        "Russian jets struck positions in the provinces of Hama, Homs and Latakia. [1] "
        "Nobody was hurt in Peru. [2]"
    )
    return ScriptedModel(reply, hold_after=8)  # the short answer line is 6 pieces, held back


@pytest.fixture(scope="module")
def model_url(demo_index: Path, held_model: ScriptedModel) -> Iterator[str]:
    desk = Newsdesk(demo_index, generator=held_model)
    with _served(desk) as url:
        yield url
    desk.close()


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@contextmanager
def _opened(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh page on the UI; fails the test if it requested anything but the test server."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    opened = context.new_page()
    outside: list[str] = []

    def record(request: Any) -> None:
        url: str = request.url
        if not url.startswith((base_url, "data:", "blob:")):
            outside.append(url)

    opened.on("request", record)
    opened.goto(base_url + "/")
    opened.wait_for_selector("#nd-question textarea")
    yield opened
    context.close()
    assert outside == [], f"the page requested external URLs: {outside}"


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    with _opened(browser, base_url) as opened:
        yield opened


def _shot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def _ask(page: Page, question: str, expected: str) -> None:
    """Ask and wait until the last answer, streamed in, contains `expected`."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Ask").click()
    page.fill("#nd-question textarea", question)
    page.press("#nd-question textarea", "Enter")
    answers = page.locator('#nd-chat [data-testid="bot"]')
    expect(answers.last).to_contain_text(expected, timeout=ANSWER_TIMEOUT_MS)
    expect(answers.last).to_have_text(re.compile(r"\[\d+\]\s*$"))  # streamed to the last citation


def _listed(name: str) -> re.Pattern[str]:
    """A file name as gradio's file list shows it: stem and suffix in two spans, at times apart."""
    stem, dot, suffix = name.partition(".")
    return re.compile(rf"{re.escape(stem)}\s*{re.escape(dot + suffix)}")


def _upload(page: Page, path: Path) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Archive").click()
    page.set_input_files("#nd-upload input[type=file]", str(path))
    expect(page.locator("#nd-upload")).to_contain_text(_listed(path.name))
    page.click("#nd-add")
    expect(page.locator("#nd-report")).to_contain_text("Added 1", timeout=ANSWER_TIMEOUT_MS)


def test_the_page_loads_nothing_from_outside_and_its_examples_ask(page: Page) -> None:
    from playwright.sync_api import expect

    page.wait_for_load_state("load")  # not "networkidle": gradio keeps a heartbeat connection open
    example = page.locator(".nd-example").first
    expect(example).to_contain_text("What was reported about")
    _shot(page, "0-start")
    example.click()  # asks it
    expect(page.locator('#nd-chat [data-testid="bot"]')).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#nd-sources .nd-card").first).to_be_visible()
    page.get_by_role("tab", name="Archive").click()
    expect(page.locator("#nd-stats")).to_contain_text("Northern Wire")
    _shot(page, "0-archive")


WATCH_ANSWER = """() => {
    window.__answers = new Set();
    new MutationObserver(() => {
        const bots = document.querySelectorAll('#nd-chat [data-testid="bot"]');
        if (bots.length) window.__answers.add(bots[bots.length - 1].textContent);
    }).observe(document.querySelector("#nd-chat"), {subtree: true, childList: true, characterData: true});
}"""


def test_an_answer_streams_in_with_its_highlighted_source(page: Page) -> None:
    from playwright.sync_api import expect

    page.evaluate(WATCH_ANSWER)
    _ask(page, "Which provinces were struck?", "Hama, Homs and Latakia")
    assert page.evaluate("window.__answers.size") > 5  # the words arrived one after another
    mark = page.locator("#nd-sources mark")
    expect(mark.first).to_contain_text("Hama, Homs and Latakia")
    expect(page.locator("#nd-sources .nd-card").first).to_contain_text("Northern Wire")
    link = page.locator("#nd-sources .nd-card a").first
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    _shot(page, "1-answer")


def test_a_models_draft_shows_while_it_writes_then_the_checked_answer_takes_its_place(
    browser: Browser, model_url: str, held_model: ScriptedModel
) -> None:
    from playwright.sync_api import expect

    with _opened(browser, model_url) as page:
        page.fill("#nd-question textarea", "Which provinces were struck?")
        page.press("#nd-question textarea", "Enter")
        answer = page.locator('#nd-chat [data-testid="bot"]').last
        expect(answer).to_have_text(re.compile(r"^\s*Russian jets\s*$"))  # the model is still writing
        expect(page.locator("#nd-sources")).to_contain_text("checked against them")
        _shot(page, "8-model-draft")
        held_model.release.set()
        expect(answer.locator("strong")).to_have_text("Hama, Homs and Latakia", timeout=ANSWER_TIMEOUT_MS)
        expect(answer).to_contain_text(
            "Russian jets struck positions in the provinces of Hama, Homs and Latakia."
        )
        expect(answer).not_to_contain_text("Lima")  # no passage supports it: the verifier dropped it
        expect(page.locator("#nd-sources mark").first).to_contain_text("Hama, Homs and Latakia")
        _shot(page, "8-model-checked")


def test_a_follow_up_is_answered_in_context_and_shows_the_standalone_question(page: Page) -> None:
    from playwright.sync_api import expect

    _ask(page, "Which provinces were struck?", "Hama, Homs and Latakia")
    _ask(page, "Who approved it?", "Federation Council")
    expect(page.locator("#nd-sources .nd-query")).to_contain_text("Read as: Who approved the strikes?")
    _shot(page, "2-follow-up")
    page.click("#nd-clear")  # a new conversation: no history, no rewritten query
    expect(page.locator('#nd-chat [data-testid="bot"]')).to_have_count(0)
    expect(page.locator("#nd-sources")).to_contain_text("Ask a question")
    _ask(page, "Which provinces were struck?", "Hama, Homs and Latakia")
    expect(page.locator('#nd-chat [data-testid="bot"]')).to_have_count(1)  # the history was dropped too


def test_an_uploaded_article_can_be_asked_about(page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    upload = tmp_path / "brindleford.jsonl"
    upload.write_text(json.dumps(LIBRARY) + "\n", encoding="utf-8")
    _upload(page, upload)
    expect(page.locator("#nd-stats")).to_contain_text("Brindleford Gazette")
    _shot(page, "3-upload")
    _ask(page, "When did the Brindleford library reopen?", "3 May 2024")
    card = page.locator("#nd-sources .nd-card").first
    expect(card).to_contain_text("Brindleford library reopens after flood")
    expect(card.locator("mark")).to_contain_text("reopened on 3 May 2024")
    _shot(page, "3-upload-answer")


def test_markup_inside_an_article_shows_literally_and_never_runs(page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    upload = tmp_path / "quillmere.jsonl"
    upload.write_text(json.dumps(FESTIVAL) + "\n", encoding="utf-8")
    _upload(page, upload)
    page.reload()  # the example questions now include the new title: render the page from scratch
    page.wait_for_selector("#nd-question textarea")
    _ask(page, "How many visitors did the Quillmere harbour festival draw?", "4,000 visitors")
    sources = page.locator("#nd-sources")
    expect(sources.locator("mark")).to_contain_text(PAYLOAD)
    expect(sources).to_contain_text("Quillmere festival draws <b>record</b> crowd")
    expect(sources).to_contain_text("Quillmere <i>Echo</i>")
    expect(page.locator('#nd-chat [data-testid="bot"]').last).to_contain_text(PAYLOAD)
    expect(page.locator("#nd-examples")).to_contain_text("<b>record</b>")
    assert page.locator("#nd-sources a").count() == 0  # a javascript: url is not a link
    for where in ("#nd-sources", "#nd-chat", "#nd-examples"):
        assert page.locator(f"{where} img, {where} script, {where} b, {where} i").count() == 0
    page.locator("#nd-sources mark").click()
    assert page.evaluate("window.__pwned") is None
    _shot(page, "4-markup")


def test_a_bad_date_filter_shows_a_message_not_a_traceback(page: Page) -> None:
    from playwright.sync_api import expect

    page.get_by_text("Filters").click()
    page.fill("#nd-since textarea, #nd-since input", "2015-13-45")
    page.fill("#nd-question textarea", "Which provinces were struck?")
    page.click("#nd-ask")
    expect(page.locator('[data-testid="toast-body"]').first).to_contain_text("2015-13-45")
    expect(page.locator("#nd-sources")).to_contain_text("'2015-13-45' is not a date")
    assert "Traceback" not in page.inner_text("body")
    assert page.locator('#nd-chat [data-testid="bot"]').count() == 0
    page.wait_for_timeout(800)  # the toast fades in
    _shot(page, "5-bad-date", full_page=False)  # the toast is fixed to the viewport


def test_an_unreadable_upload_says_which_record_and_why(page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    upload = tmp_path / "broken.jsonl"
    upload.write_text(json.dumps({**LIBRARY, "id": "broken", "text": 5}) + "\n{not json\n", encoding="utf-8")
    page.get_by_role("tab", name="Archive").click()
    page.set_input_files("#nd-upload input[type=file]", str(upload))
    expect(page.locator("#nd-upload")).to_contain_text(_listed(upload.name))
    page.click("#nd-add")
    report = page.locator("#nd-report")
    expect(report).to_contain_text("2 record(s) could not be read; nothing was written")
    expect(report).to_contain_text("broken.jsonl:1: field 'text' must be a string")
    expect(report).to_contain_text("broken.jsonl:2: invalid JSON")
    assert "Traceback" not in page.inner_text("body") and "/tmp/gradio" not in report.inner_text()
    _shot(page, "6-bad-upload")


WATCH_PROGRESS = """() => {
    window.__progress = new Set();
    new MutationObserver(() => {
        const bar = document.querySelector("#nd-eval-report .progress-text, #nd-eval-report .meta-text");
        if (bar) window.__progress.add(bar.textContent.trim());
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_the_demo_gold_set_is_evaluated_with_a_progress_bar_and_its_report_shows(page: Page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_label("Demo gold set").check()
    page.fill("#nd-eval-limit input", "5")
    page.evaluate(WATCH_PROGRESS)
    page.click("#nd-eval-run")
    report = page.frame_locator("#nd-eval-report iframe")
    expect(report.get_by_role("cell", name="hit@1", exact=True)).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(report.locator(".summary")).to_contain_text("5 questions · k=5 · hybrid retrieval")
    expect(report.get_by_role("cell", name="demo-05", exact=True)).to_be_visible()
    expect(page.locator("#nd-eval-report iframe")).to_have_attribute("sandbox", "")
    files = page.locator("#nd-eval-files")
    for name in ("report.html", "report.md", "report.json"):
        expect(files).to_contain_text(_listed(name))
    seen = page.evaluate("[...window.__progress]")
    assert any(re.match(r"[1-5]/5 questions", text) for text in seen), seen  # the bar counted questions
    _shot(page, "7-evaluation")
    questions = report.locator("table.questions")
    questions.scroll_into_view_if_needed()
    expect(questions.locator("tbody tr")).to_have_count(5)
    _shot(page, "7-evaluation-questions")
