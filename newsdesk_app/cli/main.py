"""`newsdesk` command line: the group and the commands that read and write an index. Errors are
translated in one place (newsdesk_app.cli.errors); eval, train-reader and bench are added from their
own modules."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from index.chunking import ChunkerSettings
from index.engine import IngestEngine
from index.errors import NewsdeskError
from index.ingest import IngestOptions
from index.loaders import DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_RECORDS, LoadLimits
from newsdesk_app.cli.bench_command import bench_command
from newsdesk_app.cli.errors import F, reports_errors, stderr, stdout
from newsdesk_app.cli.eval_command import eval_command
from newsdesk_app.cli.models_command import models_command
from newsdesk_app.cli.options import index_option, limit_option, query_options, read_index_option
from newsdesk_app.cli.phrase_command import train_phrase_model_command
from newsdesk_app.cli.progress import IngestProgress
from newsdesk_app.cli.render import print_answer, print_hits, print_ingest_report, report_dict
from newsdesk_app.cli.train_command import train_reader_command
from newsdesk_app.settings import default_index_dir, desk_from_environment
from rag.conversation import Turn
from rag.models import describe_reader
from rag.records import Answer, SearchFilters
from rag.service import Newsdesk
from rag.streaming import exchange, reply_stream


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newsdesk")
def main() -> None:
    """Ask questions of a news archive; every answer cites the passage, outlet and date it came from."""


@main.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@index_option
@click.option(
    "--model",
    default=None,
    help="Embedding model: all-MiniLM-L6-v2-int8 (default), all-MiniLM-L6-v2 (torch), hashing, "
    "nomic-embed-v1.5 (optional, slower: see index/gguf_embedding.py), or a local folder.",
)
@click.option("--chunk-tokens", type=int, default=None, help="Chunk size in tiktoken tokens (default 200).")
@click.option("--chunk-overlap", type=int, default=None, help="Tokens repeated between chunks (default 40).")
@click.option(
    "--store",
    default=None,
    help="Where a new index keeps its vectors: tiered (the default), faiss-flat-ip, numpy, or "
    "milvus:PATH_OR_URI, a Milvus Lite file (milvus:./news.db) or a Milvus server "
    "(milvus:http://localhost:19530), optionally with #COLLECTION; needs newsdesk[scale]. "
    "The index remembers it: later commands need no flag.",
)
@click.option(
    "--skip-errors",
    is_flag=True,
    help="Index the readable records and report the rest (a named file that cannot be read included).",
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Follow symbolic links that lead out of a folder being walked (by default they are skipped "
    "and listed; links within it are followed).",
)
@limit_option("Read at most this many articles.")
@click.option(
    "--max-records",
    type=click.IntRange(1),
    default=DEFAULT_MAX_RECORDS,
    show_default=True,
    help="Stop (writing nothing) after reading more records than this, unreadable ones included.",
)
@click.option(
    "--max-decompressed-bytes",
    type=click.IntRange(1),
    default=DEFAULT_MAX_DECOMPRESSED_BYTES,
    show_default=True,
    help="Stop (writing nothing) at a file larger than this, as read after gunzip.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where chunking and embedding run: in this process, or on a Ray cluster "
    "(pip install 'newsdesk[scale]'). Both write the same index.",
)
@click.option(
    "--ray-address",
    default=None,
    help="With --engine ray: the cluster to run on (host:port, ray://host:port, or auto for one already "
    "running here). Default: a local cluster started for this command.",
)
@click.option(
    "--ray-workers",
    type=click.IntRange(1),
    default=None,
    help="With --engine ray: embedding workers, each loading the model once (default 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_errors
def ingest_command(
    paths: tuple[str, ...],
    index_dir: Path | None,
    model: str | None,
    chunk_tokens: int | None,
    chunk_overlap: int | None,
    store: str | None,
    skip_errors: bool,
    follow_symlinks: bool,
    limit: int | None,
    max_records: int,
    max_decompressed_bytes: int,
    engine: str,
    ray_address: str | None,
    ray_workers: int | None,
    as_json: bool,
) -> None:
    """Add or update articles from files or directories (JSONL, JSONL.gz, txt, md, html, RSS/Atom)."""
    if engine != "ray" and (ray_address is not None or ray_workers is not None):
        raise click.UsageError("--ray-address and --ray-workers need --engine ray")
    chunker = None
    if chunk_tokens is not None or chunk_overlap is not None:
        defaults = ChunkerSettings()
        chunker = ChunkerSettings(
            chunk_tokens or defaults.max_tokens,
            defaults.overlap_tokens if chunk_overlap is None else chunk_overlap,
        )
    options = IngestOptions(
        model=model,
        chunker=chunker,
        vector_backend=store,
        skip_errors=skip_errors,
        limit=limit,
        follow_symlinks=follow_symlinks,
        limits=LoadLimits(max_records, max_decompressed_bytes),
    )
    service = desk_from_environment(index_dir)
    with _ingest_engine(engine, ray_address, ray_workers) as chosen, IngestProgress() as progress:
        report = service.ingest(paths, options, progress, engine=chosen)
    if as_json:
        _print_json(report_dict(report))
    else:
        print_ingest_report(stdout, report)
        stdout.print(f"index: {service.index_dir}", style="dim")


def _ingest_engine(
    name: str, address: str | None, workers: int | None
) -> contextlib.AbstractContextManager[IngestEngine | None]:
    """The local engine (None: the ingest's default), or a Ray engine whose cluster, if it starts one,
    stops when the command ends."""
    if name == "local":
        return contextlib.nullcontext(None)
    from index.ray_engine import RayEngine

    return RayEngine(address, workers or 1)


@main.command("search")
@click.argument("query")
@query_options
@reports_errors
def search_command(
    query: str,
    index_dir: Path | str | None,
    k: int,
    filters: SearchFilters,
    as_of: date | None,
    as_json: bool,
) -> None:
    """Ranked passages for QUERY."""
    hits = desk_from_environment(index_dir).search(query, k, filters, as_of=as_of)
    if as_json:
        _print_json({"query": query, "hits": [h.as_dict() for h in hits]})
    else:
        print_hits(stdout, hits)


@main.command("ask")
@click.argument("question")
@query_options
@reports_errors
def ask_command(
    question: str,
    index_dir: Path | str | None,
    k: int,
    filters: SearchFilters,
    as_of: date | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the archive, citing the passages it relies on."""
    service = desk_from_environment(index_dir)
    answer = _ask_streaming(service, question, k, filters, as_of, drafts=not as_json and stderr.is_terminal)
    if as_json:
        _print_json(answer.as_dict())
    else:
        print_answer(stdout, answer)


def _ask_streaming(
    service: Newsdesk,
    question: str,
    k: int,
    filters: SearchFilters,
    as_of: date | None,
    history: Sequence[Turn] = (),
    *,
    drafts: bool = True,
) -> Answer:
    """The answer, streamed as every door streams (rag.streaming). With `drafts`, a language model's text
    goes to stderr as it is written, dimmed: a draft, since the answer printed after it is the verified
    one (sentences no passage supports dropped, citations renumbered). An answer that comes whole is
    printed once, by the caller: its words at once would only print it twice."""
    drafted = False
    items = service.ask_stream(question, k, filters, history=history, as_of=as_of)
    try:
        for item in reply_stream(items):
            if isinstance(item, Answer):
                return item
            if drafts and item.draft:
                stderr.print(item.text, end="", style="dim", markup=False, highlight=False)
                drafted = True
    finally:
        if drafted:  # the draft ends its line, whether the answer or an error comes after it
            stderr.print()
    raise AssertionError("ask_stream ends with its Answer")  # pragma: no cover


@main.command("delete")
@click.argument("ids", nargs=-1, required=True)
@index_option
@reports_errors
def delete_command(ids: tuple[str, ...], index_dir: Path | None) -> None:
    """Remove articles by id."""
    report = desk_from_environment(index_dir).delete(ids)
    stdout.print(f"deleted {len(report.deleted)} article(s)")
    for missing in report.missing:
        stderr.print(f"[yellow]not in the index: {missing}[/]")
    if report.missing and not report.deleted:
        sys.exit(1)


@main.command("info")
@read_index_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@reports_errors
def info_command(index_dir: Path | str | None, as_json: bool) -> None:
    """Counts, model, dimension, date range, outlets, size on disk, and which reader answers."""
    desk = desk_from_environment(index_dir)
    info = {
        **desk.info(),
        "reader": describe_reader(
            desk.scorer, desk.generator, judging=desk.judging, declining=desk.declines_doubted
        ),
    }
    if as_json:
        _print_json(info)
        return
    first, last = info["date_range"]
    stdout.print(f"index       {info['index']} ({info['version']})")
    stdout.print(f"articles    {info['articles']}")
    stdout.print(f"chunks      {info['chunks']}")
    stdout.print(f"model       {info['model']} ({info['dimension']} dimensions)")
    stdout.print(
        f"chunker     {info['chunker']['max_tokens']} tokens, overlap {info['chunker']['overlap_tokens']}"
    )
    stdout.print(f"search      {info['vector_search']}")
    stdout.print(f"reader      {info['reader']['summary']}", highlight=False, markup=False)
    stdout.print(f"dates       {first or '?'} to {last or '?'}")
    stdout.print(
        "outlets     " + ", ".join(f"{name or '(none)'} ({n})" for name, n in info["outlets"].items())
    )
    if info["size_bytes"] is None:  # read from a Milvus engine alone, which keeps only the live version
        stdout.print("size        (in the Milvus engine)")
        stdout.print("versions    the live one, as announced in the Milvus engine")
    else:
        stdout.print(f"size        {info['size_bytes'] / 1e6:.2f} MB")
        kept_at_most = f"at most {info['keep_versions']}: NEWSDESK_KEEP_VERSIONS"
        stdout.print(f"versions    {len(info['versions'])} kept ({kept_at_most})")
    for kept in info["versions"]:
        counts = f"{kept.get('articles', '?')} articles, {kept.get('chunks', '?')} chunks"
        state = f"damaged: {kept['damaged']}" if "damaged" in kept else f"{kept.get('created_at')}, {counts}"
        stdout.print(f"  {kept['version']}{' (live)' if kept['live'] else ''}  {state}", highlight=False)


@main.command("check")
@index_option
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild the vectors and the BM25 index from the stored chunks; "
    "point a damaged CURRENT at the newest whole version.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@reports_errors
def check_command(index_dir: Path | None, repair: bool, as_json: bool) -> None:
    """Verify every index file and the agreement of SQLite, vectors and BM25; exit 1 on a problem left."""
    from index.check import check

    report = check(index_dir or default_index_dir(), repair=repair)
    if as_json:
        _print_json({"version": report.version, "problems": report.problems, "repaired": report.repaired})
    else:
        for problem in report.problems:
            stdout.print(f"problem   {problem}", style="red", highlight=False)
        for repaired in report.repaired:
            stdout.print(f"repaired  {repaired}", style="green", highlight=False)
        if not report.problems:
            stdout.print(f"{report.version}: every file and part agrees", highlight=False)
    if not report.healthy:
        raise SystemExit(1)


@main.command("chat")
@read_index_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True)
@reports_errors
def chat_command(index_dir: Path | str | None, k: int) -> None:
    """Ask questions one after another in the terminal (Ctrl-D or 'exit' to leave)."""
    _chat(desk_from_environment(index_dir), k)


