"""The published versions of a Milvus index, kept in the engine beside its rows, so that a server needs
nothing but the engine's URI (`newsdesk serve --index milvus:URI#COLLECTION`).

A write publishes a version in its folder first (CURRENT, as for any index), then announces it in the
collection COLLECTION__versions: one row per version, keyed by its generation, holding its name, manifest,
write timestamp and what `info` and the web chat show (counts, date range, outlets, recent titles). The
newest row is the live version for every server on the engine. A write killed between the two leaves the
servers on the version before, whose rows stay whole until the next write, which announces again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from index import catalog as catalog_module
from index.archive import CATALOG_NAME
from index.catalog import Catalog
from index.errors import IndexStateError
from index.manifest import Manifest, read_manifest
from index.milvus_engine import engine_errors
from index.milvus_schema import TEXT_BYTES, VERSIONS_SUFFIX, truncated
from index.milvus_store import STATE_FILE

KEPT = 4  # version rows kept: the live one and a few before it, for servers still reading them
RECENT_TITLES = 200  # what the web chat suggests questions from
MAX_OUTLETS = 200


def versions_collection(collection: str) -> str:
    return collection + VERSIONS_SUFFIX


def _create(client: Any, name: str) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("generation", DataType.INT64, is_primary=True)
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field in a collection
    schema.add_field("version", DataType.VARCHAR, max_length=64)
    schema.add_field("manifest", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("summary", DataType.VARCHAR, max_length=TEXT_BYTES)
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, indexes, sync=False)
    client.load_collection(name)


def summary_of(catalog: Catalog, state: dict[str, Any]) -> dict[str, Any]:
    stats = catalog.stats()
    outlets = dict(list(stats["outlets"].items())[:MAX_OUTLETS])
    return {
        **stats,
        "outlets": outlets,
        "recent_titles": catalog.recent_titles(RECENT_TITLES),
        "generation": int(state["generation"]),
        "rows": int(state["rows"]),
        "write_timestamp": int(state.get("write_timestamp", 0)),
    }


def announce(client: Any, uri: str, collection: str, folder: Path) -> None:
    """Name the version in `folder`, just published (or rolled back to), as the live one in the engine."""
    manifest = read_manifest(folder)
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    connection = catalog_module.connect(folder / CATALOG_NAME, read_only=True)
    try:
        summary = summary_of(Catalog(connection), state)
    finally:
        connection.close()
    fields = asdict(manifest) | {"files": {}}  # the folder's checksums mean nothing to a server without it
    row = {
        "generation": summary["generation"],
        "unused": [0.0, 0.0],
        "version": folder.name,
        "manifest": json.dumps(fields),
        "summary": truncated(json.dumps(summary, ensure_ascii=False)),
    }
    name = versions_collection(collection)
    with engine_errors(uri, name, "announce the version"):
        if not client.has_collection(name):
            _create(client, name)
        client.upsert(name, [row])
        # Newer rows too: a version announced is the live one, also when a repair rolled back to it.
        generation = row["generation"]
        client.delete(name, filter=f"generation <= {generation - KEPT} or generation > {generation}")
        client.flush(name)


def announce_quietly(client: Any, uri: str, collection: str, folder: Path) -> None:
    """`announce`, a failure logged: the version is already published in its folder, and servers on the
    engine stay on the one before until the next write announces."""
    try:
        announce(client, uri, collection, folder)
    except Exception as error:
        logging.getLogger(__name__).warning(
            "published %s, but could not announce it in Milvus: servers reading the engine alone stay on "
            "the version before until the next write (%s)",
            folder.name,
            error,
        )


def live_generation(client: Any, uri: str, collection: str) -> int | None:
    """The newest announced generation, None when none is. Read Bounded, as servers poll it for every
    question: a version announced a moment ago is picked up a moment later."""
    name = versions_collection(collection)
    with engine_errors(uri, name, "read the live version"):
        if not client.has_collection(name):
            return None
        rows = client.query(
            name, filter="generation >= 0", output_fields=["generation"], consistency_level="Bounded"
        )
    return max((int(row["generation"]) for row in rows), default=None)


def version_row(client: Any, uri: str, collection: str, generation: int) -> dict[str, Any]:
    """The announced version of this generation: its name, manifest and summary."""
    name = versions_collection(collection)
    with engine_errors(uri, name, "read the live version"):
        found = client.query(
            name,
            ids=[generation],
            output_fields=["version", "manifest", "summary"],
            consistency_level="Strong",
        )
    if not found:
        raise IndexStateError(f"Milvus collection {name!r} lost the row of generation {generation}")
    return {
        "generation": generation,
        "version": str(found[0]["version"]),
        "manifest": json.loads(found[0]["manifest"]),
        "summary": json.loads(found[0]["summary"]),
    }


def manifest_from(fields: dict[str, Any], where: str) -> Manifest:
    try:
        return Manifest(**fields)
    except TypeError as error:
        raise IndexStateError(f"{where}: the announced manifest's fields are wrong ({error})") from error
