"""Click options shared by the commands: the index, -k, the date filters and the day a question is asked."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click

from index.dates import date_part, normalize_date
from index.milvus_served import is_served_location
from newsdesk_app.cli.errors import F
from rag.records import SearchFilters
from rag.when import parse_as_of

INDEX_HELP = "Index directory (default: $NEWSDESK_INDEX or the per-user data directory)."


class IndexLocation(click.ParamType[Path | str, Any]):
    """An index folder, or `milvus:URI#COLLECTION` for an index read from a Milvus engine alone."""

    name = "FOLDER|milvus:URI#COLLECTION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if is_served_location(value):
            if "#" not in value:
                self.fail(f"name the collection too: milvus:URI#COLLECTION, got {value!r}", param, ctx)
            return value
        return Path(value)


def read_index_option_for(help: str) -> Callable[[F], F]:
    """--index for a command that only reads: a folder, or a Milvus engine alone (milvus:URI#COLLECTION)."""
    return click.option("--index", "index_dir", type=IndexLocation(), default=None, help=help)


READ_INDEX_HELP = (
    "Index directory, or milvus:URI#COLLECTION to read an index from its Milvus engine alone "
    "(default: $NEWSDESK_INDEX or the per-user data directory)."
)
read_index_option = read_index_option_for(READ_INDEX_HELP)


class IndexFolder(click.ParamType[Path, Any]):
    """An index folder, for a command that writes (or checks) one: a Milvus engine alone is refused."""

    name = "FOLDER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if is_served_location(value):
            self.fail(
                f"{value} is an index read from its Milvus engine alone, which serve, ask, search, chat, "
                "info and eval read: to write, give the index folder that writes it",
                param,
                ctx,
            )
        return Path(value)


def index_option_for(help: str) -> Callable[[F], F]:
    """--index, with the help text saying what this command does with it."""
    return click.option("--index", "index_dir", type=IndexFolder(), default=None, help=help)


def index_option(command: F) -> F:
    return index_option_for(INDEX_HELP)(command)


def k_option(help: str) -> Callable[[F], F]:
    return click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True, help=help)


def limit_option(help: str) -> Callable[[F], F]:
    return click.option("--limit", type=click.IntRange(1), default=None, help=help)


def out_option(help: str) -> Callable[[F], F]:
    """--out, a folder the command writes its reports to."""
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help=help)


def corpus_option(help: str, *, multiple: bool) -> Callable[[F], F]:
    """--corpus: article files to ingest before the command runs."""
    files = click.Path(exists=True, path_type=Path)
    return click.option("--corpus", multiple=multiple, type=files, help=help)


def gold_argument(command: F) -> F:
    """GOLD: a gold question set, one JSON question a line."""
    return click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))(command)


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date_part(normalize_date(value, field=f"--{param.name}"))
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


def _as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    try:
        return parse_as_of(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


def query_options(command: F) -> F:
    """-k, --index and the filters, which reach the command as one `filters` argument."""

    @functools.wraps(command)
    def with_filters(
        *args: Any, since: str | None, until: str | None, sources: tuple[str, ...], **kwargs: Any
    ) -> Any:
        return command(*args, filters=SearchFilters(since, until, sources), **kwargs)

    for option in reversed(
        [
            read_index_option,
            k_option("Passages to retrieve."),
            click.option("--since", callback=_date, help="Only articles published on or after this date."),
            click.option("--until", callback=_date, help="Only articles published on or before this date."),
            click.option(
                "--as-of",
                "as_of",
                callback=_as_of,
                help="The day the question is asked (YYYY-MM-DD): 'this week' is read against it and "
                "articles published shortly before it come first. Default: today, for reading only.",
            ),
            click.option(
                "--source", "sources", multiple=True, help="Only articles from this outlet (repeatable)."
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text."),
        ]
    ):
        with_filters = option(with_filters)
    return with_filters  # type: ignore[return-value]
