"""Time expressions read against an as-of date, on hand-worked dates."""

from __future__ import annotations

from datetime import date

import pytest

from rag.when import TimeScope, parse_as_of, read_time

AS_OF = date(2022, 3, 10)  # a Thursday


@pytest.mark.parametrize(
    ("question", "since", "until", "recent"),
    [
        ("What did the mayor announce today?", "2022-03-10", "2022-03-10", True),
        ("Who resigned yesterday?", "2022-03-09", "2022-03-09", True),
        ("Which company unveiled an electric car this week?", "2022-03-03", "2022-03-10", True),
        ("What happened last week in Kyiv?", "2022-02-24", "2022-03-05", True),
        ("How much did prices rise this month?", "2022-03-01", "2022-03-10", True),
        ("Which team won the final last month?", "2022-02-01", "2022-02-28", True),
        ("What was the biggest story this year?", "2022-01-01", "2022-03-10", True),
        ("Who won the election last year?", "2021-01-01", "2021-12-31", True),
        ("What changed in the past two weeks?", "2022-02-24", "2022-03-10", True),
        ("What did the council decide three days ago?", "2022-03-06", "2022-03-08", False),
        ("What was reported in September 2015?", "2015-09-01", "2015-10-03", False),
        ("What happened on 30 September 2015 in Syria?", "2015-09-29", "2015-10-02", False),
        ("What happened on September 30, 2015?", "2015-09-29", "2015-10-02", False),
        ("Who led the polls in May 2019?", "2019-05-01", "2019-06-03", False),
    ],
)
def test_expressions_become_date_ranges(question: str, since: str, until: str, recent: bool) -> None:
    scope = read_time(question, AS_OF)
    assert (scope.since, scope.until, scope.recent) == (since, until, recent)
    assert scope.phrase and scope.phrase.lower() in question.lower()


def test_a_leap_year_and_the_turn_of_a_year() -> None:
    assert read_time("What happened last month?", date(2024, 3, 15)).until == "2024-02-29"
    assert read_time("What happened last month?", date(2023, 1, 5)).since == "2022-12-01"
    assert read_time("Who spoke this week?", date(2023, 1, 3)).since == "2022-12-27"


def test_recency_words_without_a_period_prefer_new_articles_without_a_range() -> None:
    scope = read_time("Who is the latest minister to resign?", AS_OF)
    assert scope == TimeScope(recent=True, phrase="latest")
    assert not read_time("Which provinces were struck?", AS_OF).recent


def test_a_bare_year_names_an_event_as_often_as_a_date_of_reporting_and_is_not_read() -> None:
    scope = read_time("Who is running for president in 2024?", AS_OF)
    assert not scope.bounded


def test_without_an_as_of_date_only_absolute_dates_are_read() -> None:
    assert read_time("Who resigned yesterday?", None) == TimeScope(recent=True, phrase="yesterday")
    assert read_time("What happened in September 2015?", None).since == "2015-09-01"


def test_an_impossible_date_is_not_read_as_one() -> None:
    assert read_time("What happened on 31 February 2015?", AS_OF).since == "2015-02-01"  # the month, then


def test_as_of_values() -> None:
    assert parse_as_of("2022-03-10") == AS_OF
    assert parse_as_of("2022-03-10T23:00:00Z") == AS_OF
    assert parse_as_of(None) is None
    with pytest.raises(ValueError, match="as_of: 'next Tuesday' is not a date"):
        parse_as_of("next Tuesday")
