from __future__ import annotations

import dataclasses

import pytest

from rag.question import DATES, NAMES, NUMBERS, ORGANISATIONS, PEOPLE, PLACES, QuestionFrame, frame_question


def test_what_proportion_asks_for_a_number_in_every_stage() -> None:
    # The answerer read "what proportion" as a number and the short answer as a name; one frame now.
    frame = frame_question("What proportion of voters backed the measure?")
    assert frame.kind == "number"
    assert frame.labels == NUMBERS
    assert frame.phrase
    assert not frame.several
    assert frame.focus == "proportion of voters"
    assert frame.focus_terms == {"proport"}
    assert not frame.counts_focus  # only "how many" / "how much" count the focus


def test_which_provinces_asks_for_several_places() -> None:
    frame = frame_question("Which provinces were struck?")
    assert frame.kind == "entity"
    assert frame.labels == PLACES
    assert frame.several
    assert frame.focus == "provinces were struck"
    assert frame.focus_terms == {"provinc"}
    assert frame.subject == "the provinces that were struck"
    assert frame.years == frozenset()
    assert frame.period is None


def test_who_asks_for_a_person_or_an_organisation() -> None:
    frame = frame_question("Who approved it?")
    assert frame.kind == "entity"
    assert frame.labels == PEOPLE | ORGANISATIONS
    assert not frame.several
    assert frame.focus is None
    assert frame.focus_terms == frozenset()
    assert frame.subject == "the person who approved it"


def test_when_asks_for_a_date_and_a_named_year_must_be_in_the_evidence() -> None:
    frame = frame_question("When did the strikes begin in 2015?")
    assert frame.kind == "date"
    assert frame.labels == DATES
    assert frame.years == {"2015"}
    assert frame.period is None  # a bare year names the event, not when it was reported (rag.when)
    assert frame.subject is None


def test_how_many_counts_its_focus_and_names_its_period() -> None:
    frame = frame_question("How many cruise missiles were fired in September 2022?")
    assert frame.kind == "number"
    assert frame.labels == NUMBERS
    assert frame.counts_focus
    assert frame.focus_terms == {"cruis", "missil"}
    assert frame.years == {"2022"}
    assert frame.period == "September 2022"


def test_how_old_may_be_answered_by_a_date() -> None:
    frame = frame_question("How old was the pope when he died?")
    assert frame.kind == "number"
    assert frame.labels == NUMBERS | {"DATE"}


@pytest.mark.parametrize(
    "question", ["Why did Russia intervene?", "How did the storm form?", "What happened at the summit?"]
)
def test_why_how_and_what_happened_ask_for_no_phrase(question: str) -> None:
    frame = frame_question(question)
    assert frame.kind is None
    assert not frame.phrase
    assert frame.labels == frozenset()


def test_which_vegetables_asks_for_a_name_of_no_known_kind() -> None:
    # The list rule only knows the nouns of NOUN_KINDS; "vegetables" is not one, so the short answer
    # takes any name, one of them (noun-chunk answers like "Spinach, broad beans and tarragon" are
    # later work of issue 18).
    frame = frame_question("Which vegetables did the chef grow this week?")
    assert frame.kind == "entity"
    assert frame.labels == NAMES
    assert not frame.several
    assert frame.focus_terms == {"veget"}
    assert frame.period == "this week"
    assert frame.subject == "the vegetables that the chef grow this week"


def test_a_number_or_a_date_asked_inside_a_longer_quiz_text() -> None:
    # The answerer read only the opening words and filtered nothing here; the short answer read the whole
    # text. One rule now: the whole text, for the sentence filter too.
    frame = frame_question("She has won 32 Grammys. When did she win her first Grammy award?")
    assert (frame.kind, frame.labels) == ("date", DATES)
    frame = frame_question("Queen Elizabeth II celebrated her Jubilee, marking how many years on the throne?")
    assert (frame.kind, frame.labels) == ("number", NUMBERS)
    assert frame.counts_focus
    assert frame.focus_terms == frozenset()  # the focus is read from the opening words only


def test_a_later_who_is_not_read_as_asking_for_a_name() -> None:
    frame = frame_question("The mayor, who took office in 2019, said what about the budget?")
    assert frame.kind is None
    assert frame.labels == PEOPLE | ORGANISATIONS  # the short answer still takes a person or organisation
    assert frame.years == {"2019"}


def test_a_what_question_that_names_no_kind_still_takes_a_name() -> None:
    frame = frame_question("What is the new policy called?")
    assert frame.kind is None  # "what is" names no noun
    assert frame.labels == NAMES
    assert frame.phrase
    assert frame.subject is None


def test_the_frame_is_frozen_and_computed_once() -> None:
    frame = frame_question("Which provinces were struck?")
    assert frame_question("Which provinces were struck?") is frame
    assert isinstance(frame, QuestionFrame)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.kind = "date"  # type: ignore[misc]
