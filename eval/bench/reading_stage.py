"""Seconds to an answer's first words and to the whole answer, per reader, on one index in one run:
the extractive reader (the baseline, no model), the local model judging its answer phrases
(rag.phrase_reading, the default reading with a local model) and the same model writing the answer
(rag.answerers.GeneratedAnswerer, streamed). The model is the one NEWSDESK_LLM_GGUF names, loaded once
and shared; each reader answers one question first, untimed, so no figure includes a load.

"First words" is the first item `Newsdesk.ask_stream` yields: a streamed piece of a written answer,
or the whole answer of a reader that does not stream (the extractive and the judging readers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.bench.measure import latency, ratio
from index.errors import NewsdeskError
from rag.likelihood import PhraseJudge
from rag.phrase_model import load_phrase_model
from rag.service import Newsdesk


class ReadingStageError(NewsdeskError):
    """The reading stage was asked for without a local model to measure."""


def _timed(name: str, desk: Newsdesk, questions: Sequence[str]) -> dict[str, Any]:
    for _ in desk.ask_stream(questions[0]):  # opens the index, loads the model
        pass
    first_ms, whole_ms = [], []
    for question in questions:
        began = time.perf_counter()
        first = None
        for _ in desk.ask_stream(question):
            first = first if first is not None else time.perf_counter() - began
        whole_ms.append((time.perf_counter() - began) * 1000)
        first_ms.append((first or 0.0) * 1000)
    return {
        f"{name}_reader": desk.reader_name(),
        f"{name}_first_words": latency(first_ms),
        f"{name}_whole_answer": latency(whole_ms),
    }


def run_reading(
    index_dir: Path, questions: Sequence[str], make_desk: Callable[..., Newsdesk]
) -> dict[str, Any]:
    """The three readers' figures on `index_dir`; `make_desk(index_dir, **settings)` builds each desk
    (the command passes the one that reads the environment, so the configured model is measured)."""
    probe = make_desk(index_dir, answer_cache_size=0)
    model = probe.generator
    if model is None or not isinstance(model, PhraseJudge):
        raise ReadingStageError(
            "the reading stage measures a local model: set NEWSDESK_LLM_GGUF (for example qwen2.5-1.5b, "
            "see newsdesk models list)"
        )
    phrase_model = probe.phrase_model or load_phrase_model()
    readers = {
        "extractive": make_desk(index_dir, generator=None, answer_cache_size=0),
        "model_judging": make_desk(
            index_dir, generator=model, phrase_model=phrase_model, answer_cache_size=0
        ),
        "model_writing": make_desk(index_dir, generator=model, phrase_model=None, answer_cache_size=0),
    }
    figures: dict[str, Any] = {"questions": len(questions), "model": model.name}
    for name, desk in readers.items():
        figures.update(_timed(name, desk, questions))
    base = figures["extractive_whole_answer"]["p50_ms"]
    for name in ("model_judging", "model_writing"):
        figures[f"{name}_p50_ratio_to_extractive"] = ratio(figures[f"{name}_whole_answer"]["p50_ms"], base)
    return figures
