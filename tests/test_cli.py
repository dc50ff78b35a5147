"""The command line end to end, through Click's runner, with the model-free embedder."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

import newsdesk_app.cli.main as cli
from newsdesk_app.cli.main import main
from tests.conftest import DEMO_DIR, article
from tests.test_generators import FakeModel, model  # noqa: F401 - `model` is a fixture used below

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def build(tmp_path: Path, write_jsonl: Writer) -> Path:
    path = write_jsonl(
        "news.jsonl",
        [
            article(
                "strikes",
                "Russian jets struck positions in the provinces of Hama, Homs and Latakia on Wednesday.",
                title="Russia strikes Syria",
                source="Harbor Ledger",
            ),
            article(
                "quake",
                "An earthquake shook the coast of Chile on Monday, and a tsunami warning followed.",
                published_at="2014-04-01",
                source="Northern Wire",
            ),
        ],
    )
    index = tmp_path / "index"
    result = run("ingest", path, "--index", index, "--model", "hashing")
    assert result.exit_code == 0, result.output
    assert "added 2" in result.output
    return index


def test_ask_json_has_the_documented_shape(tmp_path: Path, write_jsonl: Writer) -> None:
    index = build(tmp_path, write_jsonl)
    result = run("ask", "Which provinces were struck by Russian jets?", "--index", index, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    fields = {"question", "short_answer", "answer", "answered", "citations", "timings_ms", "reader"}
    assert set(data) == fields
    assert data["reader"] == "extractive (learned)"  # the shipped learned reader, no model configured
    assert data["answered"] is True and "Hama, Homs and Latakia on Wednesday. [1]" in data["answer"]
    assert data["short_answer"] == "Hama, Homs and Latakia"
    citation = data["citations"][0]
    assert set(citation) == {
        "n",
        "article_id",
        "chunk_id",
        "title",
        "source",
        "url",
        "published_at",
        "text",
        "start",
        "end",
        "quote_start",
        "quote_end",
        "score",
        "also_reported_by",
        "supported",
        "support",
    }
    assert (citation["article_id"], citation["source"], citation["published_at"]) == (
        "strikes",
        "Harbor Ledger",
        "2015-09-30",
    )
    assert "Latakia" in citation["text"][citation["quote_start"] : citation["quote_end"]]
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}


def test_human_output_shows_answer_and_numbered_sources(tmp_path: Path, write_jsonl: Writer) -> None:
    index = build(tmp_path, write_jsonl)
    result = run("ask", "Which provinces were struck by Russian jets?", "--index", index)
    assert result.exit_code == 0
    assert (
        "Sources" in result.output
        and "[1] Russia strikes Syria — Harbor Ledger · 2015-09-30" in result.output
    )


def test_search_and_filters(tmp_path: Path, write_jsonl: Writer) -> None:
    index = build(tmp_path, write_jsonl)
    result = run("search", "earthquake tsunami", "--index", index, "--json", "-k", "1")
    assert json.loads(result.output)["hits"][0]["article_id"] == "quake"
    result = run("search", "earthquake tsunami", "--index", index, "--json", "--since", "2015-01-01")
    assert [h["article_id"] for h in json.loads(result.output)["hits"]] == ["strikes"]
    result = run("search", "x", "--index", index, "--since", "yesterday-ish")
    assert result.exit_code == 2 and "--since" in result.output


def test_info_and_delete(tmp_path: Path, write_jsonl: Writer) -> None:
    index = build(tmp_path, write_jsonl)
    info = json.loads(run("info", "--index", index, "--json").output)
    assert (info["articles"], info["model"], info["date_range"]) == (
        2,
        "hashing",
        ["2014-04-01", "2015-09-30"],
    )
    assert info["outlets"] == {"Harbor Ledger": 1, "Northern Wire": 1} and info["size_bytes"] > 0
    assert (info["vector_backend"], info["vector_search"]) == ("tiered", "exact")
    assert "search      exact" in run("info", "--index", index).output
    assert run("delete", "quake", "--index", index).exit_code == 0
    assert json.loads(run("info", "--index", index, "--json").output)["articles"] == 1
    result = run("delete", "quake", "--index", index)
    assert result.exit_code == 1 and "not in the index: quake" in result.output


def test_missing_path_is_exit_code_2_with_the_path_named(tmp_path: Path) -> None:
    result = run("ingest", tmp_path / "nowhere.jsonl", "--index", tmp_path / "index", "--model", "hashing")
    assert result.exit_code == 2
    assert "nowhere.jsonl" in result.output and "Traceback" not in result.output


def test_malformed_line_names_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(article("a", "Fine text here.")) + '\n{"id": "b", "text": 5}\n', encoding="utf-8"
    )
    result = run("ingest", bad, "--index", tmp_path / "index", "--model", "hashing")
    assert result.exit_code == 1
    assert "bad.jsonl:2" in result.output and "'text'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "index" / "CURRENT").exists()
    result = run("ingest", bad, "--index", tmp_path / "index", "--model", "hashing", "--skip-errors")
    assert result.exit_code == 0 and "added 1" in result.output and "bad.jsonl:2" in result.output


def test_asking_an_index_that_does_not_exist_says_how_to_make_one(tmp_path: Path) -> None:
    result = run("ask", "anything", "--index", tmp_path / "empty")
    assert result.exit_code == 1 and "newsdesk ingest" in result.output


def test_env_variable_sets_the_default_index(tmp_path: Path, write_jsonl: Writer, monkeypatch: Any) -> None:
    index = build(tmp_path, write_jsonl)
    monkeypatch.setenv("NEWSDESK_INDEX", str(index))
    assert json.loads(run("info", "--json").output)["index"] == str(index)


def test_chat_answers_each_line_until_end_of_input(tmp_path: Path, write_jsonl: Writer) -> None:
    index = build(tmp_path, write_jsonl)
    result = run("chat", "--index", index, input="Which provinces were struck by Russian jets?\nexit\n")
    assert result.exit_code == 0
    assert "2 articles" in result.output and "Hama, Homs and Latakia on Wednesday. [1]" in result.output


@pytest.mark.parametrize("command", [["chat"], ["demo", "--chat"]], ids=["chat", "demo --chat"])
def test_chat_keeps_the_conversation_so_a_follow_up_is_read_in_context(
    tmp_path: Path, command: list[str]
) -> None:
    index = tmp_path / "demo"
    assert run("ingest", DEMO_DIR / "articles.jsonl", "--index", index, "--model", "hashing").exit_code == 0
    result = run(*command, "--index", index, input="Which provinces were struck?\nWho approved it?\n")
    assert result.exit_code == 0, result.output
    first, follow_up = result.output.split("› Who approved it?\n")
    assert "Hama, Homs and Latakia" in first and "Read as:" not in first
    # Rewritten from the first reply's structured answer: "it" is what was done to the provinces.
    assert follow_up.splitlines()[0] == "Read as: Who approved the strikes?", follow_up
    assert "Federation Council" in follow_up


def test_chat_streams_a_models_draft_then_prints_the_verified_answer_and_sends_the_history(
    tmp_path: Path,
    write_jsonl: Writer,
    model: FakeModel,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in a terminal: the model's text on stderr as it writes it, then the checked answer on stdout;
    the second question goes to the model with the first exchange before it."""
    index = build(tmp_path, write_jsonl)
    model.reply = (
        "Short answer: Hama, Homs and Latakia\n"
        "Russian jets struck positions in Hama, Homs and Latakia on Wednesday. [1] It rained in Lima. [2]"
    )
    monkeypatch.setenv("NEWSDESK_LLM_BASE_URL", model.url)
    monkeypatch.delenv("NEWSDESK_LLM_GGUF", raising=False)
    drafts = io.StringIO()
    monkeypatch.setattr(cli, "stderr", Console(file=drafts, force_terminal=True, color_system=None))
    result = run("chat", "--index", index, input="Which provinces were struck?\nWhen was that?\n")
    assert result.exit_code == 0, result.output
    assert model.reply.split("\n", 1)[1] in drafts.getvalue()  # the draft, as the model wrote it
    assert "It rained in Lima" not in result.output  # the verified answer dropped what nothing supports
    assert "Hama, Homs and Latakia\nRussian jets struck positions in Hama, Homs and Latakia" in result.output
    sent = model.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "Which provinces were struck?" and "Hama" in sent[2]["content"]