def _chat(service: Newsdesk, k: int) -> None:
    """Questions one after another, each a possible follow-up: the conversation so far goes with it, as
    in the web UI (a follow-up rewritten to stand alone is shown as "Read as: ...")."""
    info = service.info()
    stdout.print(
        f"Newsdesk — {info['articles']} articles from {len(info['outlets'])} outlets. "
        "Ask a question (Ctrl-D to leave)."
    )
    interactive = sys.stdin.isatty()
    history: list[Turn] = []
    while True:
        try:
            question = input("› " if interactive else "").strip()
        except EOFError:
            break
        if question.lower() in {"exit", "quit", ":q"}:
            break
        if not question:
            continue
        if not interactive:
            stdout.print(f"› {question}")
        try:
            answer = _ask_streaming(
                service, question, k, SearchFilters(), None, history, drafts=stderr.is_terminal
            )
        except NewsdeskError as error:  # a model that failed, say: this question, not the conversation
            stderr.print(Text(f"error: {error}", style="bold red"))
            continue
        print_answer(stdout, answer)
        stdout.print()
        history.extend(exchange(question, answer))


def demo_index_dir() -> Path:
    return default_index_dir().parent / "demo-index"


def build_demo(index_dir: Path) -> Newsdesk:
    service = desk_from_environment(index_dir)
    corpus = resources.files("rag.demo") / "articles.jsonl"
    with resources.as_file(corpus) as path, IngestProgress() as progress:
        report = service.ingest([path], IngestOptions(), progress)
    if report.version:
        print_ingest_report(stderr, report)
    return service


