"""Newsdesk against a real OpenAI-compatible server, not a fake: llama-cpp-python's own server
(`python -m llama_cpp.server`, from the `llama-cpp-python[server]` extra) serving SmolLM2-135M.

The server is started by the module fixture on 127.0.0.1 and a free port, and stopped (terminate, then
wait; kill if it will not go) whatever the tests do. `OpenAIChatGenerator` talks to it as it would to
vLLM, Ollama or OpenAI: streamed server-sent events, then the verified answer. SmolLM2 answers poorly
and invents citations, so the tests assert what Newsdesk does with a real stream (pieces before the
answer, every citation kept pointing at a passage that supports it), never the quality of the answer.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from index.embedding import HashingEmbedder
from newsdesk_app.server.app import create_app
from newsdesk_app.server.settings import ServerSettings
from rag.generators import GeneratorError, OpenAIChatGenerator
from rag.local_model import resolve_model
from rag.records import Answer, Citation
from rag.service import Newsdesk
from tests.checks import assert_verified
from tests.conftest import article
from tests.servers import free_port, serving
from tests.test_generators import INJECTION, QUAKE, STRIKES

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
START_TIMEOUT_S = 120
# The server, in a fresh process, with llama.cpp's extra buffer types off while the model loads: the
# native build crashes in decode on these CPUs without it (rag/local_model.py, which does the same).
LAUNCH = """
import runpy, sys
import llama_cpp.llama_cpp as low
default = low.llama_model_default_params
def params():
    found = default()
    found.use_extra_bufts = False
    return found
low.llama_model_default_params = params
model, port = sys.argv[1:3]
sys.argv = ["llama_cpp.server", "--model", model, "--model_alias", "smollm2", "--host", "127.0.0.1",
            "--port", port, "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1"]
runpy.run_module("llama_cpp.server", run_name="__main__")
"""


def _missing() -> str | None:
    for module, install in (
        ("llama_cpp", "pip install 'newsdesk[llm]'"),
        ("sse_starlette", "pip install 'llama-cpp-python[server]'"),
        ("starlette_context", "pip install 'llama-cpp-python[server]'"),
        ("pydantic_settings", "pip install 'llama-cpp-python[server]'"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({install})"
    try:
        resolve_model("smollm2")
    except GeneratorError as error:
        return str(error)
    return None


MISSING = _missing()
pytestmark = [pytest.mark.llm, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (…/v1) of llama-cpp-python's server on loopback, serving SmolLM2."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(resolve_model("smollm2")), str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with {process.returncode}: {log_path.read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama_cpp.server did not answer in {START_TIMEOUT_S} s: {log_path.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def desk(llama_server: str, tmp_path_factory: pytest.TempPathFactory) -> Newsdesk:
    folder = tmp_path_factory.mktemp("archive")
    records = [
        article("strikes", STRIKES, title="Russia strikes Syria"),
        article("quake", QUAKE, title="Chile earthquake"),
        article("notice", INJECTION, title="Maintenance notice"),
    ]
    path = folder / "news.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    generator = OpenAIChatGenerator(llama_server, "smollm2", timeout=120)
    service = Newsdesk(folder / "index", embedder=HashingEmbedder(), generator=generator, answer_cache_size=0)
    service.ingest([path])
    return service


# At temperature 0 SmolLM2 answers the first with no citation (all dropped: the archive does not say) and
# the others with sentences the verifier points at the passage that holds them.
QUESTIONS = (
    "Which provinces did the Russian jets strike?",
    "What shook the coast of Chile?",
    "How many people died in Chile?",
)


def test_ask_stream_gives_the_servers_pieces_then_the_verified_answer(desk: Newsdesk) -> None:
    answered = []
    for question in QUESTIONS:
        items = list(desk.ask_stream(question))
        *pieces, answer = items
        assert isinstance(answer, Answer), items
        assert pieces and all(isinstance(p, str) and p for p in pieces), "nothing streamed before the answer"
        assert 0 < answer.timings_ms["first_token"] < answer.timings_ms["total"]
        assert_verified(answer, desk)
        answered += [c.article_id for c in answer.citations if answer.answered]
    assert "quake" in answered, "no answer kept a citation: the verified branch went untested"


@pytest.fixture
def newsdesk_server(desk: Newsdesk) -> Iterator[str]:
    """Newsdesk's own server on loopback, its answers written by the llama.cpp server."""
    with serving(create_app(desk, ServerSettings(ui=False), load_now=True)) as url:
        yield url


def test_the_http_api_streams_the_servers_tokens_then_citations_and_the_verified_answer(
    desk: Newsdesk, newsdesk_server: str
) -> None:
    question = {"question": QUESTIONS[1], "stream": True}
    events: list[tuple[str, Any]] = []
    with httpx.stream("POST", f"{newsdesk_server}/api/ask", json=question, timeout=120) as response:
        assert response.status_code == 200
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["citations", "done"] and kinds.count("token") >= 1, kinds
    assert set(kinds[:-2]) == {"token"}
    done = events[-1][1]
    answer = Answer(
        done["question"],
        done["answer"],
        done["answered"],
        [
            Citation(**{k: v for k, v in c.items() if k in Citation.__dataclass_fields__})
            for c in events[-2][1]
        ],
        verification=done["verification"],
        short_answer=done["short_answer"],
    )
    assert_verified(answer, desk)
    assert answer.answered and answer.citations[0].article_id == "quake"
