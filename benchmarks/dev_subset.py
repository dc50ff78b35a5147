"""A small, hard slice of the RealTime QA dev set, for models too slow to embed the whole corpus.

    python benchmarks/dev_subset.py OUT_DIR [--questions 40] [--articles 250] [--days 7] [--seed 18]

Writes OUT_DIR/corpus.jsonl.gz: the gold articles of the first N dev questions, then other articles
published within --days of one of those questions' dates (a seeded sample: the competitors that time-aware
ranking cannot push away), then, if still short of --articles, a seeded sample of the rest. And
OUT_DIR/gold.jsonl: the first N questions, then every later question whose gold articles are all in the
corpus. Then, for each model:

    newsdesk eval OUT_DIR/gold.jsonl --corpus OUT_DIR/corpus.jsonl.gz --model M [--retrieval dense]

docs/benchmarks.md (nomic-embed-text-v1.5) used the defaults. Keep OUT_DIR outside the project.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from datetime import date
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--articles", type=int, default=250)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    questions = read_jsonl(DATA / "gold.dev.jsonl")
    articles = read_jsonl(DATA / "corpus.dev.jsonl.gz")
    first = questions[: args.questions]
    gold_ids = {i for q in first for i in q["gold_article_ids"] or []}
    asked = [date.fromisoformat(q["question_date"]) for q in first]

    def near(article: dict[str, Any]) -> bool:
        published = article.get("published_at")
        day = date.fromisoformat(published[:10]) if published else None
        return day is not None and any(abs((day - d).days) <= args.days for d in asked)

    others = [a for a in articles if a["id"] not in gold_ids]
    nearby, rest = [a for a in others if near(a)], [a for a in others if not near(a)]
    rng = random.Random(args.seed)
    rng.shuffle(nearby)
    rng.shuffle(rest)
    corpus = [a for a in articles if a["id"] in gold_ids]
    corpus += nearby[: max(0, args.articles - len(corpus))]
    corpus += rest[: max(0, args.articles - len(corpus))]
    kept = {a["id"] for a in corpus}
    later = [
        q for q in questions[args.questions :] if q["gold_article_ids"] and set(q["gold_article_ids"]) <= kept
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(a) + "\n" for a in corpus)
    gold_lines = "".join(json.dumps(q) + "\n" for q in first + later)
    (args.out / "gold.jsonl").write_text(gold_lines, encoding="utf-8")
    print(
        f"{len(corpus)} articles ({len(gold_ids)} gold, {min(len(nearby), len(corpus) - len(gold_ids))} "
        f"published near a question), {len(first) + len(later)} questions -> {args.out}"
    )


if __name__ == "__main__":
    main()
