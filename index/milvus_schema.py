"""The collection `index.milvus_store` keeps its rows in: fields, sentinels, filters and how it is made.

Only what every Milvus engine here has is used, so that one store runs on Milvus Lite 3.2.2, the Milvus
2.5 engine and 2.4+ servers alike: sentinel values instead of nullable fields (the 2.5 engine refuses
`nullable`), FLAT and INVERTED indexes, and BM25 inside the engine only where the engine has the BM25
function and the `english` analyzer (2.5+; a collection made without them leaves BM25 to newsdesk).
"""

from __future__ import annotations

import string
from datetime import date
from typing import Any

from index.vectors import RowFields, RowFilter

UNDATED = 0  # `published` of an undated row: every date bound excludes it, as NULL fails one in SQL
NO_SOURCE = ""  # `source` of a row without an outlet
ALIVE = 1 << 62  # `died` of a row that no version has removed
TEXT_BYTES = 65_535  # the longest VARCHAR Milvus takes, in bytes
DESCRIPTION = "newsdesk vectors"
# The fields of a collection newsdesk made, in order; TEXT_FIELDS follow them where the engine runs
# BM25. Every engine describes a collection's fields (Milvus Lite 3.2.2 returns no description), so
# they mark a collection as newsdesk's, which it may drop to start over; other fields are someone else's.
FIELDS = ("key", "vector", "published", "source", "born", "died")
TEXT_FIELDS = ("text", "sparse")  # the title and chunk text, and the BM25 function's output
# Where each passage sits and what its citation shows, so that a server needs nothing but the engine.
PASSAGE_FIELDS = (
    "chunk_id",
    "article_id",
    "ordinal",
    "start",
    "end",
    "title",
    "outlet",
    "url",
    "published_at",
)
WHOLE = FIELDS + TEXT_FIELDS + PASSAGE_FIELDS
VERSIONS_SUFFIX = "__versions"  # the collection that names each published version (see milvus_versions)
ANALYZER = {"type": "english"}  # the standard tokenizer, lowercasing, English stop words and stemming
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def day_number(day: str | None) -> int:
    """2015-09-30 -> 20150930, ordered as the catalog's ISO days are; UNDATED for None."""
    if day is None:
        return UNDATED
    try:
        parsed = date.fromisoformat(day[:10])
    except ValueError as error:
        raise ValueError(f"expected an ISO date, got {day!r}") from error
    return parsed.year * 10_000 + parsed.month * 100 + parsed.day


def literal(text: str) -> str:
    """A Milvus string literal. Milvus Lite reads no \\u escapes, so other characters go in as they are."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def sqlite_lower(text: str | None) -> str:
    """Lowercase as SQLite's lower() does, ASCII letters only; NO_SOURCE for None."""
    return NO_SOURCE if text is None else text.translate(_ASCII_LOWER)


def where_expression(where: RowFilter) -> str:
    """The Milvus filter that keeps the rows `Catalog.filtered_rows` keeps for the same filters: undated
    rows fail any date bound, and outlets match after lowercasing, the query's with Python's lower() and
    the stored one with SQLite's (ASCII only), as the catalog does; a row without an outlet matches none."""
    clauses = []
    if where.since:
        clauses.append(f"published >= {day_number(where.since)}")
    if where.until:
        clauses.append(f"published <= {day_number(where.until)}")
        if not where.since:
            clauses.append(f"published > {UNDATED}")
    if where.sources:
        wanted = [literal(s.lower()) for s in where.sources if s.lower() != NO_SOURCE]
        clauses.append(f"source in [{', '.join(wanted)}]" if wanted else "key < 0")
    return " and ".join(clauses)


def truncated(text: str, limit: int = TEXT_BYTES) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, on a character boundary."""
    encoded = text.encode("utf-8", "surrogatepass")
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", "ignore")


def bm25_text(title: str, text: str) -> str:
    """What BM25 reads of a chunk, here as in newsdesk's own index (`Catalog.embedding_inputs`)."""
    return f"{title}\n{text}"


def row_values(fields: RowFields, *, whole: bool) -> dict[str, Any]:
    """The filter fields of a new row, as the collection stores them; `whole`: its text and passage too."""
    values: dict[str, Any] = {
        "published": day_number(fields.published_date),
        "source": sqlite_lower(fields.source),
    }
    if whole:
        values |= {
            "text": truncated(bm25_text(fields.title, fields.text)),
            "chunk_id": truncated(fields.chunk_id),
            "article_id": truncated(fields.article_id),
            "ordinal": fields.ordinal,
            "start": fields.start,
            "end": fields.end,
            "title": truncated(fields.title),
            "outlet": truncated(fields.source or ""),
            "url": truncated(fields.url or ""),
            "published_at": fields.published_at or "",
        }
    return values


def field_names(description: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(field["name"]) for field in description.get("fields", []))


def made_by_newsdesk(description: dict[str, Any]) -> bool:
    """Whether a described collection is one this module made (and may drop)."""
    named = description.get("description") in (None, "", DESCRIPTION)
    return named and field_names(description) in (FIELDS, WHOLE)


def create_collection(client: Any, name: str, dimension: int, *, with_text: bool) -> None:
    """An empty, loaded collection; `with_text` adds the text field, the engine's BM25 function and the
    passage fields (WHOLE)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description=DESCRIPTION)
    schema.add_field("key", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("published", DataType.INT64)
    schema.add_field("source", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("born", DataType.INT64)
    schema.add_field("died", DataType.INT64)
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    for field in ("published", "source", "born", "died"):
        indexes.add_index(field_name=field, index_type="INVERTED")
    if with_text:
        schema.add_field(
            "text", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True, analyzer_params=ANALYZER
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        indexes.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        for field in PASSAGE_FIELDS:
            if field in ("ordinal", "start", "end"):
                schema.add_field(field, DataType.INT64)
            else:
                schema.add_field(field, DataType.VARCHAR, max_length=TEXT_BYTES)
        indexes.add_index(field_name="article_id", index_type="INVERTED")
    # Bounded: a reader asks for the timestamp of the version's write instead (see index.milvus_store).
    client.create_collection(name, schema=schema, consistency_level="Bounded")
    # Not waited for: the collection is empty, and Milvus Lite lacks the call pymilvus waits with
    # (each index then cost 0.5 s of retries).
    client.create_index(name, indexes, sync=False)
    client.load_collection(name)
