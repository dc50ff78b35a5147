"""The model reader: a local model judges the extractive reader's answer phrases (issue 23).

The quick tests give the desk a scripted judge (likelihoods chosen by the test) and check what the user
sees change with it: which phrase is the short answer, that it is always quoted by a cited sentence,
when the model's own phrase is taken, and when no short answer is given. The `llm` tests run the real
scoring on SmolLM2-135M through llama.cpp and check its arithmetic: a phrase scored on the kept prompt
state has the log-probability a fresh evaluation gives, whatever the order of the phrases.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.features import header, question_features, read_features, write_features
from eval.gold import GoldQuestion
from eval.phrase_training import fit_phrase_model, judge_folds, judged
from eval.train import TrainingError
from index.embedding import HashingEmbedder
from newsdesk_app.settings import desk_from_environment, phrase_model_from_env
from rag.generators import Generated
from rag.likelihood import PhraseReading, PhraseScore, phrase_messages
from rag.phrase_model import (
    FEATURES,
    REFUSAL_FEATURES,
    PhraseModel,
    PhraseModelError,
    PhraseRefusal,
    load_phrase_model,
    phrase_rows,
)
from rag.records import Answer, Hit
from rag.service import Newsdesk
from tests.conftest import article
from tests.test_local_model import llm, needs_smollm2

Writer = Callable[[str, Iterable[dict[str, Any]]], Path]
TALKS = (
    "Sergei Lavrov met Antony Blinken in Geneva on Friday, the ministry said. "
    "Olaf Scholz met Antony Blinken in Berlin a day later."
)
ASKED = "Who met Antony Blinken in Geneva?"


def weights(**chosen: float) -> tuple[float, ...]:
    return tuple(chosen.get(name, 0.0) for name in FEATURES)


# Trusts the model's likelihood and its own phrase, nothing else.
TRUSTING = PhraseModel(weights(model_below_best=1.0, own=3.0), 0.0, 0.0)


class ScriptedJudge:
    """A judge whose likelihoods the test sets: `favoured` is likely, every other phrase is not."""

    name = "scripted judge"

    def __init__(self, favoured: str, own: str = "") -> None:
        self.favoured, self.own = favoured, own
        self.calls: list[tuple[str, list[str], list[str]]] = []

    def score(self, phrase: str) -> PhraseScore:
        return PhraseScore(-0.2 if phrase == self.favoured else -14.0, 3, -0.1)

    def read_phrases(
        self,
        question: str,
        sentences: Sequence[str],
        phrases: Sequence[str],
        on_piece: Callable[[str], None] | None = None,
    ) -> PhraseReading:
        self.calls.append((question, list(sentences), list(phrases)))
        if on_piece is not None:
            for word in self.own.split():
                on_piece(word + " ")
        own = self.score(self.own) if self.own else None
        return PhraseReading(tuple(self.score(p) for p in phrases), self.own, own, 50)

    def generate(self, question: str, hits: Sequence[Hit], history: Sequence[Any] = ()) -> Generated:
        raise AssertionError("a judging model is never asked to write the answer")


def _desk(
    tmp_path: Path, write_jsonl: Writer, judge: ScriptedJudge, model: PhraseModel = TRUSTING
) -> Newsdesk:
    desk = Newsdesk(
        tmp_path / "index",
        embedder=HashingEmbedder(),
        generator=judge,
        phrase_model=model,
        answer_cache_size=0,
    )
    desk.ingest([write_jsonl("talks.jsonl", [article("talks", TALKS)])])
    return desk


def test_the_phrase_the_model_finds_likely_becomes_the_short_answer_and_leads_quoted(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    plain = Newsdesk(tmp_path / "plain", embedder=HashingEmbedder())
    plain.ingest([write_jsonl("plain.jsonl", [article("talks", TALKS)])])
    assert plain.ask(ASKED).short_answer == "Sergei Lavrov"  # the extractive reader alone

    judge = ScriptedJudge("Olaf Scholz")
    answer = _desk(tmp_path, write_jsonl, judge).ask(ASKED)
    assert answer.answered and answer.short_answer == "Olaf Scholz"
    assert answer.citations and "Olaf Scholz" in answer.citations[0].quote
    assert answer.answer.startswith("Olaf Scholz")
    assert answer.reader and "judging" in answer.reader and "scripted judge" in answer.reader
    question, sentences, phrases = judge.calls[0]
    assert question == ASKED and phrases[:3] == ["Sergei Lavrov", "Friday", "Olaf Scholz"]
    assert sentences and all(s in TALKS for s in sentences)


def test_when_the_model_agrees_with_the_learned_reader_the_extractive_answer_stands(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    answer = _desk(tmp_path, write_jsonl, ScriptedJudge("Sergei Lavrov")).ask(ASKED)
    assert answer.short_answer == "Sergei Lavrov"
    assert answer.citations and "Sergei Lavrov" in answer.citations[0].quote


def test_the_model_s_own_phrase_is_taken_only_when_a_sentence_read_quotes_it(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    quoted = _desk(tmp_path / "a", write_jsonl, ScriptedJudge("nothing", own="the ministry")).ask(ASKED)
    assert quoted.short_answer == "the ministry"
    assert quoted.citations and "the ministry" in quoted.citations[0].quote
    invented = _desk(tmp_path / "b", write_jsonl, ScriptedJudge("nothing", own="Kamala Harris")).ask(ASKED)
    assert invented.short_answer == "Sergei Lavrov"  # not quoted: the learned reader's best stands


def test_streamed_the_model_s_own_phrase_comes_first_then_the_judged_answer_in_every_door(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    from rag.streaming import Piece, reply_stream

    desk = _desk(tmp_path, write_jsonl, ScriptedJudge("Olaf Scholz", own="Kamala Harris"))
    items = list(desk.ask_stream(ASKED))
    assert items[:2] == ["Kamala ", "Harris "]  # the draft: the model's own phrase, as it wrote it
    final = items[-1]
    assert isinstance(final, Answer) and final.short_answer == "Olaf Scholz"  # not quoted: judged out
    assert desk.ask(ASKED).short_answer == "Olaf Scholz"  # unstreamed, the same answer
    shown = list(reply_stream(desk.ask_stream(ASKED)))
    assert [(p.text, p.draft) for p in shown[:2] if isinstance(p, Piece)] == [
        ("Kamala ", True),
        ("Harris ", True),
    ]
    assert isinstance(shown[-1], Answer) and shown[-1].short_answer == "Olaf Scholz"


def test_under_the_threshold_no_short_answer_is_given_but_the_sentences_still_answer(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    doubtful = PhraseModel(weights(model_below_best=1.0), -5.0, 0.5)  # every chance under 0.01
    answer = _desk(tmp_path, write_jsonl, ScriptedJudge("Olaf Scholz"), doubtful).ask(ASKED)
    assert answer.answered and answer.short_answer is None
    assert answer.citations and "Antony Blinken" in answer.answer


def test_a_follow_up_is_put_to_the_model_in_its_standalone_form(tmp_path: Path, write_jsonl: Writer) -> None:
    from rag.conversation import Turn

    judge = ScriptedJudge("Olaf Scholz")
    desk = _desk(tmp_path, write_jsonl, judge)
    first = desk.ask(ASKED)
    history = [Turn("user", ASKED), Turn("assistant", first.answer, first)]
    followed = desk.ask("Where did he meet Antony Blinken a day later?", history=history)
    assert (
        followed.answered
        and followed.standalone_question == "Where did Olaf Scholz meet Antony Blinken a day later?"
    )
    assert judge.calls[-1][0] == followed.standalone_question


def test_a_declined_question_is_not_shown_to_the_model(tmp_path: Path, write_jsonl: Writer) -> None:
    judge = ScriptedJudge("Olaf Scholz")
    answer = _desk(tmp_path, write_jsonl, judge).ask("Who won the football league in Portugal?")
    assert not answer.answered and answer.short_answer is None
    assert judge.calls == []


def refusing(**chosen: float) -> PhraseRefusal:
    return PhraseRefusal(tuple(chosen.get(name, 0.0) for name in REFUSAL_FEATURES), 2.0, 0.5)


def test_an_answer_whose_phrases_the_model_finds_unlikely_is_declined_with_the_closest_passages(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    # Right only when the model finds some phrase likely: chance 0.85 at -0.3, about 0 at -14.1.
    model = replace(TRUSTING, refusal=refusing(model_best=1.0))
    sure = _desk(tmp_path / "a", write_jsonl, ScriptedJudge("Olaf Scholz"), model).ask(ASKED)
    assert sure.answered and sure.short_answer == "Olaf Scholz"
    assert sure.reader and sure.reader.endswith("phrases, declining answers they doubt")
    judge = ScriptedJudge("Kamala Harris")  # none of the phrases shown
    doubtful = _desk(tmp_path / "b", write_jsonl, judge, model).ask(ASKED)
    assert judge.calls and not doubtful.answered and doubtful.short_answer is None
    assert doubtful.citations and all(c.article_id == "talks" for c in doubtful.citations)  # closest passages
    assert "Olaf Scholz" not in doubtful.answer


def test_phrase_rows_rank_and_compare_each_phrase_with_the_best() -> None:
    reading = PhraseReading(
        (PhraseScore(-1.0, 2, -0.5), PhraseScore(-6.0, 1, -0.1)),
        "Hama",
        PhraseScore(-0.3, 1, -0.2),
        40,
        confirms=2.5,
    )
    rows = phrase_rows(["Homs", "Hama and Homs"], [0.8, 0.3], reading, own_added=True)
    column = {name: rows[:, i].tolist() for i, name in enumerate(FEATURES)}
    assert rows.shape == (3, len(FEATURES))
    assert column["candidate"] == [1.0, 1.0, 0.0]
    assert column["learned_rank"] == [0.0, 1.0, 2.0] and column["learned_below_best"][0] == 0.0
    assert column["model"] == pytest.approx([-1.5, -6.1, -0.5])
    assert column["model_rank"] == [1.0, 2.0, 0.0] and column["model_below_best"][2] == 0.0
    assert column["own"] == [0.0, 0.0, 1.0] and column["own_overlap"] == pytest.approx([0.0, 1 / 3, 1.0])
    assert column["model_confirms"] == [2.5, 2.5, 2.5]  # the question's, on each of its phrases
    assert phrase_rows([], [], PhraseReading((), "", None, 0)).shape == (0, len(FEATURES))


def test_a_phrase_model_is_kept_as_readable_json_and_another_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "phrase_model.json"
    TRUSTING.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "newsdesk-phrase-model" and list(data["weights"]) == list(FEATURES)
    assert load_phrase_model(path) == TRUSTING
    data["features"] = [*FEATURES[:-1], "invented"]
    path.write_text(json.dumps(data))
    with pytest.raises(PhraseModelError, match="invented"):
        load_phrase_model(path)
    path.write_text(json.dumps({"format": "newsdesk-reader", "version": 2}))
    with pytest.raises(PhraseModelError, match="newsdesk-reader"):
        load_phrase_model(path)
    with_refusal = replace(TRUSTING, refusal=refusing(model_best=1.0, own_quoted=0.5))
    with_refusal.save(path)
    data = json.loads(path.read_text())
    assert data["refusal"]["weights"]["own_quoted"] == 0.5 and load_phrase_model(path) == with_refusal
    data["refusal"]["features"] = ["invented"]
    path.write_text(json.dumps(data))
    with pytest.raises(PhraseModelError, match="refusal was fitted on features"):
        load_phrase_model(path)


def test_the_shipped_phrase_model_loads_and_says_what_it_was_fitted_on() -> None:
    model = load_phrase_model()
    assert model.about.get("questions", 0) > 100 and model.about.get("model")
    assert math.isfinite(model.intercept) and all(math.isfinite(w) for w in model.weights)
    # … and its refusal, on unanswerable questions asked of the archive before their answer existed.
    assert model.refusal is not None and model.about["refusal"]["unanswerable"] > 100
    assert 0 < model.refusal.threshold < 1 and all(math.isfinite(w) for w in model.refusal.weights)


def test_the_reading_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSDESK_LLM_READING", "write")
    assert phrase_model_from_env() is None
    monkeypatch.setenv("NEWSDESK_LLM_READING", "guess")
    with pytest.raises(ValueError, match="'guess'"):
        phrase_model_from_env()
    monkeypatch.setenv("NEWSDESK_LLM_READING", "judge")
    path = tmp_path / "mine.json"
    TRUSTING.save(path)
    monkeypatch.setenv("NEWSDESK_PHRASE_MODEL", str(path))
    assert phrase_model_from_env() == TRUSTING
    replace(TRUSTING, refusal=refusing(model_best=1.0)).save(path)
    assert phrase_model_from_env().refusal is not None  # type: ignore[union-attr]
    monkeypatch.setenv("NEWSDESK_LLM_REFUSAL", "extractive")
    assert phrase_model_from_env() == TRUSTING
    monkeypatch.setenv("NEWSDESK_LLM_REFUSAL", "never")
    with pytest.raises(ValueError, match="'never'"):
        phrase_model_from_env()
    assert desk_from_environment(tmp_path / "index", generator=None).phrase_model is None


def _row(number: int, labels: Sequence[int], model: Sequence[float]) -> dict[str, Any]:
    learned = np.linspace(0.9, 0.1, len(labels)).tolist()
    scores = tuple(PhraseScore(m, 2, 0.0) for m in model)
    rows = phrase_rows([f"p{i}" for i in range(len(labels))], learned, PhraseReading(scores, "", None, 9))
    return {
        "id": f"q{number}",
        "question_date": f"2025-{1 + number // 28:02d}-{1 + number % 28:02d}",
        "phrases": [
            [label, row.tolist(), f"p{i}"] for i, (label, row) in enumerate(zip(labels, rows, strict=True))
        ],
    }


def test_the_combined_model_learns_to_trust_the_model_where_it_is_right_and_is_judged_on_later_folds() -> (
    None
):
    # The right phrase is the model's most likely one and never the learned reader's first.
    rows = [
        _row(n, [0, 1, 0], [-5.0, -0.5, -7.0]) if n % 4 else _row(n, [0, 0, 1], [-6.0, -8.0, -0.2])
        for n in range(120)
    ]
    model = fit_phrase_model(rows, {"model": "scripted"})
    x, _ = judged(rows[1])
    assert int(np.argmax(model.chances(x))) == 1 and model.about["questions"] == 120
    folds = judge_folds(rows, 4)
    assert folds["questions"] == 90 and folds["with_phrases"] == 90
    assert folds["top_right"]["learned reader"] == 0.0 and folds["top_right"]["combined"] == 1.0
    with pytest.raises(TrainingError, match="judging model"):
        fit_phrase_model([{"id": "q", "question_date": "2025-01-01", "phrases": []}], {})


def test_with_unanswerable_questions_the_refusal_learns_to_decline_what_the_model_doubts() -> None:
    # Answerable: the model finds the right phrase likely. Unanswerable (asked before the answer existed):
    # it finds every phrase unlikely, and a fifth of the answerable ones are as doubtful and wrong.
    rows = []
    for n in range(150):
        if n % 3 == 2:
            rows.append({**_row(n, [0, 0, 0], [-9.0, -10.0, -11.0]), "answerable": False, "id": f"u{n}"})
        elif n % 5 == 0:
            rows.append({**_row(n, [0, 0, 0], [-9.5, -10.0, -12.0]), "answerable": True})
        else:
            rows.append({**_row(n, [0, 1, 0], [-5.0, -0.5, -7.0]), "answerable": True})
    model = fit_phrase_model(rows, {"model": "scripted"})
    assert model.refusal is not None and model.about["questions"] == 100  # phrases: answerable only
    assert model.about["refusal"]["declined_unanswerable"] > 0.9
    assert model.about["refusal"]["right_lost"] <= 0.05 * 80
    folds = judge_folds(rows, 3)
    assert folds["declined"]["unanswerable"] > 0.9 and folds["declined"]["right"] <= 0.1
    assert "declined" not in judge_folds([r for r in rows if r["answerable"]], 3)


def test_train_phrase_model_fits_the_refusal_from_eval_runs_with_unanswerable_questions(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from newsdesk_app.cli.main import main

    answerable = [{**_row(n, [0, 1, 0], [-5.0, -0.5, -7.0]), "answerable": True} for n in range(0, 120, 2)]
    early = [
        {**_row(n, [0, 0, 0], [-9.0, -10.0, -11.0]), "answerable": False, "id": f"q{n}@early60d"}
        for n in range(1, 120, 2)
    ]
    features = write_features([*answerable, *early], tmp_path / "eval")
    out = tmp_path / "phrase_model.json"
    result = CliRunner().invoke(main, ["train-phrase-model", str(features), "--model-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "the refusal, fitted the same way, declined 1.000 of the unanswerable questions" in result.output
    model = load_phrase_model(out)
    assert model.refusal is not None and model.about["refusal"]["unanswerable"] == 60


def test_features_jsonl_carries_the_judged_phrases_with_labels(tmp_path: Path, write_jsonl: Writer) -> None:
    judge = ScriptedJudge("Olaf Scholz")
    desk = _desk(tmp_path, write_jsonl, judge)
    draft = desk.read(ASKED, 5).draft
    assert draft.evidence and draft.evidence == tuple(judge.calls[0][1])  # what the model was shown
    # … the sentences that could answer, the learned reader's best first (rag.phrase_reading.SHOWN_BY_SCORE)
    best = sorted((s for s in draft.scored if s.typed and s.matched), key=lambda s: -s.score)
    assert [TALKS[s.start : s.end] for s in best][: len(draft.evidence)] == list(draft.evidence)
    gold = GoldQuestion(id="g1", question=ASKED, answers=("Sergei Lavrov",), question_date="2015-10-01")
    line = question_features(draft, [], gold)
    assert [(label, text) for label, _, text in line["phrases"]][:3] == [
        (1, "Sergei Lavrov"),
        (0, "Friday"),
        (0, "Olaf Scholz"),
    ]
    assert all(len(vector) == len(FEATURES) for _, vector, _ in line["phrases"])
    path = write_features([line], tmp_path / "eval")
    assert read_features(path)[0]["phrases"] == line["phrases"]
    assert header()["phrase_features"] == list(FEATURES)
    older = {key: value for key, value in header().items() if key != "phrase_features"}
    path.write_text(json.dumps(older) + "\n" + json.dumps(line) + "\n")
    assert read_features(path)[0]["id"] == "g1"  # a file from before phrases were judged still reads


# The real thing: SmolLM2 through llama.cpp.

SENTENCES = [
    "Russian jets struck the provinces of Hama, Homs and Latakia on Wednesday.",
    "Moscow called it a start.",
]


@pytest.fixture(scope="module")
def llama() -> Any:
    from rag.local_model import LlamaCppGenerator

    generator = LlamaCppGenerator("smollm2")
    return generator._load()


def _fresh_score(llama: Any, prompt_tokens: list[int], phrase: str) -> float:
    """The phrase's log-probability and its turn's end, one token at a time from an empty state."""
    tokens = [*llama.tokenize(phrase.encode(), add_bos=False, special=False), llama.token_eos()]
    llama.reset()
    llama.eval(prompt_tokens)
    total = 0.0
    for token in tokens:
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)
        total += float(logits[token] - logits.max() - np.log(np.exp(logits - logits.max()).sum()))
        llama.eval([token])
    return total


@llm
@needs_smollm2
def test_scores_on_the_kept_prompt_equal_a_fresh_evaluation_in_any_order(llama: Any) -> None:
    from rag.likelihood import read_phrases, render_prompt

    question = "Which provinces were struck?"
    phrases = ["Hama, Homs and Latakia", "Moscow", "a purple kettle"]
    forward = read_phrases(llama, question, SENTENCES, phrases)
    backward = read_phrases(llama, question, SENTENCES, phrases[::-1])
    assert [s.total for s in forward.scores] == pytest.approx(
        [s.total for s in backward.scores[::-1]], abs=1e-3
    )
    prompt = render_prompt(llama, phrase_messages(question, SENTENCES))
    assert "Hama, Homs and Latakia" in prompt and prompt.rstrip().endswith("assistant")
    tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    assert forward.prompt_tokens == len(tokens)
    # One token at a time takes llama.cpp's other kernels (single-row products): close, not equal.
    for phrase, score in zip(phrases, forward.scores, strict=True):
        assert score.total == pytest.approx(_fresh_score(llama, tokens, phrase), rel=0.03, abs=0.1)
        assert score.tokens == len(llama.tokenize(phrase.encode(), add_bos=False, special=False))
    assert forward.own and forward.own_score is not None
    pieces: list[str] = []
    streamed = read_phrases(llama, question, SENTENCES, phrases, on_piece=pieces.append)
    assert streamed.own == forward.own and forward.own in "".join(pieces)
    assert forward.own_score.total == pytest.approx(
        _fresh_score(llama, tokens, forward.own), rel=0.03, abs=0.1
    )
    assert forward.scores[0].total > forward.scores[2].total  # the listed provinces beat a purple kettle


@llm
@needs_smollm2
def test_the_model_is_asked_whether_the_text_states_its_likeliest_phrase_from_the_kept_prompt(
    llama: Any,
) -> None:
    from rag.likelihood import CONFIRM_QUESTION, read_phrases, render_prompt

    question = "Which provinces were struck?"
    phrases = ["a purple kettle", "Hama, Homs and Latakia"]
    reading = read_phrases(llama, question, SENTENCES, phrases, own=False)
    likeliest = max(zip(reading.scores, phrases, strict=True), key=lambda pair: pair[0].total)[1]
    messages = [
        *phrase_messages(question, SENTENCES),
        {"role": "assistant", "content": likeliest},
        {"role": "user", "content": CONFIRM_QUESTION},
    ]
    asked = render_prompt(llama, messages)
    assert asked.count(CONFIRM_QUESTION) == 1 and likeliest in asked
    llama.reset()
    llama.eval(llama.tokenize(asked.encode(), add_bos=False, special=True))
    logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)
    chances = np.exp(logits - logits.max())
    chances /= chances.sum()

    def first_tokens(word: str) -> set[int]:
        forms = (word, word.capitalize(), word.upper())
        return {llama.tokenize(f.encode(), add_bos=False, special=False)[0] for f in forms}

    fresh = math.log(sum(chances[t] for t in first_tokens("yes"))) - math.log(
        sum(chances[t] for t in first_tokens("no"))
    )
    assert reading.confirms != 0.0 and reading.confirms == pytest.approx(fresh, abs=0.2)
    # The state the prompt left is kept: the next reading scores as a fresh one does.
    again = read_phrases(llama, question, SENTENCES, phrases, own=False)
    assert [s.total for s in again.scores] == pytest.approx([s.total for s in reading.scores], abs=1e-3)


@llm
@needs_smollm2
def test_a_desk_with_a_real_judging_model_answers_with_a_quoted_short_answer(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    from rag.local_model import LlamaCppGenerator

    desk = Newsdesk(
        tmp_path / "index",
        embedder=HashingEmbedder(),
        generator=LlamaCppGenerator("smollm2"),
        # SmolLM2 is rarely sure: always choose a phrase, never decline for doubt.
        phrase_model=replace(load_phrase_model(), threshold=0.0, refusal=None),
        answer_cache_size=0,
    )
    desk.ingest([write_jsonl("talks.jsonl", [article("talks", TALKS)])])
    reading = desk.read(ASKED, 5)
    answer = reading.answer
    assert answer.answered and answer.short_answer and reading.draft.phrases
    assert answer.citations and answer.short_answer in (answer.citations[0].quote or "")
    assert answer.reader and "judging" in answer.reader


def test_the_reading_bench_needs_a_local_model_and_names_the_variable(
    tmp_path: Path, write_jsonl: Writer
) -> None:
    from eval.bench.reading_stage import ReadingStageError, run_reading

    plain = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    plain.ingest([write_jsonl("talks.jsonl", [article("talks", TALKS)])])

    def make_desk(index_dir: Path, **settings: Any) -> Newsdesk:
        return Newsdesk(index_dir, embedder=HashingEmbedder(), **settings)

    with pytest.raises(ReadingStageError, match="NEWSDESK_LLM_GGUF"):
        run_reading(tmp_path / "index", [ASKED], make_desk)


@llm
@needs_smollm2
def test_bench_reading_times_three_readers_in_one_run(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    asked = tmp_path / "questions.jsonl"  # two: the stage's timing, not its statistics, is under test
    asked.write_text(
        '{"question": "Which provinces were struck?"}\n{"question": "Who won the election?"}\n',
        encoding="utf-8",
    )
    command = ["bench", "--quick", "--only", "reading", "--questions", str(asked), "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "newsdesk_app.cli", *command],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NEWSDESK_LLM_GGUF": "smollm2", "NEWSDESK_LLM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reading = json.loads(result.stdout.strip().splitlines()[-1])["reading"]
    assert reading["questions"] == 2 and "smollm2" in reading["model"]
    for name in ("extractive", "model_judging", "model_writing"):
        first, whole = reading[f"{name}_first_words"], reading[f"{name}_whole_answer"]
        assert 0 < first["p50_ms"] <= whole["p50_ms"] + 1e-6, name
    assert "judging" in reading["model_judging_reader"] and reading["extractive_reader"].startswith(
        "extractive"
    )
    assert reading["model_judging_p50_ratio_to_extractive"] > 1
