"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis): whatever a client sends that the
schema allows, or nearly allows, the server answers without a 500 and with a response the schema
describes (status code, content type, body shape)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation.modes import GenerationMode

from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.service import Newsdesk
from tests.conftest import article

KEY = "fuzz-key"
ARTICLES = [
    article(
        "strikes",
        "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday.",
        source="Harbor Ledger",
    ),
    article("quake", "An earthquake shook the coast of Chile on Monday.", published_at="2014-04-01"),
]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    folder = tmp_path_factory.mktemp("fuzz")
    source = folder / "news.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    desk = Newsdesk(folder / "index", embedder=HashingEmbedder())
    desk.ingest([source])
    return create_app(desk, ServerSettings(ui=False, api_keys=(KEY,)), load_now=True)


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


# Checked: no 5xx, documented status codes, content types and headers, response bodies that match
# their schema, and schema-breaking requests refused with 4xx. Not checked: that every request the
# schema allows is accepted, because some rules are beyond JSON Schema (a date in any of the formats
# the loaders read, a question that is not blank, a conversation that ends with the user); those are
# refused with 422 naming the field, as tests/test_api.py shows.
# Every operation of the schema, named here so that each is its own test (the last test checks that
# this list and the schema agree). schemathesis' own pytest hook does not run under pytest 9.
OPERATIONS = [
    ("POST", "/api/ask"),
    ("POST", "/api/search"),
    ("GET", "/api/stats"),
    ("POST", "/api/articles"),
    ("POST", "/api/files"),
    ("GET", "/api/articles/{article_id}"),
    ("DELETE", "/api/articles/{article_id}"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/health"),
]
EXAMPLES = int(os.environ.get("NEWSDESK_FUZZ_EXAMPLES", "100"))  # per operation and mode
TRIED: Counter[str] = Counter()  # requests sent, per operation and mode (`-s` prints the total)
AUTH = {"Authorization": f"Bearer {KEY}"}


WITH_BODY = [(method, path) for method, path in OPERATIONS if method == "POST"]
CASES = [(*op, GenerationMode.POSITIVE) for op in OPERATIONS]
# Only a body can break the schema: any string is a valid article id in a path.
CASES += [(*op, GenerationMode.NEGATIVE) for op in WITH_BODY]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_request_gives_a_500_or_an_undocumented_response(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    """Requests that fit the schema, and requests that break it (wrong types, missing fields, bytes
    that are not JSON)."""
    operation = api_schema[path][method]
    excluded = [positive_data_acceptance]
    if path == "/api/files":  # a file part is bytes whatever the fuzzer meant; 413 (too many) is a refusal
        excluded.append(negative_data_rejection)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        TRIED[f"{method} {path} {mode}"] += 1
        case.call_and_validate(headers=AUTH, excluded_checks=excluded)

    call()
    assert TRIED[f"{method} {path} {mode}"] > 0


def test_every_operation_in_the_schema_is_fuzzed(api_schema: Any) -> None:
    documented = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


def test_the_fuzzed_index_still_loads(fuzzed_app: FastAPI) -> None:
    """Whatever the fuzzer wrote or deleted, the archive on disk is whole and answers."""
    print(f"\nschemathesis sent {sum(TRIED.values())} requests over {len(TRIED)} operation/mode pairs")
    desk: Newsdesk = fuzzed_app.state.desk
    reopened = Newsdesk(Path(desk.index_dir), embedder=HashingEmbedder())
    assert reopened.info()["articles"] >= 0
    reopened.search("earthquake", 3)
