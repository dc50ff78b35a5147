"""The one object the CLI, the HTTP API and the web UI all call.

It opens the index lazily, picks up a new version after a write (by anyone), and
loads the embedding model once per model name.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
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
from index.manifest import MANIFEST_NAME
from index.records import Article
from rag.answer import NOT_FOUND, AnswerSettings, ExtractiveAnswerer, ScoredSentence, closest_passages
from rag.choices import TOP_ARTICLES, choice_features, pick_choice
from rag.conversation import Turn, rewrite
from rag.diversity import LOOK_AHEAD, distinct_hits
from rag.features import CandidateFeatures, ChoiceFeatures, SentenceFeatures
from rag.generators import (
    Generated,
    Generator,
    StreamingGenerator,
    answer_pieces,
    generator_from_env,
    pack_passages,
    parse_reply,
)
from rag.records import Answer, Citation, EarlierAnswer, Hit, SearchFilters
from rag.retrieval import HybridRetriever, RetrievalSettings
from rag.scoring import Scorer, scorer_from_env
from rag.short_answer import MAX_SENTENCES, ShortAnswer, short_answer
from rag.short_answer import warm_up as warm_short_answers
from rag.verify import verify


@dataclass(frozen=True, slots=True)
class Trace:
    answer: Answer
    ranking: list[Hit]
    picked_choice: int | None = None
    # What the extractive answerer weighed (text, features), best first, for `newsdesk eval` to write.
    sentences: tuple[tuple[str, SentenceFeatures], ...] = ()
    candidates: tuple[tuple[str, CandidateFeatures], ...] = ()
    choices: tuple[ChoiceFeatures, ...] = ()  # one per choice asked, in the order given


def default_index_dir() -> Path:
    configured = os.environ.get("NEWSDESK_INDEX")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("newsdesk")) / "index"


def _top_articles(snapshot: Snapshot, ranking: Sequence[Hit]) -> list[str]:
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
        answer_cache_size: int | None = None,
        generator: Generator | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        """`scorer` weighs what the extractive answerer reads (default: NEWSDESK_READER, else the
        learned reader shipped in the package, else the hand weights; rag.scoring)."""
        self.directory = IndexDirectory(index_dir or default_index_dir())
        self._embedder = embedder
        self._embedders: dict[str, Embedder] = {}
        self.retrieval_settings = retrieval or RetrievalSettings()
        self.answer_settings = answering or AnswerSettings()
        self.scorer = scorer or scorer_from_env(self.answer_settings.weights)
        # A language model when one is configured (NEWSDESK_LLM_BASE_URL or NEWSDESK_LLM_GGUF);
        # else the extractive answerer.
        self.generator = generator if generator is not None else generator_from_env()
        self._snapshot: Snapshot | None = None
        self._damaged: dict[str, str] = {}  # version -> what the background checksums found
        self._verifier: threading.Thread | None = None
        self._lock = threading.Lock()
        # NEWSDESK_ANSWER_CACHE=0 turns the cache off (benchmarks measure answering, not lookups).
        configured = os.environ.get("NEWSDESK_ANSWER_CACHE", "").strip()
        default_size = int(configured) if configured.isdigit() else 256
        self.answer_cache_size = default_size if answer_cache_size is None else answer_cache_size
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()

    @property
    def index_dir(self) -> Path:
        return self.directory.root

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

    def _retriever(self, snapshot: Snapshot) -> HybridRetriever:
        return HybridRetriever(snapshot, self.embedder_for(snapshot.manifest.model), self.retrieval_settings)

    def search(
        self, query: str, k: int = 5, filters: SearchFilters | None = None, as_of: date | None = None
    ) -> list[Hit]:
        return self._retriever(self.snapshot()).search(query, k, filters, as_of=as_of)

    def _cache_key(
        self,
        question: str,
        k: int,
        filters: SearchFilters | None,
        history: Sequence[Turn],
        as_of: date | None,
    ) -> Hashable:
        return (self.snapshot().version, question, k, filters or SearchFilters(), tuple(history), as_of)

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
        began = time.perf_counter()
        key = self._cache_key(question, k, filters, history, as_of)
        cached = self._cached(key, began)
        if cached is not None:
            return cached
        answer = self.ask_traced(question, k, filters, history, as_of=as_of).answer
        self._remember(key, answer)
        return answer

    def ask_stream(
        self,
        question: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
        as_of: date | None = None,
    ) -> Iterator[str | Answer]:
        """`ask`, yielding the language model's text pieces as it writes them, then the `Answer`, always
        last. The answer is verified once the text is complete, so its text may differ from the pieces
        (a sentence no passage supports is dropped, markers are renumbered) and its short answer comes
        only with it. With the extractive answerer, with a generator that cannot stream, or from the
        cache, the `Answer` is the only item."""
        began = time.perf_counter()
        key = self._cache_key(question, k, filters, history, as_of)
        cached = self._cached(key, began)
        if cached is not None:
            yield cached
            return
        for item in self._answering(question, k, filters, history, as_of=as_of, stream=True):
            if isinstance(item, Trace):
                self._remember(key, item.answer)
                yield item.answer
            else:
                yield item

    def ask_traced(
        self,
        question: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
        *,
        as_of: date | None = None,
        depth: int | None = None,
        choices: Sequence[str] = (),
    ) -> Trace:
        """`ask`, keeping what evaluation needs: the ranking `depth` passages deep (the answer reads the
        first k) and, for a multiple-choice question, the choice best supported by that evidence."""
        for item in self._answering(question, k, filters, history, as_of=as_of, depth=depth, choices=choices):
            if isinstance(item, Trace):
                return item
        raise AssertionError("_answering ends with its Trace")  # pragma: no cover

    def _answering(
        self,
        question: str,
        k: int,
        filters: SearchFilters | None,
        history: Sequence[Turn],
        *,
        as_of: date | None = None,
        depth: int | None = None,
        choices: Sequence[str] = (),
        stream: bool = False,
    ) -> Iterator[str | Trace]:
        """Retrieve, answer and verify; with `stream`, the model's text pieces come first as they are
        written (timings then hold `first_token`: when the first piece was ready). The Trace is last."""
        snapshot = self.snapshot()
        retriever = self._retriever(snapshot)
        retriever.embedder.warm_up()  # a one-off cost, not part of any question's latency
        began = time.perf_counter()
        query = rewrite(question, history)
        # A follow-up is searched in its standalone form but answered on its own words: scored against
        # the long standalone form, the follow-up's own words drown (demo gold: 0.74 -> 0.63).
        depth = max(k * LOOK_AHEAD, depth or k)  # room to replace wire copies among the first k
        ranking, query_vector = retriever.search_with_vector(query, depth, filters, as_of=as_of)
        if query != question or query_vector is None:
            query_vector = retriever.embed_query(question)
        question_vector = query_vector
        hits = distinct_hits(ranking, k)  # wire copies read once, their outlets kept
        retrieved = time.perf_counter()
        answerer = ExtractiveAnswerer(
            retriever.embedder, snapshot.lexical, self.answer_settings, as_of, self.scorer
        )
        if choices:
            answerer.score_sentences(question, hits, question_vector)  # one full scoring serves both
        top_articles = functools.cache(lambda: _top_articles(snapshot, ranking))  # read once, when needed
        verification = None
        earlier: list[EarlierAnswer] = []
        weighed: tuple[tuple[str, SentenceFeatures], ...] = ()
        candidates: tuple[tuple[str, CandidateFeatures], ...] = ()
        first_piece: float | None = None
        if self.generator is not None:
            passages = pack_passages(hits)
            if stream and isinstance(self.generator, StreamingGenerator):
                reply: list[str] = []
                for piece in answer_pieces(self.generator.stream(question, passages, history), reply):
                    if first_piece is None:
                        first_piece = time.perf_counter()
                    yield piece
                generated = parse_reply("".join(reply))
            else:
                generated = self.generator.generate(question, passages, history)
            text, answered, citations, short, verification = self._checked(generated, passages)
        else:
            found, read = self._short_answer(question, hits, top_articles, answerer, question_vector)
            lead = read[found.sentence] if found else None
            text, answered, citations = answerer.answer(
                question, hits, question_vector, lead, found.text if found else None
            )
            short = found.text if found and answered else None
            earlier = list(found.earlier) if found and answered else []
            candidates = found.candidates if found else ()
            weighed = tuple(  # already scored for the answer: no second scoring
                (hits[s.hit_index].passage.text[s.start : s.end], s.features)
                for s in answerer.best_scored(question, hits, question_vector, limit=None)
            )
        done = time.perf_counter()
        timings = {
            "retrieve": _ms(retrieved - began),
            "answer": _ms(done - retrieved),
            "total": _ms(done - began),
        }
        if first_piece is not None:
            timings["first_token"] = _ms(first_piece - began)
        rewritten = None if query == question else query
        answer = Answer(question, text, answered, citations, timings, rewritten, short, verification, earlier)
        picked: int | None = None
        weighed_choices: tuple[ChoiceFeatures, ...] = ()
        if choices:
            weighed_choices = tuple(
                choice_features(
                    answerer, question, hits, choices, top_articles(), question_vector, candidates
                )
            )
            picked = pick_choice(weighed_choices, self.scorer)
        yield Trace(answer, ranking, picked, weighed, candidates, weighed_choices)

    def _short_answer(
        self,
        question: str,
        hits: Sequence[Hit],
        top_articles: Callable[[], list[str]],
        answerer: ExtractiveAnswerer,
        question_vector: np.ndarray,
    ) -> tuple[ShortAnswer | None, list[ScoredSentence]]:
        """The answer phrase, from the best sentences, checked against the top articles; and the
        sentences it was read from (by hand support, as the candidates' features were learned)."""
        if not self.answer_settings.short_answers:
            return None, []
        eligible = answerer.best_scored(question, hits, question_vector, limit=None)
        if answerer.declines(eligible):
            return None, []  # nothing to read it from, or the answer will decline
        scored = sorted(eligible, key=lambda s: (-s.support, s.hit_index, s.start))[:MAX_SENTENCES]
        sentences = [(hits[s.hit_index].passage.text[s.start : s.end], s.support) for s in scored]
        origins = [(hits[s.hit_index].passage.published_at, hits[s.hit_index].passage.source) for s in scored]
        outlets = [hit.passage.source for hit in hits if hit.passage.source]
        found = short_answer(
            question,
            sentences,
            outlets,
            top_articles(),
            answerer.embedder.embed,
            origins,
            self.answer_settings.weights,
            self.scorer,
        )
        return found, scored

    def _checked(
        self, generated: Generated, passages: Sequence[Hit]
    ) -> tuple[str, bool, list[Citation], str | None, dict[str, int]]:
        """The language model's answer, every sentence checked against the passages (rag.verify)."""
        text, citations, verification = verify(generated.text, passages)
        if generated.declined or not citations:
            return NOT_FOUND, False, closest_passages(passages), None, verification.as_dict()
        short = generated.short_answer
        if short and not any(short.lower() in c.text.lower() for c in citations):
            short = None  # a short answer is a claim too: kept only when a cited passage holds it
        return text, True, citations, short, verification.as_dict()

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
        snapshot = self.snapshot()
        folder = snapshot.root / "versions" / snapshot.version
        manifest = snapshot.manifest
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return {
            "index": str(snapshot.root),
            "version": snapshot.version,
            **snapshot.catalog.stats(),
            "model": manifest.model,
            "dimension": manifest.dimension,
            "chunker": manifest.chunker,
            "vector_backend": manifest.vector_backend,
            "vector_search": str(getattr(snapshot.vectors, "kind", manifest.vector_backend)),
            "size_bytes": size,
            "created_at": manifest.created_at,
            "manifest": str(folder / MANIFEST_NAME),
            # Newest first; the ones before the live version are what `check --repair` can roll back to.
            "versions": self.directory.version_summaries(),
            "keep_versions": self.directory.keep_versions,
        }

    def close(self) -> None:
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.close()
                self._snapshot = None


__all__ = ["Answer", "Citation", "Hit", "Newsdesk", "SearchFilters", "default_index_dir"]
