"""features.jsonl: what the answerer weighed for each question, labelled against the gold answers.

One header line names the feature lists and the format version; then one line per question with, for
each scored sentence and each short-answer candidate (best first) and each choice (as given), and
each candidate a local model judged (rag.phrase_reading; none without one), its
label (1 when it holds an acceptable answer) and its feature vector in the header's order. A scorer
is trained from these (issue 18); a file whose header differs from the code's feature lists is
refused by the reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from eval.gold import GoldQuestion
from eval.metrics import contains_answer, short_answer_matches
from index.errors import NewsdeskError
from rag.answerers import Draft
from rag.features import FORMAT_VERSION, CandidateFeatures, ChoiceFeatures, SentenceFeatures
from rag.phrase_model import FEATURES as PHRASE_FEATURES

FILE_NAME = "features.jsonl"


class FeaturesFormatError(NewsdeskError):
    """A features.jsonl written with other feature lists or another format version than this code's."""


def header() -> dict[str, Any]:
    return {
        "format": "newsdesk-features",
        "version": FORMAT_VERSION,
        "sentence_features": list(SentenceFeatures.FEATURES),
        "candidate_features": list(CandidateFeatures.FEATURES),
        "choice_features": list(ChoiceFeatures.FEATURES),
        "phrase_features": list(PHRASE_FEATURES),
    }


def _vector(values: tuple[float, ...]) -> list[float]:
    return [round(v, 6) for v in values]


def question_features(draft: Draft, choices: Sequence[ChoiceFeatures], gold: GoldQuestion) -> dict[str, Any]:
    """One question's line: the sentences and candidates the answerer weighed (`draft`) and the
    records of the gold question's choices (eval.choices), each [label, vector]; candidates with their
    text."""
    return {
        "id": gold.id,
        "question_date": gold.question_date,
        "answerable": gold.answerable,
        "sentences": [
            [int(contains_answer(text, gold.answers)), _vector(f.as_vector())] for text, f in draft.sentences
        ],
        "candidates": [
            [int(short_answer_matches(text, gold.answers)), _vector(f.as_vector()), text]
            for text, f in draft.candidates
        ],
        "choices": [
            [int(contains_answer(choice, gold.answers)), _vector(f.as_vector())]
            for choice, f in zip(gold.choices, choices, strict=True)
        ],
        "phrases": [
            [int(short_answer_matches(text, gold.answers)), _vector(row), text] for text, row in draft.phrases
        ],
    }


def write_features(rows: Iterable[dict[str, Any]], out_dir: Path) -> Path:
    """Writes out_dir/features.jsonl, header first; written whole to a temporary name, then renamed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    partial = path.with_suffix(".jsonl.partial")
    with open(partial, "w", encoding="utf-8") as handle:
        for row in (header(), *rows):
            handle.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    partial.replace(path)
    return path


def read_features(path: Path) -> list[dict[str, Any]]:
    """The question lines of a features.jsonl, after checking its header against the code's feature lists."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = json.loads(lines[0]) if lines else None
    if isinstance(found, dict) and "phrase_features" not in found:
        found = {**found, "phrase_features": list(PHRASE_FEATURES)}  # written before phrases were judged
    if found != header():
        raise FeaturesFormatError(
            f"{path}: header {found!r} does not match this version's features {header()!r}"
        )
    return [json.loads(line) for line in lines[1:] if line.strip()]
