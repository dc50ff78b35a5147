"""The learned reader: trained from a gold file, stored as JSON, refused when its features differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from eval.features import read_features
from eval.train import TrainingError, case_records, date_folds, fit, question_items, train
from newsdesk_app.cli.main import build_demo, main
from rag.features import SentenceFeatures
from rag.reader_model import ReaderModelError, design_names, load_model
from rag.scoring import LearnedScorer, LinearScorer, scorer_from_env
from tests.conftest import DEMO_DIR


def _sentence(cosine: float, coverage: float, typed: bool) -> list[float]:
    flags = (False, True, typed, False, True)  # focus, novel, typed match, counts other, year present
    record = SentenceFeatures(cosine, coverage, *flags, 0, 0, 0, 0, -1, False, False, True)
    return list(record.as_vector())


def _rows(count: int) -> list[dict[str, Any]]:
    """Questions whose right sentence is the one holding the asked-for kind, though another has the
    higher cosine: the hand weights rank it second, data can learn to rank it first."""
    return [
        {
            "id": f"q{i}",
            "question_date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "sentences": [[0, _sentence(0.8, 0.5, False)], [1, _sentence(0.6, 0.4, True)]],
            "candidates": [],
            "choices": [],
        }
        for i in range(count)
    ]


def _cases(count: int) -> list[dict[str, Any]]:
    """Refusal cases: answerable ones read a typed, well-covered sentence; unanswerable ones a weak one."""
    return [
        {
            "id": f"q{i}",
            "answerable": i % 2 == 0,
            "sentences": [_sentence(0.7, 0.6, True) if i % 2 == 0 else _sentence(0.3, 0.1, False)],
        }
        for i in range(count)
    ]


def test_trees_learned_from_labelled_sentences_reorder_them_and_survive_json(tmp_path: Path) -> None:
    rows = _rows(60)
    model = train(rows, _cases(40), 0.05, {"gold": "synthetic"})
    assert model.about["hand_weighted"] == ["candidate", "choice"]  # nothing of those to learn from
    records, labels = question_items(rows[0], "sentence")
    assert LinearScorer().sentence_scores(records)[0] > LinearScorer().sentence_scores(records)[1]
    learned = LearnedScorer(model).sentence_scores(records)
    assert learned[1] > 0.8 > 0.2 > learned[0] and labels == [0, 1]
    model.save(tmp_path / "reader.json")
    again = load_model(tmp_path / "reader.json")
    assert LearnedScorer(again).sentence_scores(records) == pytest.approx(learned)
    assert "trees" in json.loads((tmp_path / "reader.json").read_text())["ensembles"]["sentence"]
    strong, weak = (case_records(case) for case in _cases(2))
    learned_scorer = LearnedScorer(again, refusal="learned")
    assert learned_scorer.answers(strong, learned_scorer.sentence_scores(strong))
    assert not learned_scorer.answers(weak, learned_scorer.sentence_scores(weak))
    with pytest.raises(ValueError, match=r'refusal \(NEWSDESK_REFUSAL\) must be "hand" or "learned"'):
        LearnedScorer(again, refusal="sometimes")


def test_nothing_to_learn_is_said_by_name() -> None:
    rows = _rows(10)
    for row in rows:
        row["sentences"] = [[0, vector] for _, vector in row["sentences"]]
    with pytest.raises(TrainingError, match="sentences: the questions given hold 0 right of 20"):
        fit("sentence", rows)


def test_a_model_trained_on_other_features_is_refused_with_both_lists(tmp_path: Path) -> None:
    train(_rows(40), _cases(20), 0.05, {}).save(tmp_path / "reader.json")
    data = json.loads((tmp_path / "reader.json").read_text())
    data["ensembles"]["sentence"]["features"] = data["ensembles"]["sentence"]["features"][:-1]
    (tmp_path / "other.json").write_text(json.dumps(data))
    with pytest.raises(ReaderModelError, match=r"trained on features .* but this version computes") as caught:
        load_model(tmp_path / "other.json")
    assert design_names("sentence")[-1] in str(caught.value)
    data["feature_records_version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(data))
    with pytest.raises(ReaderModelError, match="retrain with newsdesk train-reader"):
        load_model(tmp_path / "old.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ReaderModelError, match=r"broken\.json: cannot read"):
        load_model(tmp_path / "broken.json")


def test_a_named_reader_that_cannot_load_is_an_error_not_the_hand_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_READER", str(tmp_path / "missing.json"))
    with pytest.raises(ReaderModelError, match=r"missing\.json"):
        scorer_from_env()
    monkeypatch.setenv("NEWSDESK_READER", "hand")
    assert isinstance(scorer_from_env(), LinearScorer)


def test_date_folds_put_later_questions_in_later_folds_and_keep_a_day_together() -> None:
    rows = [{"question_date": day} for day in ["2024-03-01", "2024-01-01", "2024-01-01", "2024-02-01"] * 3]
    folds = date_folds(rows, 3)
    by_day: dict[str, set[int]] = {}
    for row, fold in zip(rows, folds, strict=True):
        by_day.setdefault(row["question_date"], set()).add(fold)
    assert all(len(f) == 1 for f in by_day.values())
    ordered = [next(iter(by_day[d])) for d in sorted(by_day)]
    assert ordered == sorted(ordered) and ordered[0] == 0 and ordered[-1] >= 1


@pytest.mark.model
def test_train_reader_on_a_small_gold_file_writes_a_model_that_loads_and_changes_the_order(
    tmp_path: Path,
) -> None:
    """The demo gold set (45 questions) in two date folds: the report compares the three scorers on
    the later fold, and the model written reorders some question's sentences against the hand weights."""
    demo = build_demo(tmp_path / "index")
    out, model_path = tmp_path / "train", tmp_path / "reader.json"
    gold = DEMO_DIR / "gold.jsonl"
    args = ["train-reader", str(gold), "--index", str(demo.index_dir), "--folds", "2", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--model-out", str(model_path)])
    assert result.exit_code == 0, result.output
    report = (out / "train-report.md").read_text()
    assert "| short_answer_accuracy |" in report and "BM25-only" in report and "learned − hand" in report
    model = load_model(model_path)
    assert model.about["questions"] == 45 and 0 < model.about["judged"] < 45
    hand, learned = LinearScorer(), LearnedScorer(model)
    reordered = 0
    rows = read_features(out / "features.jsonl")
    assert len(rows) == 45
    for row in rows:
        records, _ = question_items(row, "sentence")
        if len(records) > 1:
            hand_order = np.argsort(hand.sentence_scores(records), kind="stable")[::-1]
            learned_order = np.argsort(learned.sentence_scores(records), kind="stable")[::-1]
            reordered += int(list(hand_order) != list(learned_order))
    assert reordered > 0


def test_hand_weights_are_validated_by_name() -> None:
    from rag.weights import AnsweringWeights

    with pytest.raises(ValueError, match=r"AnsweringWeights\.min_support must be a number ≥ 0, not -0\.1"):
        AnsweringWeights(min_support=-0.1)
    with pytest.raises(ValueError, match=r"semantic_weight is a share between 0 and 1, not 1\.5"):
        AnsweringWeights(semantic_weight=1.5)
    with pytest.raises(ValueError, match="mention_cap"):
        AnsweringWeights(mention_cap=0)


def test_the_shipped_reader_loads_with_this_code_and_says_how_it_was_judged() -> None:
    """A change to the feature records without retraining fails here, not in every user's first ask."""
    from rag.reader_model import SHIPPED_MODEL

    model = load_model(SHIPPED_MODEL)
    assert set(model.ensembles) == {"sentence", "candidate", "choice"}
    assert model.about["gold"] == "gold.dev.jsonl" and model.about["judged"] > 0
    held_back = model.about["held_back"]
    assert {"short_answer_accuracy", "citation_precision", "wrong_refusal_rate"} <= set(held_back)
    assert 0 < model.refusal.threshold < 1
    assert isinstance(scorer_from_env(), LearnedScorer)


def test_the_environment_configures_a_desk_only_at_the_application_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Newsdesk(...)` reads no variable; `desk_from_environment` reads them all, and an argument given
    wins over the environment."""
    from newsdesk_app.settings import default_index_dir, desk_from_environment
    from rag.service import Newsdesk

    monkeypatch.setenv("NEWSDESK_READER", "hand")
    monkeypatch.setenv("NEWSDESK_ANSWER_CACHE", "0")
    monkeypatch.setenv("NEWSDESK_INDEX", str(tmp_path / "from-env"))
    monkeypatch.setenv("NEWSDESK_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    plain = Newsdesk(tmp_path / "index")
    assert isinstance(plain.scorer, LearnedScorer) and plain.scorer.refusal == "hand"  # the shipped reader
    assert plain.answer_cache_size == 256 and plain.generator is None
    configured = desk_from_environment()
    assert configured.index_dir == tmp_path / "from-env" == default_index_dir()
    assert isinstance(configured.scorer, LinearScorer) and configured.answer_cache_size == 0
    assert configured.generator is not None and configured.generator.name
    assert configured.reader_name() == "openai-compatible:" + configured.generator.name.split(":", 1)[1]
    assert plain.reader_name() == "extractive (learned)"
    assert desk_from_environment(generator=None).reader_name() == "extractive (hand)"
    given = desk_from_environment(
        tmp_path / "index", scorer=LearnedScorer(plain.scorer.model), generator=None
    )
    assert isinstance(given.scorer, LearnedScorer) and given.generator is None
    assert given.index_dir == tmp_path / "index"
    monkeypatch.setenv("NEWSDESK_ANSWER_CACHE", "many")
    with pytest.raises(ValueError, match="NEWSDESK_ANSWER_CACHE must be a whole number ≥ 0, got 'many'"):
        desk_from_environment()
    with pytest.raises(ValueError, match="answer_cache_size must be >= 0, got -1"):
        Newsdesk(tmp_path / "index", answer_cache_size=-1)
