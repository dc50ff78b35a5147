"""How soon a streamed answer starts: `Newsdesk.ask_stream` over gold questions, with the generator that
NEWSDESK_LLM_GGUF (or NEWSDESK_LLM_BASE_URL) configures.

    NEWSDESK_LLM_GGUF=qwen2.5-1.5b NEWSDESK_LLM_THREADS=1 \\
        python benchmarks/first_token.py GOLD.jsonl --index DIR [--limit 20] [--offset 0] [--json out.json]

Per question: the time from the start of retrieval to the first text piece a reader sees (the model's
'Short answer:' line is held back, so this is later than the model's first token), to the verified
answer, and the pieces streamed. The model is loaded before the first question; the cache is off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from eval.gold import load_gold
from newsdesk_app.settings import desk_from_environment
from rag.records import Answer
from rag.when import parse_as_of


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": round(ordered[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("gold", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--offset", type=int, default=0, help="Skip this many questions first.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    desk = desk_from_environment(args.index, answer_cache_size=0)  # the generator NEWSDESK_LLM_* names
    if desk.generator is None:
        raise SystemExit("no generator configured: set NEWSDESK_LLM_GGUF or NEWSDESK_LLM_BASE_URL")
    began = time.perf_counter()
    desk.warm_up()
    load_s = time.perf_counter() - began
    rows: list[dict[str, Any]] = []
    for gold in load_gold(args.gold)[args.offset : args.offset + args.limit]:
        pieces = 0
        for item in desk.ask_stream(gold.question, as_of=parse_as_of(gold.question_date)):
            if isinstance(item, Answer):
                timings = item.timings_ms
                rows.append(
                    {
                        "id": gold.id,
                        "first_piece_ms": timings.get("first_token"),
                        "total_ms": timings["total"],
                        "retrieve_ms": timings["retrieve"],
                        "pieces": pieces,
                        "answered": item.answered,
                        "verification": item.verification,
                    }
                )
            else:
                pieces += 1
        print(json.dumps(rows[-1]), flush=True)
    streamed = [r for r in rows if r["first_piece_ms"] is not None]
    writing = [
        (r["pieces"] - 1) / ((r["total_ms"] - r["first_piece_ms"]) / 1000)
        for r in streamed
        if r["pieces"] > 1 and r["total_ms"] > r["first_piece_ms"]
    ]
    checked = [r["verification"] for r in rows if r["verification"]]
    summary = {
        "generator": desk.generator.name,
        "threads": os.environ.get("NEWSDESK_LLM_THREADS", "1"),
        "questions": len(rows),
        "offset": args.offset,
        "streamed": len(streamed),
        "load_s": round(load_s, 2),
        "first_piece_ms": _quantiles([r["first_piece_ms"] for r in streamed]),
        "total_ms": _quantiles([r["total_ms"] for r in rows]),
        "pieces_per_s_p50": round(statistics.median(writing), 2) if writing else None,
        "answered": sum(r["answered"] for r in rows),
        "verification": {
            key: sum(c[key] for c in checked) for key in ("sentences", "supported", "repointed", "dropped")
        },
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
