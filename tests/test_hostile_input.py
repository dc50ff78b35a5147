"""Hostile input: every format the loaders read, and the API's records, loaded or refused by name.

Whatever arrives (fields of the wrong type, impossible dates, JSON nested 10,000 deep, lines of
megabytes, invisible and right-to-left characters, unpaired surrogates, random bytes, a 10 MB
article), a load answers with articles, skips and errors that name the file and line (or the
record) and the field, never with an exception; and an ingest either writes a complete new
version or leaves the previous one exactly as it was.
"""

from __future__ import annotations

import gzip
import html
import json
import os
import random
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from index.archive import IndexDirectory
from index.cleaning import clean_text, clean_title
from index.embedding import HashingEmbedder
from index.ingest import IngestAborted, IngestOptions
from index.loaders import (
    MAX_FIELD_DEPTH,
    SUPPORTED_SUFFIXES,
    LoadResult,
    Skipped,
    load_paths,
    load_records,
)
from index.records import Article, safe_id
from rag.service import Newsdesk
from tests.conftest import article

FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"  # removed by the cleaner
BIDI = "\u202a\u202b\u202c\u202d\u202e\u200e\u200f\u2066\u2067\u2068\u2069\u061c"  # kept: they carry meaning
RTL_WORDS = ("שלום", "עיתון", "مرحبا", "صحيفة", "الأخبار")
AWKWARD = ZERO_WIDTH + BIDI + "\x00\x07\x1b\x7f\x85\xa0\t\r\n \u2028\u2029\ufffd\U0001f600"


def hostile_texts(awkward: str) -> st.SearchStrategy[str]:
    characters = st.characters(codec="utf-8", exclude_characters="\x00") | st.sampled_from(awkward)
    return st.lists(st.sampled_from(RTL_WORDS) | st.text(characters, max_size=10), max_size=6).map(" ".join)


hostile_text = hostile_texts(AWKWARD)  # JSON carries a NUL as "\u0000"
file_text = hostile_texts(AWKWARD.replace("\x00", ""))  # a NUL makes a text file binary: tested apart
one_line = file_text.map(lambda text: re.sub(r"[\r\n]", " ", text))
# An unpaired surrogate, as a JSON "\ud800" escape (a UTF-16 string cut in half) delivers it.
broken_text = st.tuples(hostile_text, st.integers(0xD800, 0xDFFF).map(chr), hostile_text).map("".join)
# What an id may not hold (index.records.id_problem): controls, format characters, U+2028/U+2029;
# between two letters, so that stripping the id cannot remove it.
NOT_IN_IDS = "\x00\x07\x1b\x7f\x85\t\n\u200b\u200d\u202e\u2066\u061c\ufeff\u2028\u2029"
unsafe_id = st.builds("{}x{}x{}".format, hostile_text, st.sampled_from(NOT_IN_IDS), hostile_text)


def json_values(strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | strings
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
        max_leaves=6,
    )


containers = st.lists(json_values(hostile_text), max_size=3) | st.dictionaries(
    hostile_text, json_values(hostile_text), max_size=3
)
not_a_string = st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | containers


def nested(depth: int, shape: str) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if shape == "list" else {"a": value}
    return value


too_deep = st.builds(
    nested, st.integers(MAX_FIELD_DEPTH + 1, 3 * MAX_FIELD_DEPTH), st.sampled_from(["list", "dict"])
)
with_broken_text = (
    broken_text
    | st.lists(broken_text, min_size=1, max_size=2)
    | st.dictionaries(broken_text, st.integers(), min_size=1, max_size=2)
    | st.dictionaries(hostile_text, broken_text, min_size=1, max_size=2)
)

BAD_DATE_STRINGS = (
    "yesterday", "September 2015", "2015", "10:00", "soon", "30 Sept 2015 and more words", "2015-02-30",
    "Wed, 30 Sep 2015 10:00:00 XYZ", "[2015, 9, 30]", "{y: 2015}", "null", "true", "1799-12-31", "2201-01-01",
)  # fmt: skip
impossible_dates = st.builds(
    "{:04d}-{:02d}-{:02d}".format, st.integers(1800, 2200), st.integers(1, 12), st.integers(32, 99)
) | st.builds("{:04d}-06-15".format, st.integers(1000, 1799) | st.integers(2201, 9999))
bad_date_strings = (
    st.sampled_from(BAD_DATE_STRINGS)
    | impossible_dates
    | st.text(st.characters(categories=["Lu", "Ll"]), min_size=1, max_size=12)  # never a year, month and day
)
bad_dates = (
    bad_date_strings
    | st.booleans()
    | containers
    | st.sampled_from([float("nan"), float("inf"), float("-inf")])
    | st.integers(min_value=10**16)
    | st.integers(max_value=-(10**16))
)
good_dates = (
    st.none()
    | st.sampled_from(["", "  "])
    | st.dates(date(1800, 1, 1), date(2200, 12, 31)).map(date.isoformat)
    | st.datetimes(datetime(1800, 1, 2), datetime(2200, 12, 30)).map(datetime.isoformat)
    | st.integers(-5_000_000_000, 7_000_000_000)  # seconds since 1970: 1811 to 2191
)

