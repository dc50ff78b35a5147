"""The one object the CLI, the HTTP API and the web UI all call.

It opens the index lazily, picks up a new version after a write (by anyone), and
loads the embedding model once per model name.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from index.archive import IndexDirectory, Snapshot
from index.embedding import Embedder, make_embedder
from index.engine import IngestEngine
from index.errors import IndexStateError
from index.info import describe
from index.ingest import (
    DeleteReport,
    IngestOptions,
    IngestReport,
    ProgressCallback,
    delete,
    ingest,
    ingest_loaded,
)
from index.loaders import load_records
from index.milvus_served import ServedIndex, is_served_location
from index.records import Article
from rag.answer import AnswerSettings, ExtractiveAnswerer
from rag.answerers import Answerer, Draft, Evidence, GeneratedAnswerer, QuotingAnswerer
from rag.conversation import Turn, history_key, rewrite
from rag.diversity import LOOK_AHEAD, distinct_hits
from rag.generators import Generator
from rag.likelihood import PhraseJudge
from rag.phrase_model import PhraseModel
from rag.phrase_reading import PhraseReadingAnswerer
from rag.question import frame_question
from rag.records import Answer, Citation, Hit, SearchFilters
from rag.retrieval import HybridRetriever, RetrievalSettings
from rag.scoring import Scorer, default_scorer
from rag.short_answer import TOP_ARTICLES
from rag.short_answer import warm_up as warm_short_answers

ANSWER_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Reading:
    """An answer with what it was read from, for evaluation: the ranking `depth` passages deep (the
    answer read the first k distinct ones, `hits`), the answerer's draft, the question's vector and
    the index version it was all read from."""

    answer: Answer
    draft: Draft
    ranking: list[Hit]
    hits: list[Hit]
    question_vector: np.ndarray
    snapshot: Snapshot


def user_index_dir() -> Path:
    """The per-user index, where `Newsdesk()` looks when given no folder."""
    return Path(platformdirs.user_data_dir("newsdesk")) / "index"


def top_articles(snapshot: Snapshot, ranking: Sequence[Hit]) -> list[str]:
    """Title and text of the first TOP_ARTICLES articles the ranking reaches, best first."""
    ids = list(dict.fromkeys(hit.passage.article_id for hit in ranking))[:TOP_ARTICLES]
    found = (snapshot.catalog.article(article_id) for article_id in ids)
    return [f"{a.title}\n{a.text}" for a in found if a is not None]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class Newsdesk:
    def __init__(
        self,
        index_dir: Path | str | None = None,
        *,
        embedder: Embedder | None = None,
        retrieval: RetrievalSettings | None = None,
        answering: AnswerSettings | None = None,
        answer_cache_size: int = ANSWER_CACHE_SIZE,
        generator: Generator | None = None,
        scorer: Scorer | None = None,
        model_windows: bool = False,
        phrase_model: PhraseModel | None = None,
    ) -> None:
        """Nothing here reads the environment: the application builds a desk from it
        (newsdesk_app.settings). `index_dir`: default the per-user index. `scorer` weighs what the
        extractive answerer reads (default: the learned reader shipped in the package, else the hand
        weights; rag.scoring). `generator`: a language model writes the answers; None, the extractive
        answerer quotes them; `model_windows`: the model is shown windows the reader chose (rag.evidence)
        rather than whole passages. `phrase_model`: a model that can judge phrases (a local llama.cpp
        model, rag.likelihood) picks the extractive answer's short answer with it (rag.phrase_reading)
        instead of writing the answer. `answer_cache_size` 0 turns the answer cache off (benchmarks measure
        answering, not lookups)."""
        if answer_cache_size < 0:
            raise ValueError(f"answer_cache_size must be >= 0, got {answer_cache_size}")
        self.directory: IndexDirectory | ServedIndex = (
            ServedIndex(index_dir)
            if isinstance(index_dir, str) and is_served_location(index_dir)
            else IndexDirectory(index_dir or user_index_dir())
        )
        self._embedder = embedder
        self._embedders: dict[str, Embedder] = {}
        self.retrieval_settings = retrieval or RetrievalSettings()
        self.answer_settings = answering or AnswerSettings()
        self.scorer = scorer or default_scorer(self.answer_settings.weights)
        self.generator = generator
        self.model_windows = model_windows
        self.phrase_model = phrase_model
        self._snapshot: Snapshot | None = None
        self._damaged: dict[str, str] = {}  # version -> what the background checksums found
        self._verifier: threading.Thread | None = None
        self._lock = threading.Lock()
        self.answer_cache_size = answer_cache_size
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()

    @property
    def index_dir(self) -> Path:
        """The index folder; an index read from a Milvus engine alone has none (IndexStateError)."""
        return self.directory.root

    @property
    def location(self) -> str:
        """Where the index is, as messages show it: its folder, or milvus:URI#COLLECTION."""
        if isinstance(self.directory, ServedIndex):
            return self.directory.location
        return str(self.directory.root)

    def snapshot(self) -> Snapshot:
        """The live version; reopened when another write has published a newer one."""
        with self._lock:
            current = self.directory.current_version()
            damage = self._damaged.get(current or "")
            if damage is not None:
                raise IndexStateError(damage)
            if self._snapshot is None or self._snapshot.version != current:
                # The previous snapshot is not closed here: a request in another thread may still be
                # reading it. It closes when the last reference to it goes.
                self._snapshot = self.directory.open(defer_large=True)
                if self._snapshot.unverified:
                    self._verifier = threading.Thread(
                        target=self._verify_rest, args=(self._snapshot,), name="newsdesk-verify", daemon=True
                    )
                    self._verifier.start()
            return self._snapshot

    def _verify_rest(self, snapshot: Snapshot) -> None:
        """Checksums of the big files, after the server is already answering; damage found here stops
        every later question with the file's name."""
        try:
            snapshot.verify_rest()
        except IndexStateError as error:
            with self._lock:
                self._damaged[snapshot.version] = str(error)
                if self._snapshot is snapshot:
                    self._snapshot = None

    def wait_verified(self, timeout: float | None = None) -> None:
        """Block until the background checksums of the open version are done."""
        if self._verifier is not None:
            self._verifier.join(timeout)

    def embedder_for(self, model: str) -> Embedder:
        if self._embedder is not None and self._embedder.name == model:
            return self._embedder
        if model not in self._embedders:
            self._embedders[model] = make_embedder(model)
        return self._embedders[model]

    def retriever(self, snapshot: Snapshot) -> HybridRetriever:
        """The retrieval stage over `snapshot`, with this desk's settings and the index's model."""
        return HybridRetriever(snapshot, self.embedder_for(snapshot.manifest.model), self.retrieval_settings)

    def search(
        self, query: str, k: int = 5, filters: SearchFilters | None = None, as_of: date | None = None
    ) -> list[Hit]:
        return self.retriever(self.snapshot()).search(query, k, filters, as_of=as_of)

    def _cache_key(
        self,
        version: str,
        question: str,
        k: int,
        filters: SearchFilters | None,
        history: Sequence[Turn],
        as_of: date | None,
    ) -> Hashable:
        """Keyed by the version the answer is read from, and by the history as the rewrite reads it
        (a turn's text and its Answer's short answer and frame)."""
        return (version, question, k, filters or SearchFilters(), history_key(history), as_of)

    def _cached(self, key: Hashable, began: float) -> Answer | None:
        with self._lock:
            cached = self._answers.get(key)
            if cached is not None:
                self._answers.move_to_end(key)
        if cached is None:
            return None
        return replace(cached, timings_ms={"total": _ms(time.perf_counter() - began), "cached": 1.0})

    def _remember(self, key: Hashable, answer: Answer) -> None:
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self.answer_cache_size:
                self._answers.popitem(last=False)

    def ask(
        self,
        question: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
        as_of: date | None = None,
    ) -> Answer:
        """Answer `question`; with `history` (oldest first) a follow-up is retrieved in its context.
        `as_of` is the day the question is asked: it reads "this week" and prefers articles published
        shortly before it (None: no preference by time). A question asked again of the same index
        version is answered from a small LRU cache; its timings then show only the lookup, with
        `cached` set to 1."""
        for item in self.ask_stream(question, k, filters, history, as_of, stream=False):
            if isinstance(item, Answer):
                return item
        raise AssertionError("ask_stream ends with its Answer")  # pragma: no cover

    def ask_stream(
        self,
        question: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
        as_of: date | None = None,
        *,
        stream: bool = True,
    ) -> Iterator[str | Answer]:
        """`ask`, yielding the language model's text pieces as it writes them, then the `Answer`, always
        last. The answer is verified once the text is complete, so its text may differ from the pieces
        (a sentence no passage supports is dropped, markers are renumbered) and its short answer comes
        only with it. With the extractive answerer, with a generator that cannot stream, from the
        cache, or with `stream=False` (how `ask` calls it), the `Answer` is the only item."""
        began = time.perf_counter()
        snapshot = self.snapshot()  # one version for the key and the answer
        key = self._cache_key(snapshot.version, question, k, filters, history, as_of)
        cached = self._cached(key, began)
        if cached is not None:
            yield cached
            return
        for item in self._answering(snapshot, question, k, filters, history, as_of=as_of, stream=stream):
            if isinstance(item, Reading):
                self._remember(key, item.answer)
                yield item.answer
            else:
                yield item

    def read(
        self,
        question: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
        *,
        as_of: date | None = None,
        depth: int | None = None,
        weigh_every_sentence: bool = False,
    ) -> Reading:
        """`ask`, never from the cache, keeping what evaluation needs: the ranking `depth` passages deep
        (the answer reads the first k) and what the answerer weighed (`QuotingAnswerer`'s
        `weigh_every_sentence`: every sentence scored, not only those that could answer)."""
        items = self._answering(
            self.snapshot(),
            question,
            k,
            filters,
            history,
            as_of=as_of,
            depth=depth,
            weigh_every_sentence=weigh_every_sentence,
        )
        for item in items:
            if isinstance(item, Reading):
                return item
        raise AssertionError("_answering ends with its Reading")  # pragma: no cover

    def answerer(
        self, snapshot: Snapshot, as_of: date | None = None, *, weigh_every_sentence: bool = False
    ) -> Answerer:
        """The language model's answerer when one is configured, else the extractive one reading
        `snapshot` (its term weights) for a question asked on `as_of`. A model that judges phrases
        picks the extractive answer's short answer (with `phrase_model`); one that writes is shown what
        the extractive reader scores best (with `model_windows`), else the best whole passages."""
        if self.judge is not None and self.phrase_model is not None:  # self.judging, for mypy
            return PhraseReadingAnswerer(
                self.reader(snapshot, as_of),
                self.judge,
                self.phrase_model,
                weigh_every_sentence=weigh_every_sentence,
            )
        if self.generator is not None:
            return GeneratedAnswerer(
                self.generator,
                self.reader(snapshot, as_of),
                snapshot.catalog.article_passages,
                windows=self.model_windows,
            )
        return QuotingAnswerer(self.reader(snapshot, as_of), weigh_every_sentence=weigh_every_sentence)

    def reader(self, snapshot: Snapshot, as_of: date | None = None) -> ExtractiveAnswerer:
        """The sentence scorer over `snapshot` (its model, its term weights) for a question asked on
        `as_of`: what the extractive answerer reads with, and what eval weighs choices with."""
        return ExtractiveAnswerer(
            self.embedder_for(snapshot.manifest.model),
            snapshot.lexical,
            self.answer_settings,
            as_of,
            self.scorer,
        )

    def _answering(
        self,
        snapshot: Snapshot,
        question: str,
        k: int,
        filters: SearchFilters | None,
        history: Sequence[Turn],
        *,
        as_of: date | None = None,
        depth: int | None = None,
        weigh_every_sentence: bool = False,
        stream: bool = False,
    ) -> Iterator[str | Reading]:
        """Rewrite, retrieve, answer, all from `snapshot`; with `stream`, the model's text pieces come
        first as they are written (timings then hold `first_token`: when the first piece was ready).
        The Reading is last."""
        retriever = self.retriever(snapshot)
        retriever.embedder.warm_up()  # a one-off cost, not part of any question's latency
        began = time.perf_counter()
        query = rewrite(question, history)
        # A follow-up is searched in its standalone form but answered on its own words: scored against
        # the long standalone form, the follow-up's own words drown (demo gold: 0.74 -> 0.63).
        depth = max(k * LOOK_AHEAD, depth or k)  # room to replace wire copies among the first k
        ranking, query_vector = retriever.search_with_vector(query, depth, filters, as_of=as_of)
        if query != question or query_vector is None:
            query_vector = retriever.embed_query(question)
        hits = distinct_hits(ranking, k)  # wire copies read once, their outlets kept
        retrieved = time.perf_counter()
        articles = functools.cache(lambda: top_articles(snapshot, ranking))  # read once, when needed
        evidence = Evidence(question, hits, query_vector, history, articles, retrieved_as=query)
        answerer = self.answerer(snapshot, as_of, weigh_every_sentence=weigh_every_sentence)
        first_piece: float | None = None
        draft: Draft | None = None
        for item in answerer.answer(evidence, stream=stream):
            if isinstance(item, Draft):
                draft = item
                break
            if first_piece is None:
                first_piece = time.perf_counter()
            yield item
        if draft is None:
            raise AssertionError("an answerer ends with its Draft")  # pragma: no cover
        done = time.perf_counter()
        timings = {
            "retrieve": _ms(retrieved - began),
            "answer": _ms(done - retrieved),
            "total": _ms(done - began),
        }
        if first_piece is not None:
            timings["first_token"] = _ms(first_piece - began)
        answer = Answer(
            question,
            draft.text,
            draft.answered,
            draft.citations,
            timings,
            None if query == question else query,
            draft.short_answer,
            draft.verification,
            list(draft.earlier_answers),
            frame=frame_question(question),
            reader=self.reader_name(),
        )
        yield Reading(answer, draft, ranking, hits, query_vector, snapshot)

    def reader_name(self) -> str:
        """Which reader writes this desk's answers: the language model's name when one is configured,
        else the extractive answerer with its scorer ("extractive (learned)")."""
        if self.judging:
            assert self.judge is not None and self.phrase_model is not None
            declining = ", declining answers they doubt" if self.declines_doubted else ""
            judging = f"{self.judge.name} judging the extractive ({self.scorer.name}) reader's phrases"
            return judging + declining
        if self.generator is not None:
            return self.generator.name
        return f"extractive ({self.scorer.name})"

    @property
    def judging(self) -> bool:
        """Whether a local model judges the extractive reader's answer phrases (rag.phrase_reading)."""
        return self.judge is not None and self.phrase_model is not None

    @property
    def declines_doubted(self) -> bool:
        """Whether a judging model's answers also decline when the phrase model's refusal doubts them."""
        return self.judging and self.phrase_model is not None and self.phrase_model.refusal is not None

    @property
    def judge(self) -> PhraseJudge | None:
        """The language model, when it can judge answer phrases (a local llama.cpp model can)."""
        return self.generator if isinstance(self.generator, PhraseJudge) else None

    def warm_up(self) -> None:
        """Open the index and load the model now rather than on the first question."""
        snapshot = self.snapshot()
        self.embedder_for(snapshot.manifest.model).warm_up()
        warm_generator = getattr(self.generator, "warm_up", None)
        if callable(warm_generator):
            warm_generator()  # a local model loads now (and a model in parts is joined, once)
        if self.answer_settings.short_answers:
            # In the background: the server is ready without it; a first short answer waits for it.
            threading.Thread(target=warm_short_answers, name="newsdesk-spacy", daemon=True).start()

    def article(self, article_id: str) -> Article | None:
        return self.snapshot().catalog.article(article_id)

    def ingest(
        self,
        paths: Sequence[str | Path],
        options: IngestOptions | None = None,
        progress: ProgressCallback | None = None,
        engine: IngestEngine | None = None,
    ) -> IngestReport:
        """`engine` says where chunking and embedding run (index/engine.py); in this process by default."""
        embedder = self._embedder_for_write(options)
        return ingest(self.index_dir, paths, options, embedder=embedder, progress=progress, engine=engine)

    def ingest_records(self, records: Sequence[object], options: IngestOptions | None = None) -> IngestReport:
        """Articles as JSON objects in the JSONL schema (the API's POST /api/articles)."""
        embedder = self._embedder_for_write(options)
        options = options or IngestOptions()
        loaded = load_records(records, limits=options.limits, cancel=options.cancel)
        return ingest_loaded(self.index_dir, loaded, options, embedder=embedder)

    def _embedder_for_write(self, options: IngestOptions | None) -> Embedder | None:
        """The embedder already loaded here, when it is the one the write will use."""
        wanted = options.model if options else None
        if self._embedder is not None and wanted in (None, self._embedder.name):
            return self._embedder
        if wanted is None and self.directory.exists():
            # Only the model name is needed; the ingest itself opens and verifies the index.
            return self.embedder_for(self.directory.manifest().model)
        return None

    def delete(self, article_ids: Sequence[str]) -> DeleteReport:
        return delete(self.index_dir, article_ids)

    def info(self) -> dict[str, Any]:
        """What the live version holds and how it was built (index.info.describe)."""
        if isinstance(self.directory, ServedIndex):
            return self.directory.describe(self.snapshot())
        return describe(self.directory, self.snapshot())

    def close(self) -> None:
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.close()
                self._snapshot = None


__all__ = [
    "Answer",
    "Citation",
    "Hit",
    "Newsdesk",
    "Reading",
    "SearchFilters",
    "top_articles",
    "user_index_dir",
]
