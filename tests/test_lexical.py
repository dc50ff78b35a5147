"""`terms` tokenizes as bm25s does for the index: question words and index words must be the same."""

from __future__ import annotations

import bm25s
from hypothesis import given, settings
from hypothesis import strategies as st

from index.lexical import STOPWORDS, _stemmer, terms


def _bm25s_terms(text: str) -> list[str]:
    tokens = bm25s.tokenize(
        [text], stopwords=list(STOPWORDS), stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    return [str(t) for t in tokens[0] if t]


def test_terms_of_a_news_sentence_are_bm25s_terms() -> None:
    sentence = "Russia's jets struck Hama, Homs and Latakia on 30 September 2015 — the strikes' first day."
    assert terms(sentence) == _bm25s_terms(sentence)
    assert terms(sentence)[:3] == ["russia", "jet", "struck"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_terms_equal_bm25s_tokenize_on_any_text(text: str) -> None:
    assert terms(text) == _bm25s_terms(text)
