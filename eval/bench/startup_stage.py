"""Seconds from `newsdesk serve` to the first answered /api/ask on the demo archive, with and without
the web UI, beside the floor: a bare Python importing the web frameworks the server is built on."""

from __future__ import annotations

import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from eval.bench.measure import Server, ratio
from index.ingest import IngestOptions, ingest

QUESTION = "Which provinces were struck?"


def build_demo_index(workdir: Path) -> Path:
    index_dir = workdir / "demo-index"
    corpus = resources.files("rag.demo") / "articles.jsonl"
    with resources.as_file(corpus) as path:
        ingest(index_dir, [path], IngestOptions())
    return index_dir


def _import_floor(modules: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
    return time.perf_counter() - began


def run_startup(workdir: Path) -> dict[str, Any]:
    index_dir = build_demo_index(workdir)
    figures: dict[str, Any] = {}
    for label, ui in (("with_ui", True), ("api_only", False)):
        with Server(index_dir, ui=ui) as server:
            figures[f"serve_to_first_answer_s_{label}"] = round(server.first_answer(QUESTION), 2)
    floor_ui = _import_floor("fastapi, uvicorn, gradio")
    floor_api = _import_floor("fastapi, uvicorn")
    figures["import_floor_s_with_ui"] = round(floor_ui, 2)
    figures["import_floor_s_api_only"] = round(floor_api, 2)
    figures["ratio_to_floor_with_ui"] = ratio(figures["serve_to_first_answer_s_with_ui"], floor_ui)
    return figures
