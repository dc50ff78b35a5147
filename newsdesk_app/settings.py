"""The one place the environment configures a `Newsdesk`: the commands and the server build their desk
here, and the library below takes every setting as an argument.

NEWSDESK_INDEX: the index folder (default: the per-user one). NEWSDESK_READER and NEWSDESK_REFUSAL: the
reader that weighs what the extractive answerer reads (rag.scoring.scorer_from_env). NEWSDESK_LLM_*: a
language model that writes the answers instead (rag.generators.generator_from_env). NEWSDESK_ANSWER_CACHE:
how many answers are kept for questions asked again (0: none; benchmarks measure answering).
NEWSDESK_LLM_EVIDENCE: `passages` (default) or `windows`, what a language model is shown (rag.evidence).
NEWSDESK_LLM_READING: `judge` (default) or `write`: a local model judges the extractive reader's answer
phrases (rag.phrase_reading, with the phrase model NEWSDESK_PHRASE_MODEL, default the shipped one), or
writes the answer itself; a model behind an endpoint always writes. NEWSDESK_BM25: where BM25 runs for an
index in a Milvus engine that runs it (rag.retrieval.RetrievalSettings.bm25): `engine` (default), `engine-rrf`
or `newsdesk`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from index.milvus_served import is_served_location
from rag.answer import AnswerSettings
from rag.generators import generator_from_env
from rag.likelihood import PhraseJudge
from rag.phrase_model import PhraseModel, load_phrase_model
from rag.retrieval import BM25_PLACES, RetrievalSettings
from rag.scoring import scorer_from_env
from rag.service import ANSWER_CACHE_SIZE, Newsdesk, user_index_dir


def default_index_location() -> Path | str:
    """NEWSDESK_INDEX (a folder, or milvus:URI#COLLECTION for an index read from its engine alone), else
    the per-user index."""
    configured = os.environ.get("NEWSDESK_INDEX", "").strip()
    if is_served_location(configured):
        return configured
    return Path(configured).expanduser() if configured else user_index_dir()


def default_index_dir() -> Path:
    """The index folder a command that writes uses: NEWSDESK_INDEX, else the per-user index."""
    location = default_index_location()
    if isinstance(location, str):
        raise ValueError(
            f"NEWSDESK_INDEX names {location}, an index read from its Milvus engine alone, which is "
            "read-only: give the index folder that writes it (--index FOLDER)"
        )
    return location


def answer_cache_size_from_env() -> int:
    """NEWSDESK_ANSWER_CACHE, a whole number ≥ 0; unset, ANSWER_CACHE_SIZE."""
    configured = os.environ.get("NEWSDESK_ANSWER_CACHE", "").strip()
    if not configured:
        return ANSWER_CACHE_SIZE
    if not configured.isdigit():
        raise ValueError(f"NEWSDESK_ANSWER_CACHE must be a whole number ≥ 0, got {configured!r}")
    return int(configured)


def model_windows_from_env() -> bool:
    """NEWSDESK_LLM_EVIDENCE: `windows` shows a language model the windows the reader chose; `passages`
    (or unset) the best whole passages."""
    configured = os.environ.get("NEWSDESK_LLM_EVIDENCE", "").strip().lower() or "passages"
    if configured not in ("passages", "windows"):
        raise ValueError(f"NEWSDESK_LLM_EVIDENCE must be 'passages' or 'windows', got {configured!r}")
    return configured == "windows"


def retrieval_from_env() -> RetrievalSettings:
    """NEWSDESK_BM25: where BM25 runs when the index's Milvus engine runs it too (unset: the default)."""
    configured = os.environ.get("NEWSDESK_BM25", "").strip().lower()
    if not configured:
        return RetrievalSettings()
    if configured not in BM25_PLACES:
        raise ValueError(f"NEWSDESK_BM25 must be one of {', '.join(BM25_PLACES)}, got {configured!r}")
    return RetrievalSettings(bm25=configured)


def phrase_model_from_env() -> PhraseModel | None:
    """NEWSDESK_LLM_READING: `judge` (or unset) gives the phrase model a judging model uses
    (NEWSDESK_PHRASE_MODEL, else the shipped one); `write` none, so the model writes its answers.
    NEWSDESK_LLM_REFUSAL: `combined` (or unset) keeps the phrase model's refusal, `extractive` drops it,
    so only the extractive reader declines."""
    configured = os.environ.get("NEWSDESK_LLM_READING", "").strip().lower() or "judge"
    if configured not in ("judge", "write"):
        raise ValueError(f"NEWSDESK_LLM_READING must be 'judge' or 'write', got {configured!r}")
    if configured == "write":
        return None
    path = os.environ.get("NEWSDESK_PHRASE_MODEL", "").strip()
    model = load_phrase_model(Path(path).expanduser()) if path else load_phrase_model()
    refusal = os.environ.get("NEWSDESK_LLM_REFUSAL", "").strip().lower() or "combined"
    if refusal not in ("combined", "extractive"):
        raise ValueError(f"NEWSDESK_LLM_REFUSAL must be 'combined' or 'extractive', got {refusal!r}")
    return model if refusal == "combined" else replace(model, refusal=None)


def desk_from_environment(index_dir: Path | str | None = None, **overrides: Any) -> Newsdesk:
    """A `Newsdesk` on `index_dir` (default: NEWSDESK_INDEX, else the per-user index), configured by the
    environment; `overrides` are `Newsdesk` keyword arguments that win over it (`scorer=...`,
    `retrieval=...`), and a setting given is never read from the environment."""
    answering: AnswerSettings = overrides.get("answering") or AnswerSettings()
    if "scorer" not in overrides or overrides["scorer"] is None:
        overrides["scorer"] = scorer_from_env(answering.weights)
    if "generator" not in overrides:
        overrides["generator"] = generator_from_env()
    if "model_windows" not in overrides:
        overrides["model_windows"] = model_windows_from_env()
    if "phrase_model" not in overrides and isinstance(overrides["generator"], PhraseJudge):
        overrides["phrase_model"] = phrase_model_from_env()
    if overrides.get("retrieval") is None:
        overrides["retrieval"] = retrieval_from_env()
    if "answer_cache_size" not in overrides:
        overrides["answer_cache_size"] = answer_cache_size_from_env()
    return Newsdesk(index_dir or default_index_location(), **overrides)