def server_options(command: F) -> F:
    for option in reversed(
        [
            click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind."),
            click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True),
            click.option("--no-ui", is_flag=True, help="Serve only the APIs, without the web UI."),
            click.option(
                "--allow-unauthenticated",
                is_flag=True,
                help="Serve on a non-loopback address without NEWSDESK_API_KEY (anyone may then write).",
            ),
        ]
    ):
        command = option(command)
    return command


def _serve(
    service: Newsdesk, host: str, port: int, ui: bool, allow_unauthenticated: bool = False, workers: int = 1
) -> None:
    import uvicorn

    from newsdesk_app.server.app import BIND_HOST_VARIABLE, create_app
    from newsdesk_app.server.security import bind_refusal
    from newsdesk_app.server.settings import ServerSettings

    if workers > 1 and ui:
        raise click.UsageError(
            "--workers above 1 serves the APIs only: add --no-ui (the web UI keeps each chat's state "
            "in the one process that started it)"
        )
    settings = ServerSettings.from_env(ui=ui, bind_host=host)  # a Host header naming it is answered
    refusal = bind_refusal(host, bool(settings.api_keys or settings.read_only_keys), allow_unauthenticated)
    if refusal:
        raise click.UsageError(refusal)
    where = f"http://{host}:{port}"
    shown = "web UI at /, API at /api" if ui else "API at /api"
    stdout.print(f"Newsdesk on {where}  ({shown}, OpenAI-compatible at /v1, docs at /docs)")
    if settings.api_keys:
        stdout.print("API keys required for /api and /v1 (NEWSDESK_API_KEY).", style="dim")
    # After SIGTERM, requests in flight get this long; then uvicorn cancels them, which stops an ingest's
    # work (newsdesk_app/server/cancellable.py) with nothing written, and the server exits.
    grace = settings.shutdown_grace_seconds
    if workers == 1:
        app = create_app(service, settings)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=grace)
        return
    stdout.print(f"{workers} worker processes share the index read-only.", style="dim")
    # Each worker imports the app afresh, in its own process: what this command was given reaches it
    # through the environment it inherits.
    os.environ["NEWSDESK_INDEX"] = service.location
    os.environ[BIND_HOST_VARIABLE] = host
    uvicorn.run(
        "newsdesk_app.server.app:api_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=grace,
    )


