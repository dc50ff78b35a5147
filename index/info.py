"""What `newsdesk info` and `GET /info` show about an index: its live version, what it holds, how it
was built, and the versions kept on disk.

It lives beside the index rather than in the answering service because everything in it comes from
the index directory, the loaded snapshot and its manifest; the service, the command line and the
HTTP API only pass it on.
"""

from __future__ import annotations

from typing import Any

from index.archive import IndexDirectory, Snapshot
from index.manifest import MANIFEST_NAME


def described_version(snapshot: Snapshot) -> dict[str, Any]:
    """What a loaded version holds and how it was built, wherever it is read from."""
    manifest = snapshot.manifest
    return {
        "version": snapshot.version,
        **snapshot.catalog.stats(),
        "model": manifest.model,
        "dimension": manifest.dimension,
        "chunker": manifest.chunker,
        "vector_backend": manifest.vector_backend,
        # How the store searches now ("exact", an IVF-PQ spec, a Milvus collection), where it says.
        "vector_search": str(getattr(snapshot.vectors, "kind", manifest.vector_backend)),
        "created_at": manifest.created_at,
    }


def describe(directory: IndexDirectory, snapshot: Snapshot) -> dict[str, Any]:
    """The index as JSON-ready values. `snapshot` is the live version as the caller loaded it (so the
    counts are the ones its answers use); `directory` lists every version kept beside it."""
    folder = snapshot.root / "versions" / snapshot.version
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return {
        "index": str(snapshot.root),
        **described_version(snapshot),
        "size_bytes": size,
        "manifest": str(folder / MANIFEST_NAME),
        # Newest first; the ones before the live version are what `check --repair` can roll back to.
        "versions": directory.version_summaries(),
        "keep_versions": directory.keep_versions,
    }
