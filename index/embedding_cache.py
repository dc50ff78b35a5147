"""A persistent cache of passage vectors, shared by every index on this machine.

Keyed by the embedding key (a hash of the model name and the exact text embedded), so a vector is
reused whenever the same passage is embedded by the same model again: re-ingesting a corpus into a
new index, rebuilding after a change of index backend, or re-running an ingest that failed late.
The file lives in the user cache directory (`$NEWSDESK_CACHE_DIR` overrides it); setting
`NEWSDESK_EMBEDDING_CACHE=off` turns the cache off, any other value is taken as the file to use.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from index.onnx_embedding import model_cache_dir

_LOOKUP_BATCH = 500


def default_cache_path() -> Path | None:
    configured = os.environ.get("NEWSDESK_EMBEDDING_CACHE", "").strip()
    if configured.lower() in {"off", "0", "false", "no", "none"}:
        return None
    if configured:
        return Path(configured).expanduser()
    return model_cache_dir().parent / "embeddings.sqlite"


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dimension INTEGER, vector BLOB) "
            "WITHOUT ROWID"
        )
        self._lock = threading.Lock()
        self.write_error: str | None = None  # why the cache stopped taking vectors (a full disk, say)

    @classmethod
    def open_default(cls, problems: list[str] | None = None) -> EmbeddingCache | None:
        """The user's cache, or None when it is off or cannot be opened (then why, in `problems`): a
        cache that cannot open only costs time, never the ingest."""
        path = default_cache_path()
        if path is None:
            return None
        try:
            return cls(path)
        except sqlite3.Error as error:
            if problems is not None:
                problems.append(f"the embedding cache {path} cannot be opened ({error}); not caching")
            return None

    def get_many(self, keys: Iterable[str], dimension: int) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(wanted), _LOOKUP_BATCH):
                batch = wanted[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE dimension = ? AND key IN ({marks})",
                    [dimension, *batch],
                )
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Keep these vectors. A cache that cannot be written (its disk is full) stops taking them and
        says why in `write_error`: it only costs time, never the ingest."""
        if self.write_error is not None:
            return
        rows = [
            (key, int(v.shape[0]), np.ascontiguousarray(v, np.float32).tobytes())
            for key, v in vectors.items()
        ]
        with self._lock:
            try:
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            except sqlite3.Error as error:
                self.write_error = f"the embedding cache {self.path} cannot be written ({error}); not caching"

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM vectors").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
