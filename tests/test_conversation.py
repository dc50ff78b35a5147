"""Follow-ups rewritten into standalone questions, by rules, on hand-worked conversations."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.conversation import Turn, history_key, needs_context, rewrite, standalone_question
from rag.question import frame_question
from rag.records import Answer

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


def _answered(question: str, short: str | None, text: str = "Quoted. [1]") -> list[Turn]:
    """An exchange as the web UI keeps it: the reply's text and the Answer it stands for."""
    answer = Answer(question, text, True, [], short_answer=short, frame=frame_question(question))
    shown = f"{short}\n\n{text}" if short else text
    return [Turn("user", question), Turn("assistant", shown, answer=answer)]


@pytest.mark.parametrize(
    ("earlier", "question", "expected"),
    [
        # A list of names is not "it": the event the previous question's verb names is.
        (
            _answered("Which provinces were struck?", "Hama, Homs and Latakia"),
            "Who approved it?",
            "Who approved the strikes?",
        ),
        (
            _answered("Which towns were bombed by the air force?", "Aleppo and Idlib"),
            "Who condemned it?",
            "Who condemned the bombings by the air force?",
        ),
        # A verb with no event noun of its own reads as its gerund.
        (
            _answered("Which schools were closed?", "Eton, Harrow and Rugby"),
            "Who ordered it?",
            "Who ordered the closing of the schools?",
        ),
        # The thing the verb acted on, when the previous question names one.
        (
            _answered("Which countries signed the Paris accord?", "France and Spain"),
            "When does it take effect?",
            "When does the Paris accord take effect?",
        ),
        # "they" can stand for the list, and "it" for a single name.
        (
            _answered("Which provinces were struck?", "Hama, Homs and Latakia"),
            "Who controls them?",
            "Who controls Hama, Homs and Latakia?",
        ),
        (_answered("Which province was struck?", "Hama"), "Who controls it?", "Who controls Hama?"),
    ],
)
def test_it_after_a_list_of_names_refers_to_what_was_done(
    earlier: list[Turn], question: str, expected: str
) -> None:
    assert standalone_question(question, earlier) == expected


def test_the_rule_reads_a_text_only_reply_as_the_ui_writes_it() -> None:
    """An OpenAI-style client sends text only: the short answer is read from the reply's first line."""
    text_only = [
        Turn(t.role, t.content) for t in _answered("Which provinces were struck?", "Hama, Homs and Latakia")
    ]
    assert text_only[1].answer is None
    assert standalone_question("Who approved it?", text_only) == "Who approved the strikes?"
    assert standalone_question("Who approved it?", HISTORY) == "Who approved the strikes?"  # no short answer


def test_a_carried_answer_wins_over_its_reply_text() -> None:
    """The Answer says what the short answer was; the reply's text is not re-parsed for it."""
    question = "Which film won best picture?"
    answer = Answer(
        question, "Parasite won. [1]", True, [], short_answer="Parasite", frame=frame_question(question)
    )
    earlier = [Turn("user", question), Turn("assistant", "Parasite won. [1]", answer=answer)]
    assert standalone_question("Who directed it?", earlier) == "Who directed Parasite?"
    no_short = Answer(question, "It won. [1]", True, [], short_answer=None)
    earlier = [Turn("user", question), Turn("assistant", "Oscar\n\nIt won. [1]", answer=no_short)]
    # No short answer in the Answer: the thing asked about, not the reply's first line.
    assert standalone_question("Who directed it?", earlier) == "Who directed the film that won best picture?"


def test_the_history_key_tells_apart_what_the_rewrite_reads_and_is_hashable() -> None:
    carried = _answered("Which provinces were struck?", "Hama, Homs and Latakia")
    text_only = [Turn(t.role, t.content) for t in carried]
    other = _answered("Which provinces were struck?", "Hama, Homs and Latakia")
    assert carried == text_only  # Turn equality ignores the Answer ...
    assert history_key(carried) != history_key(text_only)  # ... the key does not
    assert history_key(carried) == history_key(other) and hash(history_key(carried)) == hash(
        history_key(other)
    )
    shorter = _answered("Which provinces were struck?", "Hama")
    assert history_key(shorter) != history_key(carried)


@pytest.mark.model
def test_on_the_demo_archive_who_approved_it_is_answered_about_the_strikes(tmp_path: Path) -> None:
    """The follow-up reads as a question about the strikes and is answered from the Federation
    Council's vote, whether the reply carries its Answer (web UI, chat) or is text only (OpenAI door)."""
    from newsdesk_app.cli.main import build_demo

    desk = build_demo(tmp_path / "demo")
    first = desk.ask("Which provinces were struck?")
    assert first.short_answer == "Hama, Homs and Latakia"
    reply = f"{first.short_answer}\n\n{first.answer}"
    for history in (
        [Turn("user", first.question), Turn("assistant", reply, answer=first)],
        [Turn("user", first.question), Turn("assistant", reply)],
    ):
        follow_up = desk.ask("Who approved it?", history=history)
        assert follow_up.standalone_question == "Who approved the strikes?"
        assert follow_up.answered and "Federation Council" in follow_up.answer
        assert any("Federation Council" in c.quote for c in follow_up.citations)
