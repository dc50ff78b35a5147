"""Time in questions: "this week", "last month", "in September 2015", "yesterday" read against an
"as of" date (the day the question is asked; in evaluation, the gold question's date).

A named period ("in September 2015", "last month") becomes a preference for articles published in
it; otherwise a question asked as of a date prefers what was published shortly before that date
(news questions are about the present unless they say otherwise). Preferences, not filters: a
period in a question often names the event rather than its reporting, and a filter would drop the
article that answers. Filters are what the asker sets (`since`, `until`).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_YEAR = r"((?:19|20)\d\d)"
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30, "year": 365, "years": 365}
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10, "few": 3}
RECENT_WORDS = re.compile(
    r"\b(this week|this month|this year|recent(?:ly)?|latest|newest|currently|so far|upcoming|ongoing|"
    r"today|yesterday|last week|last month|past week|past month)\b",
    re.IGNORECASE,
)
# Lower case only: "New York" and "Now This" are names, "a new law" and "is now" are not.
RECENT_LOWER = re.compile(r"\b(new|now|just)\b")


@dataclass(frozen=True, slots=True)
class TimeScope:
    """What a question says about time. `since`/`until` are inclusive ISO dates (or None)."""

    since: str | None = None
    until: str | None = None
    recent: bool = False
    phrase: str | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None


def _month_number(token: str) -> int:
    token = token.lower()
    return MONTHS.get(token) or MONTHS[token[:3]]


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _span(first: date, last: date, phrase: str, recent: bool = False) -> TimeScope:
    return TimeScope(first.isoformat(), last.isoformat(), recent, phrase)


def _relative(text: str, as_of: date) -> TimeScope | None:
    rules: list[tuple[str, tuple[date, date]]] = [
        (r"\btoday\b", (as_of, as_of)),
        (r"\byesterday\b", (as_of - timedelta(days=1), as_of - timedelta(days=1))),
        (r"\b(?:this|the past) week\b", (as_of - timedelta(days=7), as_of)),
        (r"\blast week\b", (as_of - timedelta(days=14), as_of - timedelta(days=5))),
        (r"\bthis month\b", (as_of.replace(day=1), as_of)),
        (r"\bthis year\b", (date(as_of.year, 1, 1), as_of)),
        (r"\blast year\b", (date(as_of.year - 1, 1, 1), date(as_of.year - 1, 12, 31))),
    ]
    first_of_month = as_of.replace(day=1)
    previous = first_of_month - timedelta(days=1)
    rules.append((r"\blast month\b", _month_range(previous.year, previous.month)))
    for pattern, (first, last) in rules:
        found = re.search(pattern, text, re.IGNORECASE)
        if found:
            return _span(first, last, found.group(), recent=True)
    unit = r"(days?|weeks?|months?|years?)"
    counted = re.search(
        rf"\b(?:(?:in |over )?the (?:past|last) (\w+) {unit}|(\w+) {unit} ago)\b", text, re.IGNORECASE
    )
    if counted:
        amount, name = (counted.group(1), counted.group(2)) if counted.group(1) else counted.group(3, 4)
        number = int(amount) if amount.isdigit() else _NUMBERS.get(amount.lower())
        if number is not None:
            days = number * _UNITS[name.lower()]
            if counted.group(1):
                return _span(as_of - timedelta(days=days), as_of, counted.group(), recent=True)
            middle = as_of - timedelta(days=days)
            margin = timedelta(days=max(1, days // 7))
            return _span(middle - margin, min(as_of, middle + margin), counted.group())
    return None


def _absolute(text: str) -> TimeScope | None:
    day_first = re.search(rf"\b(\d{{1,2}}) {_MONTH},? {_YEAR}\b", text, re.IGNORECASE)
    month_first = re.search(rf"\b{_MONTH} (\d{{1,2}})(?:st|nd|rd|th)?,? {_YEAR}\b", text, re.IGNORECASE)
    for found, (d, m, y) in ((day_first, (1, 2, 3)), (month_first, (2, 1, 3))):
        if found:
            try:
                day = date(int(found.group(y)), _month_number(found.group(m)), int(found.group(d)))
            except ValueError:
                continue
            return _span(day - timedelta(days=1), day + timedelta(days=2), found.group())
    month_year = re.search(rf"\b{_MONTH},? {_YEAR}\b", text, re.IGNORECASE)
    if month_year:
        first, last = _month_range(int(month_year.group(2)), _month_number(month_year.group(1)))
        return _span(first, last + timedelta(days=3), month_year.group())
    # A bare year is not read: in "running for president in 2024", asked in 2023, it names the
    # event, not when it was reported (on the dev set, reading it moved gold articles down).
    return None


def read_time(question: str, as_of: date | None) -> TimeScope:
    """The time scope of `question` asked on `as_of` (None: only absolute dates can be read)."""
    absolute = _absolute(question)
    if absolute is not None:
        return absolute
    if as_of is not None:
        relative = _relative(question, as_of)
        if relative is not None:
            return relative
    cue = RECENT_WORDS.search(question) or RECENT_LOWER.search(question)
    return TimeScope(recent=cue is not None, phrase=cue.group() if cue else None)


def parse_as_of(value: str | date | None) -> date | None:
    """An ISO date (a date-time is cut to its day), or None."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as error:
        raise ValueError(f"as_of: {value!r} is not a date (use YYYY-MM-DD)") from error
