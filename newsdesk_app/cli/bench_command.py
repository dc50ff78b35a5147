"""`newsdesk bench [--quick] [--json] [--corpus FILE] [--out DIR]`."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from eval.bench.ingest_stage import run_ingest
from eval.bench.query_stage import run_query
from eval.bench.reading_stage import run_reading
from eval.bench.scale_stage import run_scale
from eval.bench.startup_stage import run_startup
from newsdesk_app.cli.options import corpus_option, index_option_for, limit_option, out_option
from newsdesk_app.settings import desk_from_environment

STAGES = ("ingest", "query", "scale", "startup", "reading")
# "reading" needs a local model (NEWSDESK_LLM_GGUF) and minutes: it runs only when asked for by name.
DEFAULT_STAGES = ("ingest", "query", "scale", "startup")
READING_QUESTIONS = 30
SCALE_SIZES = (10_000, 100_000, 1_000_000)  # quick too: the 1M row is what the scale stage is for
PEERS_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peers" / "run.py"


def read_questions(path: Path, limit: int | None) -> list[str]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict) or not isinstance(record.get("question"), str):
            raise click.UsageError(f"{path}:{number}: expected a JSON object with a 'question' string")
        questions.append(record["question"])
    if not questions:
        raise click.UsageError(f"{path}: holds no questions")
    return questions[:limit]


def machine() -> dict[str, Any]:
    import faiss
    import onnxruntime

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "faiss": faiss.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        if isinstance(value, dict):
            value = "  ".join(f"{k} {v}" for k, v in value.items())
        table.add_row(key, str(value))
    return table


def _scale_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="scale (synthetic clustered vectors, 384 dimensions)", title_justify="left")
    columns = [k for k in rows[0] if k not in ("index", "index_detail")]
    for column in ["index", *columns]:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(row["index"], *(str(row[c]) for c in columns))
    return table


def print_tables(console: Console, results: dict[str, Any]) -> None:
    for stage in ("ingest", "query", "startup", "reading"):
        if stage in results:
            console.print(_table(stage, results[stage]))
    if "scale" in results:
        console.print(_scale_table(results["scale"]))
    console.print(f"total {results['seconds']} s on {results['machine']['cpus']} CPUs")


@click.command("bench")
@click.option(
    "--quick",
    is_flag=True,
    help="The run CI can afford (under 2 minutes on 2 cores): demo archive, 40 questions, 5 s of serving.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@corpus_option("Articles for the ingest stage (default: the bundled demo archive).", multiple=False)
@limit_option("Read at most this many articles.")
@click.option(
    "--questions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSONL with a 'question' per line (default: the demo gold set).",
)
@index_option_for("Run the query stage on this existing index instead of the one just built.")
@click.option(
    "--only",
    default=",".join(DEFAULT_STAGES),
    show_default=True,
    help="Stages to run, comma-separated; `reading` (a local model's seconds per answer beside the"
    " extractive reader's, NEWSDESK_LLM_GGUF set) runs only when named.",
)
@out_option("Also write bench.json here.")
@click.option(
    "--peers", is_flag=True, help=f"Then run the peer frameworks side by side ({PEERS_SCRIPT.name})."
)
def bench_command(
    quick: bool,
    as_json: bool,
    corpus: Path | None,
    limit: int | None,
    questions: Path | None,
    index_dir: Path | None,
    only: str,
    out: Path | None,
    peers: bool,
) -> None:
    """Measure ingest, query, scale and startup, each beside a baseline measured in the same run."""
    stages = [s.strip() for s in only.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise click.UsageError(f"unknown stage(s) {', '.join(sorted(unknown))}; known: {', '.join(STAGES)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    demo = resources.files("rag.demo")
    with (
        resources.as_file(demo / "articles.jsonl") as demo_corpus,
        resources.as_file(demo / "gold.jsonl") as demo_gold,
        tempfile.TemporaryDirectory(prefix="newsdesk-bench-") as scratch,
    ):
        asked = read_questions(questions or demo_gold, 40 if quick else 200)
        results = _run(stages, quick, corpus or demo_corpus, limit, asked, index_dir, Path(scratch))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if as_json:
        click.echo(json.dumps(results))
    else:
        print_tables(Console(width=max(160, Console().width)), results)
    if peers:
        if not PEERS_SCRIPT.exists():
            raise click.UsageError(f"{PEERS_SCRIPT} is not here: --peers runs from a source checkout")
        command = [sys.executable, str(PEERS_SCRIPT), *(["--out", str(out)] if out else [])]
        raise SystemExit(subprocess.call(command))


def _run(
    stages: list[str],
    quick: bool,
    corpus: Path,
    limit: int | None,
    questions: list[str],
    index_dir: Path | None,
    scratch: Path,
) -> dict[str, Any]:
    began = time.perf_counter()
    results: dict[str, Any] = {"quick": quick, "machine": machine()}
    built: Path | None = None
    if "ingest" in stages:
        results["ingest"] = run_ingest(corpus, scratch, limit)
        built = Path(results["ingest"].pop("index"))
    if "query" in stages:
        target = index_dir or built
        if target is None:
            (scratch / "query").mkdir()
            target = Path(run_ingest(corpus, scratch / "query", limit)["index"])
        results["query"] = run_query(
            target, questions, serve_seconds=5.0 if quick else 20.0, make_desk=desk_from_environment
        )
    if "scale" in stages:
        results["scale"] = run_scale(SCALE_SIZES, scratch)
    if "startup" in stages:
        results["startup"] = run_startup(scratch)
    if "reading" in stages:
        target = index_dir or built
        if target is None:
            (scratch / "reading").mkdir()
            target = Path(run_ingest(corpus, scratch / "reading", limit)["index"])
        count = 5 if quick else READING_QUESTIONS
        results["reading"] = run_reading(target, questions[:count], make_desk=desk_from_environment)
    results["seconds"] = round(time.perf_counter() - began, 1)
    return results
