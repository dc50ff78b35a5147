"""Where an answer's time goes: pyinstrument over `Newsdesk.ask` for a list of questions.

    pip install pyinstrument
    python benchmarks/profile_ask.py --index DIR [--questions GOLD.jsonl] [--limit 200] [--html out.html]

Prints the call tree (time per function, children included); the answer cache is off so every
question is answered afresh.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from newsdesk_app.settings import desk_from_environment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument(
        "--questions", type=Path, default=Path(str(resources.files("rag.demo") / "gold.jsonl"))
    )
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--html", type=Path, default=None)
    args = parser.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError as error:
        raise SystemExit("this script needs pyinstrument: pip install pyinstrument") from error
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.limit]
    desk = desk_from_environment(args.index, answer_cache_size=0)
    desk.ask(questions[0])  # load the model and the index outside the profile
    profiler = Profiler(interval=0.0005)
    with profiler:
        for question in questions:
            desk.ask(question)
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html(), encoding="utf-8")


if __name__ == "__main__":
    main()