# (field, value, what the loader must do with it: "accept", "refuse", or "either")
Tweak = tuple[str, object, str]


def tweaks(expected: str, values: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Tweak]:
    return st.one_of(*(st.tuples(st.just(f), v, st.just(expected)) for f, v in values.items()))


ACCEPTED = tweaks(
    "accept",
    {
        "text": hostile_text | broken_text,  # the cleaner turns an unpaired surrogate into U+FFFD
        "title": st.none() | hostile_text | broken_text,
        "source": st.none() | hostile_text | broken_text,
        "url": st.none() | hostile_text,
        "id": st.none() | st.integers(-(2**64), 2**64) | hostile_text.map(safe_id),
        "published_at": good_dates,
        "metadata": json_values(hostile_text),
    },
)
REFUSED = tweaks(
    "refuse",
    {
        "text": st.none() | not_a_string,
        "title": not_a_string,
        "source": not_a_string,
        "url": not_a_string | broken_text,  # stored as given, so it must be text
        "id": st.booleans() | st.floats() | containers | broken_text | unsafe_id,
        "published_at": bad_dates,
        "metadata": too_deep | with_broken_text,
    },
)
TWEAKS = ACCEPTED | REFUSED | tweaks("either", {"published_at": st.text(max_size=30)})


def record(number: int, change: Tweak) -> dict[str, Any]:
    field, value, _ = change
    fields = article(f"r{number}", f"Report {number} from the harbour: the boats are back.")
    fields[field] = value
    return fields


# --- what a load and an ingest must look like --------------------------------------------------


def outcomes(result: LoadResult) -> dict[str, list[str]]:
    """What happened to each origin: "article", "skipped: reason" or "error: reason"."""
    seen: dict[str, list[str]] = {}
    for item in result.articles:
        seen.setdefault(item.origin, []).append("article")
    for skip in result.skipped:
        seen.setdefault(skip.origin, []).append(f"skipped: {skip.reason}")
    for error in result.errors:
        seen.setdefault(error.origin, []).append(f"error: {error.reason}")
    return seen


def assert_storable(item: Article) -> None:
    """What the catalog writes: every string as UTF-8 and the metadata as JSON; no zero-width left."""
    for value in (item.id, item.title, item.text, item.source or "", item.url or "", item.origin):
        value.encode("utf-8")
    json.dumps(item.metadata, ensure_ascii=False, default=str).encode("utf-8")
    assert item.content_hash
    assert not set(ZERO_WIDTH) & set(item.title + item.text), item


def assert_every_record_answered(
    result: LoadResult, origins: Sequence[str], changes: Sequence[Tweak]
) -> None:
    """Each record is exactly one article, skip or error; errors name the field that was bad."""
    seen = outcomes(result)
    assert sorted(seen) == sorted(origins), seen
    for origin, (field, value, expected) in zip(origins, changes, strict=True):
        [outcome] = seen[origin]
        if outcome.startswith("error: "):
            assert expected != "accept", (origin, field, value, outcome)
            assert re.search(rf"\b{field}\b", outcome), (origin, field, outcome)
        else:
            assert expected != "refuse", (origin, field, value, outcome)
        if outcome.startswith("skipped: "):
            empty = field == "text" and isinstance(value, str) and not clean_text(value)
            assert outcome == "skipped: empty text" if empty else "duplicate id" in outcome, outcome
    for item in result.articles:
        assert_storable(item)


State = tuple[str, list[str], int, list[str]]


def index_state(root: Path) -> State:
    """The live version, its article ids and chunk count, and every folder under versions/."""
    directory = IndexDirectory(root)
    snapshot = directory.open()
    try:
        stats = snapshot.catalog.stats()
        ids = sorted(snapshot.local_catalog().article_hashes())
        return (
            snapshot.version,
            ids,
            int(stats["chunks"]),
            sorted(p.name for p in directory.versions.iterdir()),
        )
    finally:
        snapshot.close()


def desk(root: Path) -> Newsdesk:
    return Newsdesk(root, embedder=HashingEmbedder())


def assert_refused_leaving_the_index_as_it_was(
    root: Path, attempt: Callable[[Newsdesk], object], origins: Sequence[str]
) -> None:
    before = index_state(root)
    with pytest.raises(IngestAborted) as refused:
        attempt(desk(root))
    for origin in origins[:20]:
        assert f"  {origin}: " in str(refused.value)
    assert index_state(root) == before


KNOWN = [
    article("known-1", "Russian aircraft carried out their first air strikes in Syria on Wednesday."),
    article("known-2", "A powerful earthquake struck southern Turkey and northern Syria before dawn."),
    article("known-3", "The city council approved a budget of 12 million dollars for new bike lanes."),
]


