"""Follow-ups rewritten into standalone questions, by rules, on hand-worked conversations."""

from __future__ import annotations

import pytest

from rag.conversation import Turn, needs_context, rewrite, standalone_question

HISTORY = [
    Turn("user", "Which provinces were struck?"),
    Turn("assistant", "Russian jets struck the provinces of Hama, Homs and Latakia. [1]"),
]


@pytest.mark.parametrize(
    ("earlier", "question", "expected"),
    [
        # The previous reply's short answer (its first line, as the UI and CLI write it) is the referent.
        (
            [
                Turn("user", "Which film won best picture?"),
                Turn("assistant", "Parasite\n\nParasite won. [1]"),
            ],
            "Who directed it?",
            "Who directed Parasite?",
        ),
        # No reply: the thing the previous question asked about.
        (
            [Turn("user", "Which club won the Premier League title in May 2016?")],
            "Who was their manager?",
            "Who was the manager of the club that won the Premier League title in May 2016?",
        ),
        (
            [Turn("user", "Who won the Nobel Prize in Literature in 2016?")],
            "Where was he born?",
            "Where was the person who won the Nobel Prize in Literature in 2016 born?",
        ),
        (
            [Turn("user", "Which Greek finance minister resigned after the referendum?")],
            "Who replaced him?",
            "Who replaced the Greek finance minister that resigned after the referendum?",
        ),
        # Nothing asked about by a noun: the longest name of the previous question.
        (
            [Turn("user", "What was Typhoon Rai called locally in the Philippines?")],
            "Where did it first make landfall?",
            "Where did Typhoon Rai first make landfall?",
        ),
    ],
)
def test_a_follow_up_becomes_a_standalone_question(earlier: list[Turn], question: str, expected: str) -> None:
    assert standalone_question(question, earlier) == expected
    assert rewrite(question, earlier) == expected  # the retrieval query is the standalone question


def test_a_follow_up_no_rule_can_resolve_carries_the_last_exchange() -> None:
    assert standalone_question("And in 2019?", HISTORY) is None
    query = rewrite("And in 2019?", HISTORY)
    assert query.startswith("And in 2019?")
    assert "Which provinces were struck?" in query and "Hama, Homs and Latakia" in query
    assert "[1]" not in query


def test_a_self_contained_question_is_left_alone() -> None:
    question = "When did the Ever Given block the Suez Canal?"
    assert not needs_context(question)
    assert standalone_question(question, HISTORY) is None
    assert rewrite(question, HISTORY) == question


def test_only_the_latest_exchange_is_used() -> None:
    older = [Turn("user", "Who won the World Cup in Qatar?"), Turn("assistant", "Argentina\n\nIt won. [1]")]
    assert "Qatar" not in rewrite("And when was that?", [*older, *HISTORY])
    assert "Argentina" not in rewrite("Who approved it?", [*older, *HISTORY])


def test_no_history_means_no_rewrite() -> None:
    assert rewrite("Who approved it?", []) == "Who approved it?"
    assert standalone_question("Who approved it?", []) is None
