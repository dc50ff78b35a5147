"""Loading: every supported format, the id and date rules, and every message a user can see."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
import trafilatura
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trafilatura.settings import Document

from index.dates import date_part, normalize_date
from index.errors import MissingPathError
from index.loaders import SUPPORTED_SUFFIXES, LoadResult, Skipped, html_to_text, load_paths
from index.records import stable_hash


def write_jsonl(path: Path, *records: Any) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def only_article(result: LoadResult) -> Any:
    assert not result.errors and not result.skipped, (result.errors, result.skipped)
    assert len(result.articles) == 1
    return result.articles[0]


def error_messages(result: LoadResult) -> list[str]:
    return [str(error) for error in result.errors]


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-09-30", "2015-09-30"),
        ("2015-09-30T10:00:00", "2015-09-30T10:00:00Z"),
        ("2015-09-30T10:00:00Z", "2015-09-30T10:00:00Z"),
        ("2015-09-30T00:30:00+02:00", "2015-09-29T22:30:00Z"),
        ("Wed, 30 Sep 2015 10:00:00 GMT", "2015-09-30T10:00:00Z"),
        ("Wed, 30 Sep 2015 10:00:00 +0200", "2015-09-30T08:00:00Z"),
        ("Wed, 30 Sep 2015 10:00:00 EST", "2015-09-30T15:00:00Z"),
        ("30 September 2015", "2015-09-30"),
        ("September 30, 2015", "2015-09-30"),
        ("2015/09/30", "2015-09-30"),
        (1443607200, "2015-09-30T10:00:00Z"),
        (1443607200.0, "2015-09-30T10:00:00Z"),
        (1443607200000, "2015-09-30T10:00:00Z"),
        ("1443607200", "2015-09-30T10:00:00Z"),
        (0, "1970-01-01T00:00:00Z"),
        (dt.date(2015, 9, 30), "2015-09-30"),
        (dt.datetime(2015, 9, 30, 10, 0), "2015-09-30T10:00:00Z"),
        (dt.datetime(2015, 9, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2015-09-30T10:00:00Z"),
        (time.gmtime(1443607200), "2015-09-30T10:00:00Z"),
        (None, None),
        ("", None),
        ("   ", None),
    ],
)
def test_normalize_date_hand_worked_cases(value: object, expected: str | None) -> None:
    assert normalize_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [True, [2015], {"y": 2015}, "yesterday", "September 2015", "2015", "10:00", "1799-12-31", "2201-01-01",
     "Wed, 30 Sep 2015 10:00:00 XYZ", float("nan"), 1e30, "30 Sept 2015 and more words"],
)  # fmt: skip
def test_normalize_date_refuses_what_is_not_clearly_a_date(value: object) -> None:
    with pytest.raises(ValueError, match=r"^date: cannot read .* as a date$"):
        normalize_date(value, field="date")


def test_date_error_truncates_long_values() -> None:
    with pytest.raises(ValueError) as caught:
        normalize_date("x" * 500)
    message = str(caught.value)
    assert message.startswith("published_at: cannot read 'xxx")
    assert len(message) < 100


def test_date_part() -> None:
    assert date_part("2015-09-30T10:00:00Z") == "2015-09-30"
    assert date_part("2015-09-30") == "2015-09-30"
    assert date_part(None) is None


# --- JSON Lines --------------------------------------------------------------------------------


def test_jsonl_fields_aliases_and_metadata(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "news.jsonl",
        {"id": 7, "title": "Bridge opens", "body": "The bridge opened.", "date": "2015-09-30",
         "outlet": "Gazette", "link": "https://g.example/b", "author": "Ann", "tags": ["x"]},
    )  # fmt: skip
    article = only_article(load_paths([path]))
    assert article.id == "7"
    assert article.title == "Bridge opens"
    assert article.text == "The bridge opened."
    assert article.published_at == "2015-09-30"
    assert article.source == "Gazette"
    assert article.url == "https://g.example/b"
    assert article.metadata == {"author": "Ann", "tags": ["x"]}
    assert article.origin == f"{path}:1"


def test_jsonl_blank_lines_are_ignored_and_origins_count_every_line(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.ndjson", {"id": "a", "text": "one"}, "", "   ", {"id": "b", "text": "two"}
    )
    result = load_paths([path])
    assert [a.origin for a in result.articles] == [f"{path}:1", f"{path}:4"]
    assert not result.errors and not result.skipped


def test_jsonl_missing_title_is_empty_not_an_error(tmp_path: Path) -> None:
    article = only_article(load_paths([write_jsonl(tmp_path / "a.jsonl", {"text": "Body.", "title": None})]))
    assert article.title == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "a",', "invalid JSON: Expecting property name enclosed in double quotes (column 14)"),
        ("not json", "invalid JSON: Expecting value (column 1)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got string"),
        ('{"text": 5}', "field 'text' must be a string, got int"),
        ('{"content": ["a"]}', "field 'content' must be a string, got list"),
        ('{"text": null}', "field 'text' must be a string, got null"),
        ('{"title": "t"}', "missing field 'text' (or 'content'/'body')"),
        ('{"text": "a", "title": 3}', "field 'title' must be a string or null, got int"),
        ('{"text": "a", "outlet": {}}', "field 'outlet' must be a string or null, got object"),
        ('{"text": "a", "url": false}', "field 'url' must be a string or null, got bool"),
        ('{"text": "a", "id": 1.5}', "field 'id' must be a string or integer, got float"),
        ('{"text": "a", "id": true}', "field 'id' must be a string or integer, got bool"),
        ('{"text": "a", "date": "soon"}', "date: cannot read 'soon' as a date"),
        ('{"text": "a", "published_at": [2015]}', "published_at: cannot read [2015] as a date"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", {"id": "ok", "text": "fine"}, line, {"id": "ok2", "text": "x"})
    result = load_paths([path])
    assert error_messages(result) == [f"{path}:2: {message}"]
    assert result.errors[0].origin == f"{path}:2"
    assert [a.id for a in result.articles] == ["ok", "ok2"], "loading continues after a bad line"


def test_jsonl_line_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    result = load_paths([path])
    assert error_messages(result) == [f"{path}:2: not valid UTF-8 (byte 0xe9 at column 14)"]
    assert len(result.articles) == 1


def test_gzipped_jsonl_is_read(tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write(json.dumps({"id": "g1", "text": "Zipped."}) + "\nnot json\n")
    result = load_paths([path])
    assert [a.text for a in result.articles] == ["Zipped."]
    assert error_messages(result) == [f"{path}:2: invalid JSON: Expecting value (column 1)"]


def test_bad_gzip_is_one_error_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.ndjson.gz"
    path.write_bytes(b"this is not gzip data\n" * 10)
    result = load_paths([path])
    assert len(result.errors) == 1
    assert result.errors[0].origin == str(path)
    assert "not a valid gzip file" in str(result.errors[0])


def test_truncated_gzip_keeps_what_was_read_and_reports_the_file(tmp_path: Path) -> None:
    lines = "".join(json.dumps({"id": str(i), "text": f"Article {i} " * 20}) + "\n" for i in range(500))
    data = gzip.compress(lines.encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    result = load_paths([path])
    assert 0 < len(result.articles) < 500
    assert [e.origin for e in result.errors] == [str(path)]


# --- JSON --------------------------------------------------------------------------------------


def test_json_list_of_articles(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(
        json.dumps([{"id": "a", "text": "One."}, 5, {"id": "b", "text": "Two."}]), encoding="utf-8"
    )
    result = load_paths([path])
    assert [(a.id, a.origin) for a in result.articles] == [("a", f"{path}#item1"), ("b", f"{path}#item3")]
    assert error_messages(result) == [f"{path}#item2: expected a JSON object, got int"]


def test_json_lines_saved_as_json_are_read_line_by_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dump.json", {"text": "One."}, {"text": "Two."})
    result = load_paths([path])
    assert [a.origin for a in result.articles] == [f"{path}:1", f"{path}:2"]


def test_invalid_json_file_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": }\n]', encoding="utf-8")
    assert error_messages(load_paths([path])) == [f"{path}:3: invalid JSON: Expecting value (column 12)"]


# --- ids and duplicates ------------------------------------------------------------------------


def test_id_falls_back_to_url_hash_then_text_hash(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl", {"text": "By url.", "url": "https://x.example/1"}, {"text": "By text."}
    )
    by_url, by_text = load_paths([path]).articles
    assert by_url.id == stable_hash("https://x.example/1")
    assert by_text.id == stable_hash("By text.")


def test_reloading_gives_the_same_ids(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", {"text": "Same text."}, {"text": "Other", "url": "https://u"})
    assert [a.id for a in load_paths([path]).articles] == [a.id for a in load_paths([path]).articles]


def test_duplicate_ids_are_skipped_naming_the_first(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", {"id": "x", "text": "First."})
    second = write_jsonl(tmp_path / "b.jsonl", {"text": "Filler."}, {"id": "x", "text": "Second."})
    result = load_paths([first, second])
    assert [a.text for a in result.articles] == ["First.", "Filler."]
    assert result.skipped == [Skipped(f"{second}:2", f"duplicate id 'x' (first seen at {first}:1)")]


def test_same_text_without_ids_is_a_duplicate(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", {"text": "Copy."}, {"text": "Copy.\n"})
    result = load_paths([path])
    assert len(result.articles) == 1
    assert result.skipped[0].reason.startswith("duplicate id")


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", {"id": "x", "text": "Once."})
    result = load_paths([path, tmp_path, str(path)])
    assert len(result.articles) == 1 and not result.skipped


def test_empty_article_is_skipped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", {"id": "e", "title": "Headline only", "text": " \n\u200b "})
    result = load_paths([path])
    assert result.articles == []
    assert result.skipped == [Skipped(f"{path}:1", "empty text")]


def test_articles_are_cleaned(tmp_path: Path) -> None:
    record = {
        "title": "The\ncafÃ©",
        "text": "Body\u200b text.\r\n\r\n\r\nAdvertisement\r\nMore.",
        "source": " X ",
    }
    article = only_article(load_paths([write_jsonl(tmp_path / "a.jsonl", record)]))
    assert (article.title, article.text, article.source) == ("The café", "Body text.\n\nMore.", "X")


# --- text and Markdown -------------------------------------------------------------------------


def test_txt_first_line_is_the_title(tmp_path: Path) -> None:
    path = tmp_path / "storm-report.txt"
    path.write_text("\n\n  Storm hits coast  \nWinds reached 100 km/h.\n\nPower was cut.\n", encoding="utf-8")
    article = only_article(load_paths([path]))
    assert (article.id, article.title, article.text) == (
        "storm-report",
        "Storm hits coast",
        "Winds reached 100 km/h.\n\nPower was cut.",
    )
    assert article.origin == str(path)


def test_txt_whose_first_line_is_a_paragraph_has_no_title(tmp_path: Path) -> None:
    paragraph = "The council met on Monday and " + "talked at length about the budget " * 8
    path = tmp_path / "note.txt"
    path.write_text(paragraph + "\nSecond line.", encoding="utf-8")
    article = only_article(load_paths([path]))
    assert article.title == ""
    assert article.text.startswith("The council met")


def test_txt_with_only_a_title_is_skipped_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Just a headline\n", encoding="utf-8")
    assert load_paths([path]).skipped == [Skipped(str(path), "empty text")]


def test_cp1252_text_is_decoded_with_a_warning(tmp_path: Path) -> None:
    text = (
        "Café society\n\nThe café reopened on Monday. Its owner said the crème brûlée would "
        "return to the menu “soon”, and the price stays at €4."
    )
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode("cp1252"))
    result = load_paths([path])
    article = result.articles[0]
    assert article.title == "Café society"
    assert article.text == text.split("\n\n", 1)[1]
    assert result.warnings == [f"{path}: not valid UTF-8; decoded as cp1252"]


def test_utf8_bom_and_utf16_are_decoded_without_warnings(tmp_path: Path) -> None:
    (tmp_path / "bom.txt").write_bytes("\ufeffTítulo\nCuerpo.".encode())
    (tmp_path / "wide.txt").write_bytes("Título\nCuerpo ancho.".encode("utf-16"))
    result = load_paths([tmp_path])
    assert [(a.title, a.text) for a in result.articles] == [
        ("Título", "Cuerpo."),
        ("Título", "Cuerpo ancho."),
    ]
    assert result.warnings == []


def test_markdown_front_matter_and_light_syntax(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text(
        '---\ntitle: "Vote: council says yes"\ndate: 2020-01-02\nsource: Town Crier\n'
        "url: https://t.example/vote\nid: vote-42\nauthor: Jo\n---\n"
        "# Vote: council says yes\n\nThe **council** voted [yes](https://t.example) today.\n"
        "![chart](chart.png)\n\n## Reaction\n\n__Critics__ were *unhappy*.\n",
        encoding="utf-8",
    )
    article = only_article(load_paths([path]))
    assert article.id == "vote-42"
    assert article.title == "Vote: council says yes"
    assert article.published_at == "2020-01-02"
    assert article.source == "Town Crier"
    assert article.url == "https://t.example/vote"
    assert article.metadata == {"author": "Jo"}
    assert article.text == "The council voted yes today.\n\nReaction\n\nCritics were unhappy."


def test_markdown_without_front_matter_uses_heading_and_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "x.md"
    path.write_text("# Harbour *reopens*\n\nBoats are back.\n", encoding="utf-8")
    article = only_article(load_paths([path]))
    assert (article.id, article.title, article.text) == ("x", "Harbour reopens", "Boats are back.")


def test_markdown_front_matter_with_bad_date_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.markdown"
    path.write_text("---\ndate: someday\n---\nTitle\n\nBody.\n", encoding="utf-8")
    result = load_paths([path])
    assert error_messages(result) == [f"{path}: date: cannot read 'someday' as a date"]
    assert result.articles == []


# --- HTML --------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head>
<title>Harbour reopens after storm | Coastal Times</title>
<meta property="og:site_name" content="Coastal Times">
<meta property="article:published_time" content="{published}">
<link rel="canonical" href="https://coastal.example/news/harbour">
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport Section</a></nav>
<article><h1>Harbour reopens after storm</h1>
<p>The harbour reopened on Thursday after three days of repairs to the sea wall, officials said.</p>
<p>Fishing boats returned to their moorings by noon, and the ferry resumed its timetable.</p>
<p>The council estimated the damage at two million euros and said a review would follow.</p>
</article>
<footer>© 2021 Coastal Times. All rights reserved.</footer>
</body></html>
"""