def test_in_chat_a_model_that_fails_ends_the_question_not_the_conversation(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = build(tmp_path, write_jsonl)
    monkeypatch.setenv("NEWSDESK_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.delenv("NEWSDESK_LLM_GGUF", raising=False)
    result = run("chat", "--index", index, input="Which provinces were struck?\nAnd the quake?\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("the language model at http://127.0.0.1:9/v1 failed") == 2
    assert "› And the quake?" in result.output and "Traceback" not in result.output


def test_ask_shows_no_draft_of_an_answer_that_comes_whole(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = build(tmp_path, write_jsonl)
    drafts = io.StringIO()
    monkeypatch.setattr(cli, "stderr", Console(file=drafts, force_terminal=True, color_system=None))
    result = run("ask", "Which provinces were struck by Russian jets?", "--index", index)
    assert result.exit_code == 0 and "Hama, Homs and Latakia on Wednesday. [1]" in result.output
    assert drafts.getvalue() == ""  # printed once, on stdout, not a second time as a draft


def test_a_directory_with_odd_files_reports_each_and_indexes_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "cafe.txt").write_bytes(
        "Café reopens\n\nThe café on Rue Centrale reopened.".encode("cp1252")
    )
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)))
    (folder / "empty.md").write_text("# Only a title\n", encoding="utf-8")
    (folder / "report.pdf").write_text("not really a pdf", encoding="utf-8")
    result = run("ingest", folder, "--index", tmp_path / "index", "--model", "hashing")
    assert result.exit_code == 0, result.output
    assert "added 1" in result.output
    assert "photo.jpg: binary file" in result.output
    assert "empty.md: empty text" in result.output
    assert "report.pdf: unsupported file type '.pdf'" in result.output
    assert "cafe.txt" in result.output and "warning" in result.output
    answer = json.loads(run("ask", "Which café reopened?", "--index", tmp_path / "index", "--json").output)
    assert "Rue Centrale" in answer["answer"]


