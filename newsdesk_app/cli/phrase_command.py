"""`newsdesk train-phrase-model`: fit the model reader's phrase model from `newsdesk eval` runs made
with a judging model, and say how it does on later date folds (eval/phrase_training.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from eval.features import read_features
from eval.phrase_training import fit_phrase_model, judge_folds
from newsdesk_app.cli.errors import reports_errors, stdout


@click.command("train-phrase-model")
@click.argument(
    "features", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Date folds.")
@click.option(
    "--model-name",
    default="qwen2.5-1.5b",
    show_default=True,
    help="The local model the features were judged by (recorded in the file).",
)
@click.option(
    "--model-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("phrase_model.json"),
    show_default=True,
    help="Where to write the model (copy it to rag/ to ship it).",
)
def train_phrase_model_command(
    features: tuple[Path, ...], folds: int, model_name: str, model_out: Path
) -> None:
    """Fit the phrase model on FEATURES (features.jsonl files of `newsdesk eval` runs made with
    NEWSDESK_LLM_GGUF set), after judging it on later date folds. When the runs also asked unanswerable
    questions (`newsdesk eval --unanswerable-days`), the model's refusal is fitted too."""

    @reports_errors
    def run() -> None:
        rows = {row["id"]: row for path in features for row in read_features(path)}  # a later file wins
        ordered = sorted(rows.values(), key=lambda row: str(row.get("question_date") or ""))
        judged = judge_folds(ordered, folds)
        stdout.print(
            f"{judged['questions']} questions judged (folds 2–{folds} of {folds}, each by a model fitted on"
            f" earlier questions), {judged['with_phrases']} with judged phrases; the share whose chosen"
            " phrase is right:"
        )
        for name, share in judged["top_right"].items():
            stdout.print(f"  {name:<16} {share:.3f}")
        if "declined" in judged:
            shares = judged["declined"]
            stdout.print(
                f"the refusal, fitted the same way, declined {shares['unanswerable']:.3f} of the unanswerable"
                f" questions and {shares['answerable']:.3f} of the answerable ones, losing"
                f" {shares['right'] or 0:.3f} of their right short answers"
            )
        dates = [str(row.get("question_date") or "")[:10] for row in ordered]
        about = {
            "model": model_name,
            "features_files": [path.name for path in features],
            "dates": [dates[0], dates[-1]] if dates else [],
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "held_back": judged,
        }
        model = fit_phrase_model(ordered, about)
        model.save(model_out)
        stdout.print(f"model: {model_out}\n{json.dumps(model.to_json()['weights'], indent=1)}")

    run()
