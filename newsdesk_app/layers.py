"""The import graph between the project's layers, and a check that no layer imports one above it.

    python -m newsdesk_app.layers          # print the graph; exit 1 on an upward import

Layers, lowest first: the index (storage, ingest), the answering library, evaluation, the web UI, and
the application shell (the HTTP server, then the commands). Every import is counted, including those
inside functions, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LAYERS = ("index", "rag", "eval", "ui", "newsdesk_app.server", "newsdesk_app.cli")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # the importing file, relative to ROOT
    line: int
    lower: str  # the importing layer
    upper: str  # the imported layer


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching prefix), or None."""
    matches = [layer for layer in LAYERS if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len, default=None)


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield name, node.lineno


def edges(root: Path = ROOT) -> list[Edge]:
    """Every import from one layer into another, in file order."""
    found: list[Edge] = []
    for top in sorted({layer.split(".")[0] for layer in LAYERS}):
        for path in sorted((root / top).rglob("*.py")):
            module = _module_name(path, root)
            source_layer = layer_of(module)
            if source_layer is None:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name, line in _imported(tree, module):
                target = layer_of(name)
                if target is not None and target != source_layer:
                    found.append(Edge(str(path.relative_to(root)), line, source_layer, target))
    return found


def upward(found: list[Edge]) -> list[Edge]:
    """The imports of a layer above the importing one."""
    return [edge for edge in found if LAYERS.index(edge.upper) > LAYERS.index(edge.lower)]


def render(found: list[Edge]) -> str:
    counts = Counter((edge.lower, edge.upper) for edge in found)
    lines = ["Layers, lowest first: " + " < ".join(LAYERS), ""]
    for layer in reversed(LAYERS):
        targets = [f"{upper} ({counts[(layer, upper)]})" for upper in LAYERS if counts[(layer, upper)]]
        lines.append(f"{layer:<20} imports {', '.join(targets) if targets else 'nothing of ours'}")
    return "\n".join(lines)


def main() -> int:
    found = edges()
    print(render(found))
    wrong = upward(found)
    for edge in wrong:
        where = f"{edge.source}:{edge.line}"
        print(f"{where}: {edge.lower} imports {edge.upper}, a layer above it", file=sys.stderr)
    print(f"\n{len(wrong)} upward imports" if wrong else "\nno upward imports")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
