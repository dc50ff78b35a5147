"""Every hand-set constant of extractive reading, in one validated record.

`LinearScorer` (rag.scoring) weighs sentences, short-answer candidates and choices with these; the
learned reader (rag.reader_model) replaces the weighing, not the records. Unless a comment says
otherwise each value was measured on the RealTime QA dev set (1,185 questions, hybrid + time
retrieval, k = 5): docs/results/2026-11-27/short-answers.md for the candidates and answer length,
the choices module docstring for choices, benchmarks/refusal_sweep.py for the refusal threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class AnsweringWeights:
    # Sentences (rag.answer): support = w·cosine + (1 - w)·IDF coverage, ± the focus terms.
    semantic_weight: float = 0.5  # half meaning, half words: set by hand, never swept
    focus_bonus: float = 0.1  # a sentence naming the thing asked about (set by hand)
    other_count_penalty: float = 0.2  # numbers that count something else than asked (set by hand)
    min_support: float = 0.40  # below: decline (refusal sweep: precision 0.87 at 4.5% wrong refusals)
    second_sentence_ratio: float = 0.85  # a runner-up joins at this share of the best support (by hand)
    # Short-answer candidates (rag.short_answer).
    other_name_weight: float = 0.3  # another label than asked: 0 / 0.5 / 0.8 gave 0.306 / 0.295 / 0.286
    nearby_chars: int = 60  # how far around a mention the question's words count as its context
    nearby_weight: float = 1.0  # 1 / 2 / 4: 0.318 / 0.317 / 0.313
    agreement_weight: float = 0.3  # per top article, 1/rank: 0.1 / 0.3 / 1.0 gave 0.297 / 0.304 / 0.293
    meaning_weight: float = (
        2.0  # (1 + w·cosine to the focus): 0.5 / 1 / 2 / 4 gave 0.325 / 0.329 / 0.337 / 0.335
    )
    rival_share: float = 0.6  # a figure this close to the best, dated otherwise, is an older report (by hand)
    dateline_weight: float = 0.1  # an all-capitals mention ("WASHINGTON") is a dateline (by hand)
    vague_number_weight: float = 0.3  # "hundreds", "several" for a how-many question (by hand)
    digits_weight: float = 1.5  # "240" over "two hundred" for a how-many question (by hand)
    # Choices (eval.choices): alone 0.791 and 0.752, together 0.807 (BM25 mention counting: 0.781).
    mention_cap: int = 3  # mentions of a candidate or choice counted per top article
    support_bonus: float = 0.5  # for the choice whose best sentence supports the answer best
    passage_weight: float = 0.2  # per passage read naming the choice, 1/rank, beside its best support

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"AnsweringWeights.{field.name} must be a number ≥ 0, not {value!r}")
        for name in ("semantic_weight", "second_sentence_ratio", "rival_share"):
            if getattr(self, name) > 1:
                value = getattr(self, name)
                raise ValueError(f"AnsweringWeights.{name} is a share between 0 and 1, not {value!r}")
        if self.mention_cap < 1 or self.nearby_chars < 1:
            raise ValueError("AnsweringWeights.mention_cap and nearby_chars must be at least 1")


HAND_WEIGHTS = AnsweringWeights()