def test_html_page_main_text_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "harbour.html"
    path.write_text(PAGE.format(published="2021-03-04T08:30:00+01:00"), encoding="utf-8")
    article = only_article(load_paths([path]))
    assert article.id == "harbour"
    assert article.title == "Harbour reopens after storm"
    assert article.published_at == "2021-03-04T07:30:00Z"
    assert article.url == "https://coastal.example/news/harbour"
    assert article.source == "Coastal Times"
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) == 3
    assert paragraphs[0].startswith("The harbour reopened on Thursday")
    assert "Sport Section" not in article.text and "rights reserved" not in article.text


def test_html_keeps_dates_before_1995_and_day_only_dates(tmp_path: Path) -> None:
    (tmp_path / "old.htm").write_text(PAGE.format(published="1985-03-04T08:30:00+00:00"), encoding="utf-8")
    (tmp_path / "day.htm").write_text(PAGE.format(published="2021-03-04"), encoding="utf-8")
    dates = {a.id: a.published_at for a in load_paths([tmp_path]).articles}
    assert dates == {"old": "1985-03-04T08:30:00Z", "day": "2021-03-04"}


def test_html_declared_charset_is_used_without_warning(tmp_path: Path) -> None:
    page = PAGE.format(published="2021-03-04").replace("<head>", '<head><meta charset="windows-1252">')
    page = page.replace("officials said", "le propriétaire du café a dit")
    path = tmp_path / "cp.html"
    path.write_bytes(page.encode("cp1252"))
    result = load_paths([path])
    assert "le propriétaire du café a dit" in result.articles[0].text
    assert result.warnings == []