def test_serving_an_open_api_on_a_network_address_is_refused_with_the_way_out(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSDESK_API_KEY", raising=False)
    monkeypatch.delenv("NEWSDESK_READONLY_API_KEY", raising=False)
    result = run("serve", "--index", build(tmp_path, write_jsonl), "--host", "0.0.0.0", "--no-ui")
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in result.output
    assert "--allow-unauthenticated" in result.output


def test_ingest_says_how_many_vectors_came_from_the_embedding_cache(
    tmp_path: Path, write_jsonl: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_EMBEDDING_CACHE", str(tmp_path / "cache.sqlite"))
    build(tmp_path, write_jsonl)  # fills the cache
    again = run("ingest", tmp_path / "news.jsonl", "--index", tmp_path / "second", "--model", "hashing")
    assert "2 chunks written, 0 embedded (2 from the embedding cache)" in again.output
    third = run(
        "ingest", tmp_path / "news.jsonl", "--index", tmp_path / "third", "--model", "hashing", "--json"
    )
    assert json.loads(third.output)["chunks_from_cache"] == 2


def test_a_named_file_that_cannot_be_read_exits_1_naming_it_unless_skip_errors(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    good = write_jsonl("news.jsonl", [article("bridge", "The old bridge reopened on Friday.")])
    corrupt = tmp_path / "corrupt.txt"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00 damaged \x00\x01")
    result = run("ingest", good, corrupt, "--index", tmp_path / "index", "--model", "hashing")
    assert result.exit_code == 1, result.output
    assert f"{corrupt}: binary file" in result.output and "nothing was written" in result.output
    assert not (tmp_path / "index" / "CURRENT").exists()
    skipping = run(
        "ingest", good, corrupt, "--index", tmp_path / "index", "--model", "hashing", "--skip-errors"
    )
    assert skipping.exit_code == 0, skipping.output
    assert "added 1" in skipping.output and f"error (skipped) {corrupt}: binary file" in skipping.output


def test_links_out_of_the_folder_are_listed_as_skipped_unless_follow_symlinks(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "harbour.txt").write_text("Harbour\nThe harbour reopened after the storm.", encoding="utf-8")
    private = tmp_path / "private.txt"
    private.write_text("Private\nNotes that are not part of the archive.", encoding="utf-8")
    (folder / "notes.txt").symlink_to(private)
    result = run("ingest", folder, "--index", tmp_path / "index", "--model", "hashing")
    assert result.exit_code == 0, result.output
    assert "added 1," in result.output
    assert (
        f"skipped {folder / 'notes.txt'}: symbolic link to {private} leaves {folder}; "
        "pass --follow-symlinks to read it" in result.output
    )
    followed = run("ingest", folder, "--index", tmp_path / "index", "--model", "hashing", "--follow-symlinks")
    assert followed.exit_code == 0, followed.output
    assert "added 1, updated 0, unchanged 1, skipped 0" in followed.output
    assert "--follow-symlinks" in run("ingest", "--help").output


def test_an_id_with_a_control_character_is_refused_naming_file_line_field_and_value(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    path = write_jsonl(
        "news.jsonl",
        [article("world/2015/fine", "A fine article."), article("world\x1b2015", "The bridge opened.")],
    )
    result = run("ingest", path, "--index", tmp_path / "index", "--model", "hashing")
    assert result.exit_code == 1, result.output
    assert f"{path}:2: field 'id' contains the control character U+001B" in result.output
    assert "'world\\x1b2015'" in result.output
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_no_escape_codes_reach_a_stdout_or_stderr_that_is_not_a_terminal(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    """Run as a user's shell would, with both streams piped (to a file, a log, another program)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    env["TERM"] = "xterm-256color"  # a terminal type that has colours: only the pipe should rule them out
    news = write_jsonl(
        "news.jsonl", [article("bridge", "The old bridge reopened on Friday.", source="Gazette")]
    )
    corrupt = tmp_path / "corrupt.txt"
    corrupt.write_bytes(b"\x00\x01\x02")
    index = str(tmp_path / "index")
    runs = {
        "ingest": (["ingest", str(news), "--index", index, "--model", "hashing"], 0),
        "ask": (["ask", "When did the old bridge reopen?", "--index", index], 0),
        "missing path": (["ingest", str(tmp_path / "nowhere.jsonl"), "--index", index], 2),
        "corrupt file": (["ingest", str(corrupt), "--index", index], 1),
        "no index": (["search", "bridge", "--index", str(tmp_path / "none")], 1),
    }
    for name, (args, code) in runs.items():
        done = subprocess.run(
            [sys.executable, "-m", "newsdesk_app.cli", *args],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (name, done.stdout, done.stderr)
        assert done.stdout or done.stderr, name
        assert b"\x1b[" not in done.stdout and b"\x1b[" not in done.stderr, (name, done.stdout, done.stderr)
