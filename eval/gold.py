"""Gold question sets: one JSON object a line, read strictly so that a typo is found, not scored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.dates import date_part, normalize_date
from index.errors import InputError, NewsdeskError
from rag.conversation import Turn


class GoldFormatError(NewsdeskError):
    def __init__(self, errors: list[InputError]) -> None:
        shown = "\n".join(f"  {e}" for e in errors[:20])
        super().__init__(f"{len(errors)} gold line(s) are malformed:\n{shown}")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    required_terms: tuple[str, ...] = ()
    answerable: bool = True
    gold_article_ids: tuple[str, ...] = ()
    question_date: str | None = None
    choices: tuple[str, ...] = ()
    history: tuple[Turn, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _strings(record: dict[str, Any], name: str) -> tuple[str, ...]:
    value = record.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {name!r} must be a list of strings")
    return tuple(value)


def _history(record: dict[str, Any]) -> tuple[Turn, ...]:
    value = record.get("history", [])
    if not isinstance(value, list):
        raise ValueError("field 'history' must be a list of {role, content} objects")
    turns = []
    for turn in value:
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise ValueError("field 'history' must hold objects with role 'user' or 'assistant'")
        if not isinstance(turn.get("content"), str):
            raise ValueError("field 'history' entries need a string 'content'")
        turns.append(Turn(turn["role"], turn["content"]))
    return tuple(turns)


def parse_question(record: object) -> GoldQuestion:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for name in ("id", "question"):
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise ValueError(f"field {name!r} must be a non-empty string")
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ValueError("field 'answerable' must be true or false")
    answers = _strings(record, "answers")
    if answerable and not answers:
        raise ValueError("an answerable question needs at least one entry in 'answers'")
    raw_date = record.get("question_date")
    known = {
        "id",
        "question",
        "answers",
        "required_terms",
        "answerable",
        "gold_article_ids",
        "question_date",
        "choices",
        "history",
    }
    return GoldQuestion(
        id=record["id"],
        question=record["question"].strip(),
        answers=answers,
        required_terms=_strings(record, "required_terms"),
        answerable=answerable,
        gold_article_ids=_strings(record, "gold_article_ids"),
        question_date=date_part(normalize_date(raw_date, field="question_date")) if raw_date else None,
        choices=_strings(record, "choices"),
        history=_history(record),
        extra={k: v for k, v in record.items() if k not in known},
    )


def load_gold(path: Path | str) -> list[GoldQuestion]:
    """Every question of the file, or GoldFormatError naming each bad line."""
    path = Path(path)
    questions: list[GoldQuestion] = []
    errors: list[InputError] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise NewsdeskError(f"{path}: cannot read the gold file ({error})") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = parse_question(json.loads(line))
            if question.id in seen:
                raise ValueError(f"duplicate id {question.id!r}")
        except (ValueError, json.JSONDecodeError) as error:
            errors.append(InputError(f"{path}:{number}", str(error)))
            continue
        seen.add(question.id)
        questions.append(question)
    if errors:
        raise GoldFormatError(errors)
    if not questions:
        raise NewsdeskError(f"{path}: holds no questions")
    return questions
