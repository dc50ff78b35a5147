"""The layer check (python -m newsdesk_app.layers) finds upward imports, lazy ones included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from newsdesk_app.layers import ROOT, edges, layer_of, upward


def test_the_project_imports_only_downward() -> None:
    found = edges()
    assert len(found) > 50  # the graph was read: rag imports index, the commands import everything
    assert {(edge.lower, edge.upper) for edge in found} >= {("rag", "index"), ("newsdesk_app.cli", "eval")}
    assert upward(found) == []


def test_an_import_inside_a_function_of_a_lower_layer_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "rag").mkdir()
    (tmp_path / "rag" / "__init__.py").write_text("")
    (tmp_path / "rag" / "late.py").write_text("import json\n\ndef f():\n    from eval.run import run_gold\n")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "run.py").write_text("from rag import late\n")
    wrong = upward(edges(tmp_path))
    assert [(edge.source, edge.line, edge.lower, edge.upper) for edge in wrong] == [
        ("rag/late.py", 4, "rag", "eval")
    ]


def test_relative_imports_and_subpackages_resolve_to_their_layer(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "loaders.py").write_text("from ..ui import app\n")
    assert layer_of("newsdesk_app.server.app") == "newsdesk_app.server"
    assert layer_of("eval.bench.cli") == "eval"
    assert layer_of("ragged") is None
    assert [(edge.lower, edge.upper) for edge in upward(edges(tmp_path))] == [("index", "ui")]


def test_the_command_prints_the_graph_and_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "newsdesk_app.layers"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "rag                  imports index" in result.stdout
    assert "no upward imports" in result.stdout