@pytest.fixture(scope="module")
def known_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index in a known good state; only tests whose ingests must fail may share it."""
    root = tmp_path_factory.mktemp("known") / "index"
    desk(root).ingest_records(KNOWN)
    return root


@contextmanager
def copy_of(root: Path) -> Iterator[Path]:
    """A private copy of an index, for an example that writes (tmp_path is shared by examples)."""
    with tempfile.TemporaryDirectory(prefix="newsdesk-hostile-") as folder:
        copy = Path(folder) / "index"
        shutil.copytree(root, copy)
        yield copy


def write_records(folder: Path, container: str, records: Sequence[object]) -> tuple[LoadResult, list[str]]:
    """Records as the container carries them, loaded; with the origin each record must get."""
    if container == "records":
        return load_records(records), [f"articles[{i}]" for i in range(len(records))]
    if container == "json":
        path = folder / "dump.json"
        path.write_text(json.dumps(records), encoding="utf-8")
        return load_paths([path]), [f"{path}#item{i + 1}" for i in range(len(records))]
    lines = "".join(json.dumps(r) + "\n" for r in records).encode()
    path = folder / f"news.{container}"
    path.write_bytes(gzip.compress(lines) if container.endswith(".gz") else lines)
    return load_paths([path]), [f"{path}:{i + 1}" for i in range(len(records))]


# --- JSON records: wrong types, bad dates, odd characters --------------------------------------


@pytest.mark.parametrize("container", ["jsonl", "ndjson.gz", "json", "records"])
@settings(FUZZ, max_examples=150)
@given(changes=st.lists(TWEAKS, min_size=1, max_size=8))
def test_every_record_is_an_article_a_skip_or_an_error_naming_its_line_and_field(
    tmp_path: Path, container: str, changes: list[Tweak]
) -> None:
    records = [record(i, change) for i, change in enumerate(changes)]
    result, origins = write_records(tmp_path, container, records)
    assert_every_record_answered(result, origins, changes)


@pytest.mark.parametrize("container", ["jsonl", "records"])
@settings(FUZZ, max_examples=40)
@given(
    changes=st.tuples(st.lists(TWEAKS, max_size=5), st.lists(REFUSED, min_size=1, max_size=2)).flatmap(
        lambda parts: st.permutations(parts[0] + parts[1])
    )
)
def test_a_batch_with_any_bad_record_is_refused_whole_and_the_index_keeps_its_version(
    known_index: Path, container: str, changes: list[Tweak]
) -> None:
    records = [record(i, change) for i, change in enumerate(changes)]
    with tempfile.TemporaryDirectory() as folder:
        result, origins = write_records(Path(folder), container, records)
        assert_every_record_answered(result, origins, changes)
        refused = [e.origin for e in result.errors]
        if container == "records":
            assert_refused_leaving_the_index_as_it_was(
                known_index, lambda d: d.ingest_records(records), refused
            )
        else:
            path = Path(folder) / "news.jsonl"
            assert_refused_leaving_the_index_as_it_was(known_index, lambda d: d.ingest([path]), refused)


@pytest.mark.parametrize("container", ["jsonl", "records"])
@settings(FUZZ, max_examples=15)
@given(changes=st.lists(TWEAKS, min_size=1, max_size=5))
def test_with_skip_errors_the_readable_records_are_written_and_read_back_as_the_cleaner_left_them(
    known_index: Path, container: str, changes: list[Tweak]
) -> None:
    records = [record(i, change) for i, change in enumerate(changes)]
    with tempfile.TemporaryDirectory() as folder, copy_of(known_index) as root:
        loaded, origins = write_records(Path(folder), container, records)
        options = IngestOptions(skip_errors=True)
        if container == "records":
            report = desk(root).ingest_records(records, options)
        else:
            report = desk(root).ingest([Path(folder) / "news.jsonl"], options)
        assert [e.origin for e in report.errors] == [e.origin for e in loaded.errors]
        version, ids, chunks, folders = index_state(root)
        assert ids == sorted({a["id"] for a in KNOWN} | {a.id for a in loaded.articles})
        # The live version last, and the one before it kept (NEWSDESK_KEEP_VERSIONS defaults to 2).
        assert folders[-1] == version and len(folders) <= 2 and chunks >= len(ids)
        newsdesk = desk(root)
        for sent in loaded.articles:
            original = records[origins.index(sent.origin)]
            stored = newsdesk.article(sent.id)
            assert stored is not None and stored.text == clean_text(original["text"])
            assert stored.title == clean_title(original["title"] or "")
        newsdesk.close()


words = st.lists(
    st.sampled_from(RTL_WORDS)
    | st.text(st.sampled_from("abcdefghij" + ZERO_WIDTH + BIDI), min_size=1, max_size=8),
    min_size=1,
    max_size=8,
)


@settings(FUZZ, max_examples=20)
@given(title_words=words, body_words=words)
def test_zero_width_characters_are_removed_and_right_to_left_text_is_kept_through_ingest_and_search(
    title_words: list[str], body_words: list[str]
) -> None:
    marker = "Kittiwakes nested on the harbour wall this spring, the warden said."  # long: never boilerplate
    title, body = " ".join(title_words), f"{marker} {' '.join(body_words)}"

    def seen(text: str) -> str:  # zero-width removed, bidi controls and Hebrew/Arabic kept as sent
        kept = (w.translate({ord(c): None for c in ZERO_WIDTH}) for w in text.split(" "))
        return " ".join(w for w in kept if w)

    with tempfile.TemporaryDirectory() as folder:
        newsdesk = desk(Path(folder) / "index")
        report = newsdesk.ingest_records([{"id": "rtl", "title": title, "text": body}])
        assert report.added == ["rtl"]
        stored = newsdesk.article("rtl")
        assert stored is not None
        assert (stored.title, stored.text) == (seen(title), seen(body))
        assert (stored.title, stored.text) == (clean_title(title), clean_text(body))
        hits = newsdesk.search("kittiwakes nested harbour wall warden", k=1)
        assert hits and hits[0].passage.article_id == "rtl"
        newsdesk.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "a\ud800"}, "field 'id' contains an unpaired surrogate '\\ud800', which is not a character"),
        ({"link": "https://x.example/\udc00"}, "field 'link' contains an unpaired surrogate '\\udc00'"),
        ({"tags": ["ok", {"\udfff": 1}]}, "field 'tags' contains an unpaired surrogate '\\udfff'"),
    ],
)
def test_an_unpaired_surrogate_in_a_field_stored_as_given_is_refused_by_name(
    fields: dict[str, Any], message: str
) -> None:
    [error] = load_records([{"text": "Body.", **fields}]).errors
    assert str(error).startswith(f"articles[0]: {message}")


@pytest.mark.parametrize("size", [100, 3_000_000])  # below and above what ftfy is given
def test_an_unpaired_surrogate_in_the_text_becomes_a_replacement_character_at_any_length(size: int) -> None:
    text = "Gulls over the harbour. " * (size // 24) + "Cut in half: \ud83d."
    [item] = load_records([{"id": "cut", "text": text}]).articles
    assert item.text.endswith("Cut in half: \ufffd.")
    assert_storable(item)


# --- deep nesting and huge lines ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".json"])
@pytest.mark.parametrize("where", ["record", "field"])
@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_json_nested_10000_levels_deep_is_an_error_naming_the_file_and_line(
    tmp_path: Path, suffix: str, where: str, opening: str, closing: str
) -> None:
    deep = opening * 10_000 + "1" + closing * 10_000
    line = deep if where == "record" else '{"text": "Deep.", "extra": ' + deep + "}"
    text = '{"id": "fine", "text": "A fine article."}\n' + line + "\n"
    if suffix == ".json":
        text = "[\n" + text.replace("\n", ",\n", 1) + "]"
    path = tmp_path / f"deep{suffix}"
    path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    result = load_paths([path])
    [error] = result.errors
    # A .json file is parsed whole, and the decoder's depth guard gives no position: the file alone.
    assert error.origin == (str(path) if suffix == ".json" else f"{path}:2")
    assert error.reason.startswith("invalid JSON: ") and "depth" in error.reason
    assert [a.id for a in result.articles] == ([] if suffix == ".json" else ["fine"])


def test_fields_nested_past_the_limit_are_refused_by_name_rather_than_crashing_the_ingest(
    known_index: Path, tmp_path: Path
) -> None:
    within = {"id": "ok", "text": "Nested but fine.", "extra": nested(MAX_FIELD_DEPTH, "dict")}
    assert_storable(load_records([within]).articles[0])
    records = [within, {"id": "deep", "text": "Too deep.", "extra": nested(5_000, "list")}]
    assert [str(e) for e in load_records(records).errors] == [
        f"articles[1]: field 'extra' is nested more than {MAX_FIELD_DEPTH} levels deep"
    ]
    assert_refused_leaving_the_index_as_it_was(
        known_index, lambda d: d.ingest_records(records), ["articles[1]"]
    )
    path = tmp_path / "deep.jsonl"
    path.write_text(
        json.dumps({"text": "x", "tags": nested(MAX_FIELD_DEPTH + 1, "list")}) + "\n", encoding="utf-8"
    )
    assert [str(e) for e in load_paths([path]).errors] == [
        f"{path}:1: field 'tags' is nested more than {MAX_FIELD_DEPTH} levels deep"
    ]


@pytest.mark.parametrize("name", ["wide.jsonl", "wide.ndjson.gz"])
def test_lines_of_several_megabytes_are_read_or_refused_by_their_line_number(
    tmp_path: Path, name: str
) -> None:
    megabytes = 4 << 20
    prose = ("The tide came in over the harbour wall and the ferry waited. " * (megabytes // 62))[:megabytes]
    lines = [
        json.dumps({"id": "first", "text": "A short one."}),
        json.dumps({"id": "wide", "title": "x" * megabytes, "text": prose}),
        "x" * megabytes,
        "[" + "1," * (megabytes // 2) + "1]",
        '{"text": "' + "y" * megabytes,
        json.dumps({"id": "last", "text": "Still read after the wide lines."}),
    ]
    data = "\n".join(lines).encode()  # the last line has no newline
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, compresslevel=1) if name.endswith(".gz") else data)
    result = load_paths([path])
    assert [a.id for a in result.articles] == ["first", "wide", "last"]
    wide = result.articles[1]
    assert wide.text == prose.strip() and wide.title == "x" * megabytes
    assert [str(e) for e in result.errors] == [
        f"{path}:3: invalid JSON: Expecting value (column 1)",
        f"{path}:4: expected a JSON object, got list",
        f"{path}:5: invalid JSON: Unterminated string starting at (column 10)",
    ]


def test_a_text_file_that_is_one_line_of_several_megabytes_is_an_article_without_a_title(
    tmp_path: Path,
) -> None:
    path = tmp_path / "one-line.txt"
    path.write_text("Gulls circled the fish market. " * 130_000, encoding="utf-8")
    [item] = load_paths([path]).articles
    assert item.title == "" and len(item.text) > 4_000_000 and item.origin == str(path)


# --- empty articles ----------------------------------------------------------------------------

blank = st.text(st.sampled_from(" \t\n\r\x0b\x0c\x85\xa0\u2028\u2029\u3000" + ZERO_WIDTH), max_size=40)


def blank_file(folder: Path, suffix: str, text: str) -> Path:
    documents = {
        ".jsonl": json.dumps({"id": "blank", "title": "A headline", "text": text}) + "\n",
        ".json": json.dumps({"id": "blank", "text": text}),
        ".txt": text,
        ".md": f"---\ntitle: A headline\n---\n{text}",
        ".html": f"<html><head><title>Headline</title></head><body><p>{text}</p></body></html>",
        ".rss": f'<rss version="2.0"><channel><title>T</title><item><title>Headline</title>'
        f"<description>{html.escape(text)}</description></item></channel></rss>",
    }
    path = folder / f"blank{suffix}"
    path.write_text(documents[suffix], encoding="utf-8")
    return path


@settings(FUZZ, max_examples=80)
@given(text=blank, suffix=st.sampled_from([".jsonl", ".json", ".txt", ".md", ".html", ".rss", "records"]))
def test_empty_and_whitespace_only_articles_are_skipped_as_empty_and_write_nothing(
    known_index: Path, text: str, suffix: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if suffix == "records":
            records = [{"text": text}]
            result, origin = load_records(records), "articles[0]"
        else:
            if suffix == ".rss":  # feedparser reads a C1 control as cp1252: U+0085 comes back as "…"
                text = text.replace("\x85", " ")
            path = blank_file(Path(folder), suffix, text)
            result = load_paths([path])
            origin = {".jsonl": f"{path}:1", ".rss": f"{path}#entry1"}.get(suffix, str(path))
        assert (result.articles, result.errors) == ([], [])
        assert result.skipped == [Skipped(origin, "empty text")]
        before = index_state(known_index)
        newsdesk = desk(known_index)
        report = newsdesk.ingest_records(records) if suffix == "records" else newsdesk.ingest([path])
        assert (report.added, report.version) == ([], None)
        assert index_state(known_index) == before


# --- a 10 MB article ---------------------------------------------------------------------------


def ten_megabytes_of_news() -> str:
    rng = random.Random(20150930)
    vocabulary = ("harbour", "council", "storm", "bridge", "minister", "election", "river", "ferry", "budget",
                  "strike", "court", "police", "market", "school", "hospital", "mayor", "flood", "railway",
                  "airport", "union", "protest", "treaty", "senate", "drought", "harvest")  # fmt: skip
    sentences: list[str] = []
    size = 0
    while size < 10_000_000:
        words = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 20)))
        sentence = f"{words.capitalize()} on day {len(sentences)}."
        if len(sentences) == 60_000:
            sentence = "The lighthouse keeper counted 4711 kittiwakes on the cliffs."
        sentences.append(sentence + ("\n\n" if len(sentences) % 9 == 8 else " "))
        size += len(sentences[-1])
    return "".join(sentences).strip()


def test_a_10_mb_article_in_jsonl_and_txt_is_chunked_indexed_and_found(tmp_path: Path) -> None:
    text = ten_megabytes_of_news()
    assert len(text.encode()) >= 10_000_000
    (tmp_path / "big.jsonl").write_text(json.dumps({"id": "big", "title": "Big", "text": text}) + "\n")
    (tmp_path / "big-copy.txt").write_text(f"Big\n{text}\n", encoding="utf-8")
    peak_before, began = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    newsdesk = desk(tmp_path / "index")
    report = newsdesk.ingest([tmp_path / "big.jsonl", tmp_path / "big-copy.txt"])
    seconds = time.perf_counter() - began
    assert (report.added, report.errors, report.skipped) == (["big", "big-copy"], [], [])
    stored, copy = newsdesk.article("big"), newsdesk.article("big-copy")
    assert stored is not None and copy is not None and stored.text == copy.text == clean_text(text)
    # Same title, same passages: the .txt copy's chunks reuse the vectors of the JSONL one.
    assert report.chunks_written > 5_000 and report.chunks_embedded <= report.chunks_written // 2 + 1
    top = newsdesk.search("lighthouse keeper kittiwakes cliffs", k=1)[0].passage
    assert "4711 kittiwakes" in top.text
    # ru_maxrss is the process's peak (KiB): it can only rise here if this ingest pushed it up.
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 2048, f"the peak memory grew by {grown_mib:.0f} MiB for two 10 MB articles"
    assert seconds < 120, f"{seconds:.1f} s to ingest two copies of a 10 MB article"
    newsdesk.close()


# --- Markdown, HTML, RSS/Atom ------------------------------------------------------------------

YAML_GARBAGE = (
    "[1, 2", "{a: {b: [c, {d: e}]}}", "- x", "|", ">-", '"unterminated', "'", "null", "~", "123", "true",
    "!!python/object/apply:os.system [ls]", "&anchor", "*alias", "::", "key: value: more", '""', "2015-13-45",
)  # fmt: skip
front_matter_line = st.tuples(
    st.sampled_from(
        ["title", "TITLE", "source", "url", "id", "author", "tags", "text", "content", "body", " padded"]
    ),
    one_line | st.sampled_from(YAML_GARBAGE),
).map(": ".join) | st.sampled_from(
    ["  nested: value", "\t- item", "- bare item", "  - {a: 1}", "no colon", ": no key"]
)
markdown_body = st.lists(
    one_line
    | st.sampled_from(["# Heading", "**bold** *it*", "![img](x.png)", "[link](http://x)", "---", "> quote"]),
    max_size=6,
).map("\n".join)
markdown_date = (
    st.tuples(st.dates(date(1800, 1, 1), date(2200, 12, 31)).map(date.isoformat), st.just("accept"))
    | st.tuples(bad_date_strings, st.just("refuse"))
    | st.tuples(one_line, st.just("either"))
    | st.tuples(st.none(), st.just("accept"))
)


@settings(FUZZ, max_examples=120)
@given(
    lines=st.lists(front_matter_line, max_size=6),
    when=markdown_date,
    body=markdown_body,
    fenced=st.booleans(),
)
def test_markdown_front_matter_with_garbage_values_loads_or_names_the_date(
    tmp_path: Path, known_index: Path, lines: list[str], when: tuple[str | None, str], body: str, fenced: bool
) -> None:
    value, expected = when
    if value is not None:
        lines = [*lines, f"date: {value}"]
    front = "---\n" + "".join(line + "\n" for line in lines) + "---\n" if fenced else ""
    path = tmp_path / "post.md"
    path.write_text(front + body, encoding="utf-8")
    result = load_paths([path])
    [outcome] = outcomes(result)[str(path)]
    event(outcome.split(":")[0])
    if "\x00" in front + body:
        assert outcome == "error: binary file"  # named, so not skipped
    elif outcome.startswith("error: field 'id' "):  # a control or format character, or a '..' segment
        assert fenced and any(line.startswith("id:") for line in lines), outcome
        assert_refused_leaving_the_index_as_it_was(known_index, lambda d: d.ingest([path]), [str(path)])
    elif outcome.startswith("error: "):
        assert fenced and expected != "accept" and outcome.startswith("error: date: cannot read "), outcome
        assert_refused_leaving_the_index_as_it_was(known_index, lambda d: d.ingest([path]), [str(path)])
    else:
        assert not fenced or expected != "refuse", outcome
        assert outcome in ("article", "skipped: empty text"), outcome
    for item in result.articles:
        assert_storable(item)


CHARACTER_REFERENCES = (
    "&#x202E;",
    "&#8203;",
    "&#xFEFF;",
    "&#233;",
    "&nbsp;",
    "&bogus;",
    "&#;",
    "&#x;",
    "&#0;",
)
BAD_REFERENCES = ("&#xD800;", "&#xdfff;", "&#55296;", "&#1114112;", "&#x110000;", "&#99999999999999999999;")
MARKUP_JUNK = (
    "&",
    "<",
    ">",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "</p>",
    "<p",
    "<script>",
    "</div>",
    "<?php 1 ?>",
)
html_text = st.lists(
    file_text.map(html.escape) | st.sampled_from(CHARACTER_REFERENCES + BAD_REFERENCES + MARKUP_JUNK),
    max_size=8,
).map(" ".join)
LEAD = "<p>The harbour reopened on Thursday after three days of repairs to the sea wall, officials said.</p>"


@st.composite
def html_pages(draw: st.DrawFn) -> str:
    depth = draw(st.integers(0, 300))  # lxml stops building the tree past 255 levels
    when = draw(bad_date_strings | st.dates().map(date.isoformat) | html_text)
    paragraphs = "".join(f"<p>{p}</p>" for p in draw(st.lists(html_text, max_size=4)))
    lead = LEAD if draw(st.booleans()) else ""
    return (
        f"<html><head><title>{draw(html_text)}</title>"
        f'<meta property="article:published_time" content="{html.escape(when)}">'
        f'<link rel="canonical" href="{html.escape(draw(one_line))}"></head>'
        f"<body>{'<div>' * depth}<article><h1>{draw(html_text)}</h1>{lead}{paragraphs}</article>"
        f"{'</div>' * depth}</body></html>"
    )


@settings(FUZZ, max_examples=60)
@given(page=html_pages())
def test_html_pages_with_hostile_fields_and_markup_are_an_article_or_a_skip(
    tmp_path: Path, page: str
) -> None:
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    result = load_paths([path])
    [outcome] = outcomes(result)[str(path)]
    event(outcome)
    assert outcome in ("article", "skipped: empty text", "error: binary file"), outcome
    assert all(warning.startswith(f"{path}: ") for warning in result.warnings)
    for item in result.articles:
        assert_storable(item)


feed_text = st.lists(
    file_text.map(html.escape) | st.sampled_from(CHARACTER_REFERENCES + BAD_REFERENCES), max_size=5
).map(" ".join)
feed_dates = (
    st.sampled_from(
        ["Wed, 30 Sep 2015 10:00:00 +0200", "2020-01-02T03:04:05Z", "Fri, 01 Jan 1700 00:00:00 GMT"]
    )
    | bad_date_strings
    | feed_text
)
RSS_FIELDS = {"title": "title", "id": "guid", "link": "link", "date": "pubDate", "text": "description"}
ATOM_FIELDS = {"title": "title", "id": "id", "link": "link", "date": "updated", "text": "summary"}


@st.composite
def feeds(draw: st.DrawFn) -> tuple[str, int]:
    """A feed, one element per line, whose entries have any subset of their fields, with garbage values."""
    atom = draw(st.booleans())
    names = ATOM_FIELDS if atom else RSS_FIELDS
    entries = []
    for _ in range(draw(st.integers(1, 4))):
        fields = []
        for field, element in names.items():
            if not draw(st.booleans()):
                continue
            value = draw(feed_dates if field == "date" else feed_text)
            if atom and field == "link":
                fields.append(f'<link href="{html.escape(draw(one_line))}"/>')
            elif atom and field == "text" and draw(st.booleans()):
                fields.append(f'<content type="html">{html.escape(value)}</content>')
            else:
                fields.append(f"<{element}>{value}</{element}>")
        tag = "entry" if atom else "item"
        entries.append(f"<{tag}>\n" + "\n".join(fields) + f"\n</{tag}>")
    title = draw(feed_text)
    if atom:
        head = f'<feed xmlns="http://www.w3.org/2005/Atom">\n<title>{title}</title>\n<id>urn:feed</id>'
        return '<?xml version="1.0" encoding="utf-8"?>\n' + head + "\n" + "\n".join(
            entries
        ) + "\n</feed>\n", len(entries)
    head = f'<rss version="2.0"><channel>\n<title>{title}</title>'
    return head + "\n" + "\n".join(entries) + "\n</channel></rss>\n", len(entries)


def unreadable_reference(reference: str) -> str:
    return f"invalid character reference {reference}: no such character, so the feed cannot be read"


def first_bad_reference(document: str) -> tuple[int, str] | None:
    """The line and text of the first reference to a surrogate or past U+10FFFF, if any."""
    found = [(document.find(ref), ref) for ref in BAD_REFERENCES if ref in document]
    if not found:
        return None
    position, reference = min(found)
    return document.count("\n", 0, position) + 1, reference


@settings(FUZZ, max_examples=120)
@given(feed=feeds(), suffix=st.sampled_from([".rss", ".atom", ".xml", ".feed"]))
def test_feed_entries_with_missing_or_garbage_fields_each_load_or_the_bad_reference_is_named(
    tmp_path: Path, known_index: Path, feed: tuple[str, int], suffix: str
) -> None:
    document, entries = feed
    path = tmp_path / f"news{suffix}"
    path.write_text(document, encoding="utf-8")
    result = load_paths([path])
    seen = outcomes(result)
    bad = first_bad_reference(document)
    event("binary" if "\x00" in document else "bad reference" if bad else "entries")
    if "\x00" in document:
        assert seen == {str(path): ["error: binary file"]}  # named, so not skipped
    elif bad is not None:
        line, reference = bad
        assert [str(e) for e in result.errors] == [f"{path}:{line}: {unreadable_reference(reference)}"]
        assert_refused_leaving_the_index_as_it_was(
            known_index, lambda d: d.ingest([path]), [f"{path}:{line}"]
        )
    else:
        assert sorted(seen) == sorted(f"{path}#entry{n}" for n in range(1, entries + 1)), seen
        for [outcome] in seen.values():
            assert outcome in ("article", "skipped: empty text") or "duplicate id" in outcome, outcome
    assert all(warning.startswith(f"{path}") for warning in result.warnings)
    for item in result.articles:
        assert_storable(item)


@pytest.mark.parametrize("reference", ["&#xD800;", "&#1114112;", "&#99999999999999999999;"])
def test_a_feed_character_reference_to_no_character_is_an_error_naming_the_line(
    tmp_path: Path, reference: str
) -> None:
    path = tmp_path / "bad.rss"
    path.write_text(
        '<rss version="2.0"><channel><title>Gazette</title>\n<item><title>Fine</title></item>\n'
        f"<item><title>Broken {reference} here</title><description>Body.</description></item>\n"
        "</channel></rss>",
        encoding="utf-8",
    )
    assert [str(e) for e in load_paths([path]).errors] == [f"{path}:3: {unreadable_reference(reference)}"]


# --- random bytes and odd file names -----------------------------------------------------------


SAMPLES = {
    "jsonl": b'{"id": "a", "title": "Bridge", "text": "The new bridge opened.", "date": "2015-09-30"}\n'
    b'{"id": "b", "text": "Ferries resumed.", "source": "Gazette", "tags": ["x", {"y": 1}]}\n',
    "json": b'[{"id": "a", "text": "The new bridge opened."}, {"text": "Ferries.", "date": "2015-09-30"}]',
    "txt": b"Bridge opens\nThe new bridge opened on Monday, officials said.\n\nTraffic flowed.\n",
    "md": b"---\ntitle: Bridge opens\ndate: 2015-09-30\nid: b-1\n---\n# Bridge\n\nThe **new** [bridge](x).\n",
    "html": f"<html><title>Harbour</title><body><article>{LEAD * 3}</article></body></html>".encode(),
    "rss": b'<?xml version="1.0"?><rss version="2.0"><channel><title>Gazette</title>\n'
    b"<item><title>Bridge</title><guid>g-1</guid><pubDate>Wed, 30 Sep 2015 10:00:00 +0200</pubDate>\n"
    b"<description>&lt;p&gt;The bridge opened.&lt;/p&gt;</description></item>\n"
    b"<item><description>Ferries resumed.</description></item></channel></rss>",
    "atom": b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>\n'
    b"<entry><title>One</title><id>urn:1</id><updated>2020-01-02T05:04:05+02:00</updated>\n"
    b'<content type="html">&lt;p&gt;First.&lt;/p&gt;</content></entry>\n</feed>',
}
SAMPLE_OF = {".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".ndjson.gz": "jsonl",
             ".json": "json", ".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
             ".rss": "rss", ".atom": "atom", ".xml": "rss", ".feed": "atom"}  # fmt: skip
SPLICES = (
    b"\x00",
    b"\xff\xfe",
    b"\xe9",
    b"&#xD800;",
    b"\\ud800",
    b"\n",
    b"<",
    b'"',
    b"[" * 50,
    "\u202e".encode(),
)


@st.composite
def damaged(draw: st.DrawFn, document: bytes) -> bytes:
    """A valid document with bytes flipped, spliced in, deleted or cut off: near misses, not noise."""
    data = bytearray(document)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if action == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            data[at:at] = draw(st.sampled_from(SPLICES) | st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif action == "cut":
            del data[at:]
    return bytes(data)


@settings(FUZZ, max_examples=200)
@given(suffix=st.sampled_from(SUPPORTED_SUFFIXES), draw=st.data(), zipped=st.booleans())
def test_random_or_damaged_bytes_in_every_format_are_skipped_named_or_written_whole(
    known_index: Path, suffix: str, draw: st.DataObject, zipped: bool
) -> None:
    data = draw.draw(st.binary(max_size=3000) | damaged(SAMPLES[SAMPLE_OF[suffix]]), label="data")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"noise{suffix}"
        path.write_bytes(gzip.compress(data) if zipped and suffix.endswith(".gz") else data)
        result = load_paths([path])
        event(f"{bool(result.articles)} articles, {bool(result.skipped)} skips, {bool(result.errors)} errors")
        assert all(origin.startswith(str(path)) for origin in outcomes(result))
        assert all(warning.startswith(str(path)) for warning in result.warnings)
        for item in result.articles:
            assert_storable(item)
        if result.errors:
            origins = [e.origin for e in result.errors]
            assert_refused_leaving_the_index_as_it_was(known_index, lambda d: d.ingest([path]), origins)
        elif result.articles:
            with copy_of(known_index) as root:
                report = desk(root).ingest([path])
                version, ids, _, folders = index_state(root)
                # The live version last, and the one before it kept (NEWSDESK_KEEP_VERSIONS defaults to 2).
                assert report.version == version and folders[-1] == version and len(folders) <= 2
                assert ids == sorted({a["id"] for a in KNOWN} | {a.id for a in result.articles})


def test_a_file_whose_name_is_not_utf8_is_ingested_under_a_readable_name(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/caf\xe9 reopens.txt", "wb") as stream:  # a Latin-1 name
        stream.write(b"Cafe reopens\nThe cafe by the harbour reopened on Monday after the storm.\n")
    newsdesk = desk(tmp_path / "index")
    assert newsdesk.ingest([folder]).added == ["caf\ufffd reopens"]
    stored = newsdesk.article("caf\ufffd reopens")
    assert stored is not None and stored.origin == f"{folder}/caf\ufffd reopens.txt"
    assert newsdesk.search("cafe harbour reopened", k=1)[0].passage.article_id == "caf\ufffd reopens"
    newsdesk.close()
