"""Cleaning decides what text gets chunked and quoted back to users, so its rules are pinned here."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index import cleaning
from index.cleaning import clean_text, clean_title, is_boilerplate


def test_mojibake_is_repaired() -> None:
    assert clean_text("The cafÃ© reopened.") == "The café reopened."
    assert clean_text("itâ€™s here") == "it\u2019s here"


def test_line_endings_and_blank_lines_become_single_paragraph_breaks() -> None:
    raw = "First line\r\nsame paragraph\r\rSecond\n\n\n\n\nThird\n"
    assert clean_text(raw) == "First line\nsame paragraph\n\nSecond\n\nThird"


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_zero_width_characters_are_removed(invisible: str) -> None:
    assert clean_text(f"news{invisible}paper") == "newspaper"


def test_control_characters_are_removed_but_newlines_kept() -> None:
    assert clean_text("a\x00b\x07c\x1bd\nnext") == "abcd\nnext"


def test_spaces_tabs_and_no_break_spaces_collapse() -> None:
    assert clean_text("  10\u00a0000\t\t people \u202f here  \n   indented") == "10 000 people here\nindented"


def test_unicode_is_composed_to_nfc() -> None:
    assert clean_text("Cafe\u0301") == "Café"


def test_characters_are_composed_after_an_invisible_one_between_them_is_removed() -> None:
    assert clean_text("Cafe\u200b\u0301") == "Café"


def test_quotes_and_full_width_punctuation_are_kept_as_written() -> None:
    text = "\u201cQuoted,\u201d she said. 你好\uff0c世界。"
    assert clean_text(text) == text


def test_html_entities_in_plain_text_are_decoded() -> None:
    assert clean_text("AT&amp;T said") == "AT&T said"


@pytest.mark.parametrize(
    "line",
    [
        "Advertisement",
        "ADVERTISEMENT",
        "Story continues below advertisement",
        "Subscribe now for unlimited access",
        "Sign up for our newsletter",
        "Share this article",
        "Click here to read the full report",
        "Read more",
        "Read more »",
        "© 2021 Coastal Times. All rights reserved.",
        "Follow us on Twitter and Facebook",
        "Skip to content",
        "Skip to main content",
        "We use cookies to improve your experience.",
        "Cookie policy",
        "Image: Getty Images",
        "Photo: Reuters/Jane Doe",
        "Photograph: AP",
    ],
)
def test_boilerplate_lines_are_dropped(line: str) -> None:
    text = f"The council met on Monday.\n{line}\nIt approved the budget."
    assert clean_text(text) == "The council met on Monday.\nIt approved the budget."


@pytest.mark.parametrize(
    "line",
    [
        "Subscribers complained about the price rise.",
        "Cookies were sold at the fair to raise money.",
        "Read more books, the minister urged.",
        "The photo: a crowd outside the court.",
        "Clicking here and there, the mayor said nothing.",
        "The agreement says all rights reserved by the city will pass to the region once the "
        "new harbour authority is formed next spring.",
    ],
)
def test_reporting_that_resembles_boilerplate_is_kept(line: str) -> None:
    assert clean_text(line) == line
    assert not is_boilerplate(line)


def test_text_made_only_of_boilerplate_is_empty() -> None:
    assert clean_text("Advertisement\n\nShare this article\n\u200b\n") == ""


def test_title_is_one_line_with_repairs() -> None:
    assert clean_title("  Storm hits\n  the cafÃ©\u200b\t coast ") == "Storm hits the café coast"


def test_huge_texts_skip_ftfy_but_are_still_normalized(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cleaning, "FTFY_MAX_CHARS", 10)
    raw = "cafÃ© Cafe\u0301 zero\u200bwidth\r\nline"
    assert clean_text(raw) == "cafÃ© Café zerowidth\nline"


@given(st.text())
def test_clean_text_is_idempotent_and_never_raises(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    assert once == once.strip()
    assert "\r" not in once and "\n\n\n" not in once and "\u200b" not in once


@given(st.text())
def test_clean_title_is_one_idempotent_line(text: str) -> None:
    once = clean_title(text)
    assert clean_title(once) == once
    assert "\n" not in once
