"""Checks shared by the tests of language-model answers."""

from __future__ import annotations

import re

from rag.answer import NOT_FOUND
from rag.records import Answer, Citation
from rag.service import Newsdesk
from rag.verify import verify
from tests.test_generators import hit


def assert_verified(answer: Answer, archive: Newsdesk) -> None:
    """What rag.verify promises of any model's answer: every sentence left cites a passage that supports
    it, the markers are exactly the citations, numbered from 1, and each citation is an archive passage."""
    check = answer.verification
    assert (
        check is not None and check["sentences"] == check["supported"] + check["repointed"] + check["dropped"]
    )
    if not answer.answered:
        assert answer.answer == NOT_FOUND and answer.short_answer is None
        return
    text, _, again = verify(answer.answer, [hit(c.n, c.text) for c in answer.citations])
    assert text == answer.answer and again.supported == again.sentences > 0
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations} == set(range(1, len(answer.citations) + 1))
    for citation in answer.citations:
        assert_in_archive(citation, archive)


def assert_in_archive(citation: Citation, archive: Newsdesk) -> None:
    stored = archive.article(citation.article_id)
    assert stored is not None and citation.text in stored.text
    if citation.quote_start is not None and citation.quote_end is not None:
        assert citation.text[citation.quote_start : citation.quote_end].strip()
