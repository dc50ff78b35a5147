"""The backend registries: each resolves its backends, refuses an unknown spec naming the choices, and
takes a new backend without an edit to the code that chooses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from index.embedding import (
    DEFAULT_INDEX_MODEL,
    DEFAULT_MODEL,
    EMBEDDERS,
    NOMIC_MODEL,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from index.errors import IndexStateError, NewsdeskError
from index.registry import Registry
from index.vectors import (
    STORES,
    FaissStore,
    FileBackend,
    MilvusBackend,
    NumpyStore,
    new_store,
    resolve_backend,
    same_store,
    store_file,
)
from rag.generators import (
    GENERATORS,
    GeneratorBackend,
    GeneratorError,
    OpenAIChatGenerator,
    generator_from_env,
)


def test_a_spec_resolves_by_exact_name_then_longest_prefix_then_fallback() -> None:
    registry: Registry[str] = Registry("widget")
    registry.add("plain", "plain")
    registry.add("scheme", "scheme", prefix="scheme:", shown="scheme:ARG")
    registry.add("longer", "longer", prefix="scheme:long/")
    assert registry.resolve("plain") == "plain"
    assert registry.resolve("scheme") == "scheme" and registry.resolve("scheme:x") == "scheme"
    assert registry.resolve("scheme:long/x") == "longer"
    with pytest.raises(NewsdeskError, match=r"unknown widget 'plan'; known: plain, scheme:ARG, longer$"):
        registry.resolve("plan")
    assert "plan" not in registry and "scheme:y" in registry
    registry.add("other", "other", fallback=True)
    assert registry.resolve("plan") == "other"
    registry.unregister("other")
    assert "plan" not in registry


def test_a_name_prefix_or_fallback_is_registered_once() -> None:
    registry: Registry[object] = Registry("widget")
    registry.add("a", 1, prefix="a:", fallback=True)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("a", 2)
    with pytest.raises(ValueError, match="prefix 'a:' is already widget 'a'"):
        registry.add("b", 2, prefix="a:")
    with pytest.raises(ValueError, match="already the fallback"):
        registry.add("c", 3, fallback=True)

    @registry.register("d")
    def d() -> int:
        return 4

    assert registry.resolve("d") is d and registry.names() == ("a", "d")


# ------------------------------------------------------------------------------------------ vector stores


def test_vector_backends_resolve_as_before(tmp_path: Path) -> None:
    assert STORES.names() == ("numpy", "faiss-flat-ip", "tiered", "milvus")
    assert [store_file(spec) for spec in ("numpy", "faiss-flat-ip", "tiered")] == [
        "vectors.npy",
        "vectors.faiss",
        "vectors.npy",
    ]
    assert isinstance(new_store("numpy", 8), NumpyStore)
    assert isinstance(new_store("faiss-flat-ip", 8), FaissStore)
    assert resolve_backend("tiered", tmp_path) == "tiered"
    assert isinstance(STORES.resolve("milvus"), MilvusBackend)
    assert isinstance(STORES.resolve("milvus:./news.db"), MilvusBackend)
    assert store_file("milvus:./news.db#c") == "milvus.json"
    recorded = resolve_backend("milvus:./news.db#mine", tmp_path)
    assert recorded == f"milvus:{(Path.cwd() / 'news.db').resolve()}#mine"
    assert same_store("milvus:./news.db", recorded, tmp_path)  # no collection named: matched by its URI
    assert not same_store("milvus:./news.db#other", recorded, tmp_path)
    assert not same_store("numpy", "tiered", tmp_path)


def test_an_unknown_vector_backend_is_refused_with_the_same_message_as_before(tmp_path: Path) -> None:
    message = (
        r"unknown vector backend 'milvus-lite'; known: numpy, faiss-flat-ip, tiered, milvus:PATH_OR_URI$"
    )
    with pytest.raises(IndexStateError, match=message):
        resolve_backend("milvus-lite", tmp_path)
    with pytest.raises(IndexStateError, match="unknown vector backend 'http://localhost:19530'"):
        store_file("http://localhost:19530")  # a server is named milvus:http://..., as before
    with pytest.raises(IndexStateError, match=r"--store milvus: needs a Milvus Lite file"):
        resolve_backend("milvus", tmp_path)
    with pytest.raises(IndexStateError, match=r"must end in \.db"):
        resolve_backend("milvus:./news.sqlite", tmp_path)


def test_a_new_vector_backend_is_chosen_by_its_name(tmp_path: Path) -> None:
    STORES.add("numpy-copy", FileBackend(NumpyStore, "copy.npy"))
    try:
        store = new_store("numpy-copy", 4)
        store.add(np.eye(4, dtype=np.float32))
        assert store_file("numpy-copy") == "copy.npy"
        assert resolve_backend("numpy-copy", tmp_path) == "numpy-copy"
        assert "numpy-copy" in STORES.choices()
    finally:
        STORES.unregister("numpy-copy")
    with pytest.raises(IndexStateError, match="unknown vector backend 'numpy-copy'"):
        new_store("numpy-copy", 4)


# ---------------------------------------------------------------------------------------------- embedders


def test_model_names_resolve_to_their_embedders_without_loading_anything() -> None:
    assert isinstance(make_embedder("hashing"), HashingEmbedder) and make_embedder("hashing").dimension == 512
    assert make_embedder("hashing-64").dimension == 64
    assert type(make_embedder(DEFAULT_INDEX_MODEL)).__name__ == "OnnxEmbedder"
    assert type(make_embedder(None)).__name__ == "OnnxEmbedder"
    assert type(make_embedder(NOMIC_MODEL, threads=2)).__name__ == "NomicEmbedder"
    for name in (DEFAULT_MODEL, "/models/my-sentence-transformer", "hashing-x"):
        embedder = make_embedder(name)
        assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.name == name
    assert EMBEDDERS.choices()[-1] == f"{DEFAULT_MODEL} or a sentence-transformers folder"


def test_choosing_a_backend_imports_no_heavy_package() -> None:
    code = (
        "import sys\n"
        "from index.embedding import make_embedder\n"
        "from index.vectors import store_file\n"
        "from rag.generators import generator_from_env\n"
        "for name in ('all-MiniLM-L6-v2-int8', 'nomic-embed-v1.5', 'all-MiniLM-L6-v2', 'hashing'):\n"
        "    make_embedder(name)\n"
        "store_file('milvus:./news.db'); store_file('tiered'); generator_from_env()\n"
        "heavy = ('torch', 'sentence_transformers', 'onnxruntime', 'llama_cpp', 'pymilvus', 'faiss')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "NEWSDESK_LLM_GGUF": "smollm2"}
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True
    )
    assert result.stdout.strip() == "[]"


class Echo:
    name = "echo"

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def warm_up(self) -> None:
        pass

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), self.dimension), 1 / np.sqrt(self.dimension), dtype=np.float32)


def test_a_new_embedder_is_made_by_make_embedder() -> None:
    @EMBEDDERS.register("echo", prefix="echo-")
    def _echo(name: str, threads: int | None) -> Echo:
        return Echo(int(name.removeprefix("echo-")) if name != "echo" else 4)

    try:
        assert make_embedder("echo").dimension == 4 and make_embedder("echo-16").dimension == 16
    finally:
        EMBEDDERS.unregister("echo")
    assert isinstance(make_embedder("echo"), SentenceTransformerEmbedder)  # back to a folder's name


# --------------------------------------------------------------------------------------------- generators


def test_generators_are_chosen_by_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GENERATORS.names():
        monkeypatch.delenv(name, raising=False)
    assert GENERATORS.names() == ("NEWSDESK_LLM_BASE_URL", "NEWSDESK_LLM_GGUF")
    assert generator_from_env() is None
    monkeypatch.setenv("NEWSDESK_LLM_BASE_URL", " http://127.0.0.1:11434/v1/ ")
    configured = generator_from_env()
    assert isinstance(configured, OpenAIChatGenerator) and configured.base_url == "http://127.0.0.1:11434/v1"
    monkeypatch.setenv("NEWSDESK_LLM_GGUF", "smollm2")
    message = (
        "NEWSDESK_LLM_BASE_URL and NEWSDESK_LLM_GGUF are both set; set one: an endpoint or a local model"
    )
    with pytest.raises(GeneratorError, match=f"^{message}$"):
        generator_from_env()
    with pytest.raises(
        GeneratorError, match=r"unknown generator variable 'NEWSDESK_LLM_URL'; known: NEWSDESK"
    ):
        GENERATORS.resolve("NEWSDESK_LLM_URL")


def test_a_new_generator_is_configured_by_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GENERATORS.names():
        monkeypatch.delenv(name, raising=False)
    made = OpenAIChatGenerator("http://127.0.0.1:9/v1", "fixed")
    GENERATORS.add("NEWSDESK_TEST_GENERATOR", GeneratorBackend("a test model", lambda value, environ: made))
    try:
        monkeypatch.setenv("NEWSDESK_TEST_GENERATOR", "yes")
        assert generator_from_env() is made
        monkeypatch.setenv("NEWSDESK_LLM_BASE_URL", "http://127.0.0.1:9/v1")
        monkeypatch.setenv("NEWSDESK_LLM_GGUF", "smollm2")
        with pytest.raises(
            GeneratorError,
            match="NEWSDESK_LLM_BASE_URL, NEWSDESK_LLM_GGUF and NEWSDESK_TEST_GENERATOR are all set; "
            "set one: an endpoint, a local model or a test model",
        ):
            generator_from_env()
    finally:
        GENERATORS.unregister("NEWSDESK_TEST_GENERATOR")
