from __future__ import annotations

from rag.conversation import Turn, needs_context, rewrite

HISTORY = [
    Turn("user", "Which provinces were struck?"),
    Turn("assistant", "Russian jets struck the provinces of Hama, Homs and Latakia. [1]"),
]


def test_a_follow_up_with_a_pronoun_carries_the_last_exchange() -> None:
    query = rewrite("Who approved it?", HISTORY)
    assert query.startswith("Who approved it?")
    assert "Which provinces were struck?" in query and "Hama, Homs and Latakia" in query
    assert "[1]" not in query


def test_a_self_contained_question_is_left_alone() -> None:
    question = "When did the Ever Given block the Suez Canal?"
    assert not needs_context(question)
    assert rewrite(question, HISTORY) == question


def test_only_the_latest_exchange_is_used() -> None:
    older = [Turn("user", "Who won the World Cup in Qatar?"), Turn("assistant", "Argentina. [1]"), *HISTORY]
    assert "Qatar" not in rewrite("And when was that?", older)


def test_no_history_means_no_rewrite() -> None:
    assert rewrite("Who approved it?", []) == "Who approved it?"
