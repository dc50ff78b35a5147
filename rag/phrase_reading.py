"""The model reader: the extractive answer, its short answer chosen by the learned reader and a local
model together.

`PhraseReadingAnswerer` weighs the passages as the extractive reader does (rag.answerers.QuotingAnswerer:
sentences scored, short-answer candidates read from the best of them), then shows a local model the
sentences the candidates come from and has it judge the candidates (rag.likelihood, one prompt) and
write its own phrase, which joins them when a sentence read quotes it. rag.phrase_model combines the
two readers' scores. The chosen phrase leads the answer with the sentence that holds it, so every short
answer is a quote by construction and every citation is the extractive reader's. When the combined
chance of the best phrase is under the model's threshold no short answer is given; when the extractive
reader declines, so does this one, and the model is not asked.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from rag.answer import ExtractiveAnswerer
from rag.answerers import Draft, Evidence, QuotingAnswerer, Weighed, quoted
from rag.likelihood import PhraseJudge
from rag.phrase_model import MAX_PHRASES, PhraseModel, phrase_rows
from rag.short_answer import ShortAnswer


class PhraseReadingAnswerer:
    def __init__(
        self,
        reader: ExtractiveAnswerer,
        judge: PhraseJudge,
        model: PhraseModel,
        *,
        weigh_every_sentence: bool = False,
    ) -> None:
        """`weigh_every_sentence`: as QuotingAnswerer's (newsdesk eval weighs choices with them)."""
        self.quoting = QuotingAnswerer(reader, weigh_every_sentence=weigh_every_sentence)
        self.judge = judge
        self.model = model

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
        short, judged = self.choose(evidence, weighed, on_piece)
        drafted = self.quoting.draft_from(evidence, weighed, short)
        if not weighed.read:
            return drafted
        # What the model was shown: the sentences read (the extractive reader's evidence is every
        # sentence that could answer, more than these).
        shown = tuple(evidence.hits[s.hit_index].passage.text[s.start : s.end] for s in weighed.read)
        return replace(drafted, phrases=judged, evidence=shown)

    def choose(
        self, evidence: Evidence, weighed: Weighed, on_piece: Callable[[str], None] | None = None
    ) -> tuple[ShortAnswer | None, tuple[tuple[str, tuple[float, ...]], ...]]:
        """The short answer and the phrases judged, each with its row of rag.phrase_model features.
        The phrases are the learned reader's best candidates and, when it is quoted in a sentence read
        and is none of them, the phrase the model writes itself. The extractive short answer stands
        when the combined model agrees with the learned reader's best candidate (it may be a list or
        the newest figure built from it); None when the best chance is under the threshold."""
        found, read = weighed.found, weighed.read
        if not read:
            return found, ()  # the reader declines, or has no sentence to read a phrase from
        candidates = found.candidates[:MAX_PHRASES] if found else ()
        phrases = [text for text, _ in candidates]
        learned = self.quoting.reader.scorer.candidate_scores([features for _, features in candidates])
        sentences = [evidence.hits[s.hit_index].passage.text[s.start : s.end] for s in read]
        reading = self.judge.read_phrases(evidence.question, sentences, phrases, on_piece)
        quoting = next((n for n, sentence in enumerate(sentences) if quoted(reading.own, sentence)), None)
        own_added = quoting is not None and not any(
            quoted(reading.own, p) and quoted(p, reading.own) for p in phrases
        )
        rows = phrase_rows(phrases, learned, reading, own_added=own_added)
        shown = [*phrases, reading.own][: len(rows)]
        judged = tuple(
            (phrase, tuple(float(v) for v in row)) for phrase, row in zip(shown, rows, strict=True)
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
        return ShortAnswer(reading.own, quoting, candidates=found.candidates if found else ()), judged
