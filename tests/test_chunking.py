from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunking import Chunker, ChunkerSettings
from index.records import Article
from index.sentences import sentence_spans
from index.tokens import get_encoding

PROSE = (
    "The council met on Monday. Mr. Smith of the U.S. delegation spoke first, and he spoke at length. "
    "Rain fell across the provinces of Hama, Homs and Latakia. Officials counted 240,000 deaths.\n\n"
    "A new paragraph begins here! Does it end here? It does. "
) * 12


def tiktoken_count(text: str) -> int:
    return len(get_encoding("cl100k_base").encode(text))


def test_sentences_respect_abbreviations_and_paragraphs() -> None:
    text = (
        'Mr. Smith went to Washington on Monday. "It was fine," he said.\n\n'
        "J. F. Kennedy spoke. U.S. troops left."
    )
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Mr. Smith went to Washington on Monday.",
        '"It was fine," he said.',
        "J. F. Kennedy spoke.",
        "U.S. troops left.",
    ]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(200, 40), (64, 16), (32, 0)])
def test_chunks_fit_the_budget_by_tiktoken_and_point_into_the_text(max_tokens: int, overlap: int) -> None:
    article = Article("a1", "Title", PROSE.strip())
    chunks = Chunker(ChunkerSettings(max_tokens, overlap)).chunk(article)
    assert len(chunks) > 1
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count == tiktoken_count(chunk.text) <= max_tokens
    # Every sentence is inside some chunk, whole: no cut mid-sentence.
    for start, end in sentence_spans(article.text):
        assert any(c.start <= start and end <= c.end for c in chunks)


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    article = Article("a1", "Title", PROSE.strip())
    chunks = Chunker(ChunkerSettings(100, 30)).chunk(article)
    starts = {s for s, _ in sentence_spans(article.text)}
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end, "the next chunk repeats the end of the previous one"
        assert after.start in starts
        assert tiktoken_count(article.text[after.start : before.end]) <= 30 + 2


def test_a_sentence_longer_than_the_budget_is_cut_at_words() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    article = Article("a1", "Title", words + ". Short end.")
    chunks = Chunker(ChunkerSettings(50, 10)).chunk(article)
    assert all(c.token_count <= 50 for c in chunks)
    assert all(not c.text.startswith(" ") and " " not in (c.text[0], c.text[-1]) for c in chunks)
    found = {w for c in chunks for w in re.findall(r"\w+", c.text)}
    assert {f"word{i}" for i in range(400)} <= found, "no word is split between two chunks"


def test_chunk_ids_are_stable_content_hashes() -> None:
    first = Chunker().chunk(Article("a1", "T", PROSE))
    again = Chunker().chunk(Article("a1", "T", PROSE))
    other = Chunker().chunk(Article("a2", "T", PROSE))
    assert [c.id for c in first] == [c.id for c in again]
    assert {c.id for c in first}.isdisjoint({c.id for c in other})
    assert len({c.id for c in first}) == len(first)


def test_invalid_settings_name_the_value() -> None:
    with pytest.raises(ValueError, match="got 8"):
        ChunkerSettings(max_tokens=8)
    with pytest.raises(ValueError, match="overlap_tokens"):
        ChunkerSettings(max_tokens=100, overlap_tokens=80)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=3000))
def test_any_text_chunks_within_budget(text: str) -> None:
    chunks = Chunker(ChunkerSettings(24, 6)).chunk(Article("x", "", text))
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count <= 24
