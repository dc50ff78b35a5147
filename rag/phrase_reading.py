"""The model reader: the extractive answer, its short answer chosen by the learned reader and a local
model together.

`PhraseReadingAnswerer` weighs the passages as the extractive reader does (rag.answerers.QuotingAnswerer:
sentences scored, short-answer candidates read from the best of them), then shows a local model the
sentences the learned reader scores best and has it write its own phrase, which joins the candidates
when a sentence shown quotes it, and judge the candidates (rag.likelihood, one prompt).
rag.phrase_model combines the two readers' scores. The chosen phrase leads the answer with the
sentence that holds it, so every short answer is a quote by construction and every citation is the
extractive reader's. When the combined chance of the best phrase is under the model's threshold no
short answer is given. The answer declines when the extractive reader does (the model is not asked)
and, with a phrase model that has a refusal, when that refusal finds the chosen short answer unlikely
to be right (rag.phrase_model.refusal_row: how likely the model and the learned reader find their best
phrases, whether the model's own phrase is quoted, how well the sentences match the question).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from rag.answer import ExtractiveAnswerer, ScoredSentence, sentence_text
from rag.answerers import Draft, Evidence, QuotingAnswerer, Weighed, quoted
from rag.likelihood import PhraseJudge
from rag.phrase_model import MAX_PHRASES, PhraseModel, phrase_rows, refusal_row
from rag.short_answer import ShortAnswer

SHOWN_BY_SCORE = True  # held-back fold 5: short answers 0.523 against 0.494 by hand support (not significant)


class PhraseReadingAnswerer:
    def __init__(
        self,
        reader: ExtractiveAnswerer,
        judge: PhraseJudge,
        model: PhraseModel,
        *,
        weigh_every_sentence: bool = False,
        shown_by_score: bool = SHOWN_BY_SCORE,
    ) -> None:
        """`weigh_every_sentence`: as QuotingAnswerer's (newsdesk eval weighs choices with them).
        `shown_by_score`: the model is shown the sentences the scorer (the learned reader) ranks best,
        rather than those the candidates were read from (the best by hand support)."""
        self.quoting = QuotingAnswerer(reader, weigh_every_sentence=weigh_every_sentence)
        self.judge = judge
        self.model = model
        self.shown_by_score = shown_by_score

    def answer(self, evidence: Evidence, *, stream: bool = False) -> Iterator[str | Draft]:
        """With `stream`, the phrase the model writes itself comes first, piece by piece, as a draft
        (it is often the short answer; the whole answer takes its place once the phrases are judged)."""
        if not stream:
            yield self.draft(evidence)
            return
        pieces: queue.SimpleQueue[str | Draft | BaseException | None] = queue.SimpleQueue()

        def judge() -> None:
            try:
                pieces.put(self.draft(evidence, on_piece=pieces.put))
            except BaseException as error:  # handed to the reader, raised there
                pieces.put(error)
            finally:
                pieces.put(None)

        # The judging holds the model for a few seconds at most; a reader that goes away does not wait.
        threading.Thread(target=judge, name="newsdesk-phrase-judge", daemon=True).start()
        while (item := pieces.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def draft(self, evidence: Evidence, on_piece: Callable[[str], None] | None = None) -> Draft:
        weighed = self.quoting.weigh(evidence)
        if not weighed.read:  # the reader declines, or has no sentence to read a phrase from
            return self.quoting.draft_from(evidence, weighed, weighed.found)
        shown = self.shown(weighed)
        # A lead may be any sentence shown: those the candidates were read from come first, as indexed.
        weighed = replace(weighed, read=[*weighed.read, *(s for s in shown if s not in weighed.read)])
        short, judged = self.choose(evidence, weighed, shown, on_piece)
        drafted = self.quoting.draft_from(evidence, weighed, short)
        texts = tuple(
            sentence_text(s, evidence.hits) for s in shown
        )  # answer_in_evidence: what the model read
        drafted = replace(drafted, phrases=judged, evidence=texts)
        if not self.declines(judged, weighed):
            return drafted
        # What was weighed stays (evaluation learns from it); the answer is the extractive decline's.
        declined = self.quoting.draft_from(evidence, replace(weighed, eligible=[]), None)
        return replace(
            drafted,
            text=declined.text,
            answered=False,
            citations=declined.citations,
            short_answer=None,
            earlier_answers=(),
        )

    def shown(self, weighed: Weighed) -> list[ScoredSentence]:
        """The sentences the model is shown, as many as the candidates were read from."""
        if not self.shown_by_score:
            return list(weighed.read)
        ranked = sorted(weighed.eligible, key=lambda s: (-s.score, s.hit_index, s.start))
        return ranked[: len(weighed.read)]

    def choose(
        self,
        evidence: Evidence,
        weighed: Weighed,
        shown: list[ScoredSentence],
        on_piece: Callable[[str], None] | None = None,
    ) -> tuple[ShortAnswer | None, tuple[tuple[str, tuple[float, ...]], ...]]:
        """The short answer and the phrases judged, each with its row of rag.phrase_model features.
        The phrases are the learned reader's best candidates and, when it is quoted in a sentence shown
        and is none of them, the phrase the model writes itself. The extractive short answer stands
        when the combined model agrees with the learned reader's best candidate (it may be a list or
        the newest figure built from it); None when the best chance is under the threshold."""
        found = weighed.found
        candidates = found.candidates[:MAX_PHRASES] if found else ()
        phrases = [text for text, _ in candidates]
        learned = self.quoting.reader.scorer.candidate_scores([features for _, features in candidates])
        sentences = [sentence_text(s, evidence.hits) for s in shown]
        # The model is asked a follow-up in its standalone form: it is not shown the conversation.
        asked = evidence.retrieved_as or evidence.question
        reading = self.judge.read_phrases(asked, sentences, phrases, on_piece)
        quoting = next(
            (s for s, text in zip(shown, sentences, strict=True) if quoted(reading.own, text)), None
        )
        own_added = quoting is not None and not any(
            quoted(reading.own, p) and quoted(p, reading.own) for p in phrases
        )
        rows = phrase_rows(phrases, learned, reading, own_added=own_added)
        listed = [*phrases, reading.own][: len(rows)]
        judged = tuple(
            (phrase, tuple(float(v) for v in row)) for phrase, row in zip(listed, rows, strict=True)
        )
        if not len(rows):
            return found, judged
        chances = self.model.chances(rows)
        best = int(np.argmax(chances))
        if chances[best] < self.model.threshold:
            return None, judged
        if best == 0 and found is not None:
            return found, judged
        if best < len(candidates) and found is not None:
            text, features = candidates[best]
            return replace(found, text=text, sentence=features.best_sentence, earlier=()), judged
        assert quoting is not None  # the last row is the model's own phrase, quoted in that sentence
        lead = weighed.read.index(quoting)
        return ShortAnswer(reading.own, lead, candidates=found.candidates if found else ()), judged

    def declines(self, judged: tuple[tuple[str, tuple[float, ...]], ...], weighed: Weighed) -> bool:
        """Whether the phrase model's refusal finds the short answer chosen from the `judged` phrases
        too unlikely to be right."""
        refusal = self.model.refusal
        if refusal is None or not judged:
            return False
        rows = np.asarray([row for _, row in judged])
        features = [s.features for s in weighed.eligible]
        cosines, coverages = [f.cosine for f in features], [f.coverage for f in features]
        return (
            refusal.chance(refusal_row(rows, self.model.chances(rows), cosines, coverages))
            < refusal.threshold
        )
