"""Publication dates in one shape: "YYYY-MM-DD", or a UTC "YYYY-MM-DDTHH:MM:SSZ" when the time is known.

Answers cite the date an article came out, so a date we are unsure of is refused rather than
guessed: dateutil runs with `fuzzy=False`, and a string that lacks a day ("September 2015")
is rejected instead of having today's day filled in.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from datetime import UTC, date, datetime, timedelta, timezone

from dateutil import parser as dateutil_parser

MIN_YEAR = 1800
MAX_YEAR = 2200

# Zone names seen in news feeds (RFC 822's US zones and a few more); dateutil knows only UTC/GMT
# by itself and would silently return a naive time for the rest. Other names are refused.
_ZONE_NAMES = {
    name: timezone(timedelta(hours=hours), name)
    for name, hours in {
        "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
        "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "JST": 9, "AEST": 10, "AEDT": 11,
    }.items()
}  # fmt: skip
_EPOCH_STRING = re.compile(r"-?\d{9,}(?:\.\d+)?")
_MAX_DATE_STRING = 200
# Two defaults differing in every field reveal which fields the string itself supplied.
_DEFAULT_A = datetime(2000, 1, 1, 0, 0, 0)
_DEFAULT_B = datetime(2004, 2, 2, 1, 1, 1)


def normalize_date(value: object, *, field: str = "published_at") -> str | None:
    """Read a date as it appears in feeds, JSON exports and page metadata.

    Naive date-times are taken as UTC, since that is what archives without a zone usually mean.
    Raises ValueError naming the field and the value when the value is not clearly a date.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        parsed = _parse(value)
    except (ValueError, OverflowError, OSError, dateutil_parser.UnknownTimezoneWarning):
        parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise ValueError(f"{field}: cannot read {_shown(value)} as a date")
    if isinstance(parsed, datetime):
        return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
    return parsed.isoformat()


def date_part(iso: str | None) -> str | None:
    """The day of a normalized date, for filters and citations that ignore the time."""
    return iso[:10] if iso else None


def _shown(value: object) -> str:
    if isinstance(value, time.struct_time):  # its repr hides the date behind field names
        value = time.strftime("%Y-%m-%d %H:%M:%S UTC", value)
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _parse(value: object) -> date | None:
    """A `date` when only the day is known, else an aware UTC `datetime`; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return _to_utc(value)
    if isinstance(value, date):
        return value
    if isinstance(value, time.struct_time):
        # feedparser's *_parsed fields are already in UTC.
        return datetime(*value[:6], tzinfo=UTC)
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str):
        return _from_string(value.strip())
    return None


def _from_epoch(seconds: float) -> datetime | None:
    if not math.isfinite(seconds):
        return None
    if abs(seconds) > 1e11:  # milliseconds, as JavaScript and many exports write them
        seconds /= 1000
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def _from_string(text: str) -> date | None:
    if len(text) > _MAX_DATE_STRING:
        return None
    if _EPOCH_STRING.fullmatch(text):
        return _from_epoch(float(text))
    with warnings.catch_warnings():
        warnings.simplefilter("error", dateutil_parser.UnknownTimezoneWarning)
        first = dateutil_parser.parse(text, default=_DEFAULT_A, fuzzy=False, tzinfos=_ZONE_NAMES)
        second = dateutil_parser.parse(text, default=_DEFAULT_B, fuzzy=False, tzinfos=_ZONE_NAMES)
    if first.date() != second.date():
        return None  # the string lacks a year, month or day
    if first.hour != second.hour:
        return first.date()  # no time of day in the string
    return _to_utc(first)


def _to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