def test_html_unreadable_date_is_dropped_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # htmldate validates the dates it finds, so a bad one is simulated at its boundary.
    document = Document()
    document.title, document.text, document.date = "Headline", "Body text.", "the 45th of May"
    document.sitename = document.url = document.hostname = document.author = None
    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *args, **kwargs: document)
    path = tmp_path / "p.html"
    path.write_text("<html></html>", encoding="utf-8")
    result = load_paths([path])
    assert result.articles[0].published_at is None
    assert result.warnings == [f"{path}: published_at: cannot read 'the 45th of May' as a date; date dropped"]


def test_html_without_main_text_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><head><title>Nothing</title></head><body></body></html>", encoding="utf-8")
    assert load_paths([path]).skipped == [Skipped(str(path), "empty text")]


# --- RSS and Atom ------------------------------------------------------------------------------

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Valley Gazette</title><link>https://gazette.example</link>
<item><title>Bridge opens</title><link>https://gazette.example/bridge</link><guid>g-1</guid>
<pubDate>Wed, 30 Sep 2015 10:00:00 +0200</pubDate><author>ann@gazette.example (Ann)</author>
<description>&lt;p&gt;The new bridge opened.&lt;/p&gt;&lt;p&gt;Traffic &amp;amp; trade
flowed.&lt;/p&gt;</description></item>
<item><title>No guid</title><link>https://gazette.example/x</link>
<description>Plain text.</description></item>
<item><title>Nothing but text</title><description>Only words here.</description></item>
<item><title>Ancient</title><guid>g-old</guid><pubDate>Fri, 01 Jan 1700 00:00:00 GMT</pubDate>
<description>Old news.</description></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title><id>urn:feed</id>
<updated>2020-01-02T03:04:05Z</updated>
<entry><title>Entry one</title><id>urn:e1</id><link href="https://atom.example/e1"/>
<updated>2020-01-02T05:04:05+02:00</updated><summary>Short summary.</summary>
<content type="html">&lt;h2&gt;Lead&lt;/h2&gt;&lt;p&gt;First para.&lt;br&gt;Same para.&lt;/p&gt;
&lt;p&gt;Second.&lt;/p&gt;</content>
</entry></feed>
"""


def test_rss_entries(tmp_path: Path) -> None:
    path = tmp_path / "gazette.rss"
    path.write_text(RSS, encoding="utf-8")
    result = load_paths([path])
    bridge, no_guid, text_only, ancient = result.articles
    assert bridge.id == "g-1"
    assert bridge.title == "Bridge opens"
    assert bridge.text == "The new bridge opened.\n\nTraffic & trade flowed."
    assert bridge.published_at == "2015-09-30T08:00:00Z"
    assert bridge.source == "Valley Gazette"
    assert bridge.url == "https://gazette.example/bridge"
    assert bridge.origin == f"{path}#entry1"
    assert no_guid.id == stable_hash("https://gazette.example/x")
    assert text_only.id == stable_hash("Only words here.")
    assert (ancient.id, ancient.published_at) == ("g-old", None)
    assert result.warnings == [
        f"{path}#entry4: published_at: cannot read '1700-01-01 00:00:00 UTC' as a date; date dropped"
    ]


def test_atom_entry_uses_content_and_updated(tmp_path: Path) -> None:
    path = tmp_path / "news.atom"
    path.write_text(ATOM, encoding="utf-8")
    article = only_article(load_paths([path]))
    assert article.id == "urn:e1"
    assert article.text == "Lead\n\nFirst para.\nSame para.\n\nSecond."
    assert article.published_at == "2020-01-02T03:04:05Z"
    assert (article.source, article.url) == ("Atom News", "https://atom.example/e1")


@pytest.mark.parametrize("suffix", [".xml", ".feed"])
def test_feed_with_other_suffixes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"feed{suffix}"
    path.write_text(ATOM, encoding="utf-8")
    assert load_paths([path]).articles[0].id == "urn:e1"


@pytest.mark.parametrize(
    "content", ['<?xml version="1.0"?><config><a>1</a></config>', "hello, not xml at all", "<rss><oops"]
)
def test_xml_that_is_not_a_feed_is_refused_when_named_and_skipped_in_a_folder(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "data.xml"
    path.write_text(content, encoding="utf-8")
    named = load_paths([path])
    assert (error_messages(named), named.skipped) == ([f"{path}: not an RSS/Atom feed"], [])
    assert load_paths([tmp_path]).skipped == [Skipped(str(path), "not an RSS/Atom feed")]


def test_feed_without_entries_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "empty.rss"
    path.write_text('<rss version="2.0"><channel><title>Quiet</title></channel></rss>', encoding="utf-8")
    assert load_paths([path]).skipped == [Skipped(str(path), "feed has no entries")]


def test_feed_file_content_is_never_taken_for_a_path_or_url(tmp_path: Path) -> None:
    real_feed = tmp_path / "real.rss"
    real_feed.write_text(RSS, encoding="utf-8")
    pointer = tmp_path / "pointer.xml"
    pointer.write_text(str(real_feed), encoding="utf-8")
    assert error_messages(load_paths([pointer])) == [f"{pointer}: not an RSS/Atom feed"]


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    markup = "<div><p>One\n  two</p><script>var x = 1;</script><ul><li>A</li><li>B</li></ul></div>"
    text = html_to_text(markup)
    assert [part.strip() for part in text.split("\n\n") if part.strip()] == ["One two", "A", "B"]
    assert html_to_text("Fish &amp; chips") == "Fish & chips"


# --- files, directories, limits ----------------------------------------------------------------


def test_missing_path_raises_before_reading_anything(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "a.jsonl", {"text": "x"})
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(MissingPathError, match=f"^{missing}: no such file or directory$"):
        load_paths([good, missing])


def test_binary_and_unsupported_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"Title\x00\x01\x02 body")
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "x"}\x00\n')
    (tmp_path / "c.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "d.pdf").write_text("%PDF-1.4 text only", encoding="utf-8")
    (tmp_path / "README").write_text("no suffix", encoding="utf-8")
    skipped = {Path(s.origin).name: s.reason for s in load_paths([tmp_path]).skipped}
    assert skipped == {
        "a.txt": "binary file",
        "b.jsonl": "binary file",
        "c.bin": "binary file",
        "d.pdf": "unsupported file type '.pdf'",
        "README": "unsupported file type (no suffix)",
    }


def test_directories_are_walked_sorted_and_hidden_entries_skipped(tmp_path: Path) -> None:
    for relative in ["b/2.txt", "b/1.txt", "a.txt", "c/d/3.md", ".git/x.txt", "b/.draft.txt"]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Title {relative}\nBody of {relative}.", encoding="utf-8")
    result = load_paths([tmp_path])
    assert [Path(a.origin).relative_to(tmp_path).as_posix() for a in result.articles] == [
        "a.txt",
        "b/1.txt",
        "b/2.txt",
        "c/d/3.md",
    ]
    assert not result.skipped


def test_limit_stops_after_that_many_articles(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", *({"text": f"Article {i}."} for i in range(5)))
    write_jsonl(tmp_path / "b.jsonl", {"text": "Later."})
    assert [a.text for a in load_paths([tmp_path], limit=3).articles] == [
        "Article 0.",
        "Article 1.",
        "Article 2.",
    ]
    assert load_paths([tmp_path], limit=0).articles == []
    assert len(load_paths([tmp_path], limit=100).articles) == 6
    with pytest.raises(ValueError, match="limit must be >= 0, got -1"):
        load_paths([tmp_path], limit=-1)


def test_supported_suffixes_cover_every_format() -> None:
    expected = {".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".json", ".txt", ".md", ".markdown",
                ".html", ".htm", ".rss", ".atom", ".xml", ".feed"}  # fmt: skip
    assert set(SUPPORTED_SUFFIXES) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_random_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(data)
    result = load_paths([path])
    origins = [a.origin for a in result.articles] + [s.origin for s in result.skipped]
    origins += [e.origin for e in result.errors]
    assert all(origin.startswith(str(path)) for origin in origins)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".txt", ".md", ".html", ".xml", ".json"]))
def test_random_bytes_in_other_formats_never_raise(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"y{suffix}"
    path.write_bytes(data)
    assert isinstance(load_paths([path]), LoadResult)


def test_a_field_name_holding_an_unpaired_surrogate_is_refused_naming_it(tmp_path: Path) -> None:
    """A JSON "\\ud800" escape in a key would otherwise load and then fail to be stored as UTF-8."""
    path = tmp_path / "news.jsonl"
    path.write_text('{"id": "a", "text": "Fine."}\n{"text": "!", "\\ud800": ""}\n', encoding="utf-8")
    result = load_paths([path])
    assert [a.id for a in result.articles] == ["a"]
    assert [str(e) for e in result.errors] == [
        f"{path}:2: the field name '\\ud800' contains an unpaired surrogate '\\ud800', "
        "which is not a character"
    ]