@main.command("serve")
@read_index_option
@server_options
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Server processes sharing the port and the memory-mapped index, each answering on its own; "
    "each picks up a newly written index version by itself. Above 1, with --no-ui only.",
)
@reports_errors
def serve_command(
    index_dir: Path | str | None, host: str, port: int, no_ui: bool, allow_unauthenticated: bool, workers: int
) -> None:
    """Serve the web chat, the REST API and the OpenAI-compatible API on one port."""
    _serve(desk_from_environment(index_dir), host, port, not no_ui, allow_unauthenticated, workers)


@main.command("demo")
@click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to build the demo index (default: a demo-index folder beside the default index).",
)
@server_options
@click.option("--chat", is_flag=True, help="Chat in the terminal instead of serving the web UI and APIs.")
@reports_errors
def demo_command(
    index_dir: Path | None, host: str, port: int, no_ui: bool, allow_unauthenticated: bool, chat: bool
) -> None:
    """Build the demo index from the bundled sample archive (once), then serve it (or chat)."""
    index_dir = index_dir or demo_index_dir()
    service = build_demo(index_dir)
    stdout.print(f"Demo index: {index_dir}  (use --index {index_dir} with the other commands)", style="dim")
    stdout.print('Try: "Which provinces were struck?"', style="dim")
    if chat:
        _chat(service, 5)
    else:
        _serve(service, host, port, not no_ui, allow_unauthenticated)


main.add_command(eval_command)
main.add_command(train_reader_command)
main.add_command(train_phrase_model_command)
main.add_command(bench_command)
main.add_command(models_command)

if __name__ == "__main__":  # pragma: no cover
    main()
