"""Short answers: the kind of answer a question asks for, and the phrase picked from the evidence."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from index.embedding import HashingEmbedder
from rag.question import DATES, NUMBERS, PEOPLE, PLACES, WORKS, frame_question
from rag.service import Newsdesk
from rag.short_answer import short_answer
from tests.conftest import article


def phrase(question: str, sentences: list[tuple[str, float]], *args: Any) -> str | None:
    found = short_answer(question, sentences, *args)
    return None if found is None else found.text


STRIKES = (
    "According to Syrian military sources, Russian jets struck positions in the provinces of Hama, Homs "
    "and Latakia."
)


@pytest.mark.parametrize(
    ("question", "labels", "several"),
    [
        ("Which provinces were struck?", PLACES, True),
        ("Which country hosted the summit?", PLACES, False),
        ("How many people were arrested?", NUMBERS, False),
        ("When did the library reopen?", DATES, False),
        ("In what year was the bridge built?", DATES, False),
        ("Where did the ship run aground?", PLACES, False),
        ("Which film won best picture?", WORKS, False),
        ("Which politician announced a run for president?", PEOPLE, False),
    ],
)
def test_the_kind_of_answer_is_read_from_the_question(
    question: str, labels: frozenset[str], several: bool
) -> None:
    frame = frame_question(question)
    assert (frame.labels, frame.several) == (labels, several)


def test_questions_that_ask_for_no_phrase_get_no_kind() -> None:
    for question in ("Why did the council resign?", "What happened at the summit?"):
        frame = frame_question(question)
        assert not frame.phrase
        assert frame.labels == frozenset()


@pytest.mark.parametrize(
    ("question", "sentences", "expected"),
    [
        ("Which provinces were struck?", [(STRIKES, 0.9)], "Hama, Homs and Latakia"),
        (
            "Who chaired the Security Council meeting?",
            [("Russian Foreign Minister Sergei Lavrov chaired the Security Council meeting.", 0.8)],
            "Sergei Lavrov",
        ),
        (
            "When did Parasite win best picture?",
            [("The film Parasite won the Academy Award for best picture on 9 February 2020.", 0.8)],
            "9 February 2020",
        ),
        (
            "Which car company unveiled the EQXX?",
            [("Mercedes-Benz unveiled the Vision EQXX concept car on Monday.", 0.8)],
            "Mercedes-Benz",
        ),
    ],
)
def test_the_phrase_is_picked_from_the_best_sentences(
    question: str, sentences: list[tuple[str, float]], expected: str
) -> None:
    assert phrase(question, sentences) == expected


def test_sources_that_agree_outweigh_a_single_better_sentence() -> None:
    sentences = [
        ("Officials said 300 people had been detained by Friday.", 0.9),
        ("Prosecutors have charged 700 people, court records show.", 0.8),
        ("In all, 700 people were arrested, the department said.", 0.7),
    ]
    assert phrase("How many people were arrested?", sentences) == "700"


def test_the_question_s_own_words_are_never_the_answer() -> None:
    sentence = [("Sergei Lavrov met Antony Blinken in Geneva on Friday.", 0.9)]
    assert phrase("Who did Sergei Lavrov meet in Geneva?", sentence) == "Antony Blinken"
    assert phrase("Why did they meet?", sentence) is None


def test_ask_puts_the_short_answer_first_in_the_json(
    tmp_path: Path, write_jsonl: Callable[[str, Iterable[dict[str, Any]]], Path]
) -> None:
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    desk.ingest([write_jsonl("news.jsonl", [article("strikes", STRIKES)])])
    answer = desk.ask("Which provinces did the Russian jets strike?")
    assert answer.answered and answer.short_answer == "Hama, Homs and Latakia"
    assert list(answer.as_dict())[:2] == ["question", "short_answer"]
    declined = desk.ask("Who won the football league in Portugal?")
    assert not declined.answered and declined.short_answer is None


def test_outlets_datelines_and_vague_amounts_give_way_to_the_answer() -> None:
    sentences = [
        ("WASHINGTON (CNN) Hundreds of people have been arrested, CNN reported.", 0.9),
        ("The Justice Department said 725 people have been arrested so far.", 0.6),
    ]
    assert phrase("How many people have been arrested?", sentences, ["CNN"]) == "725"
    who = [("CNN reported that Ketanji Brown Jackson studied at Harvard, WASHINGTON sources said.", 0.9)]
    assert phrase("Which university did she attend?", who, ["CNN"]) == "Harvard"


def test_a_which_question_of_no_listed_kind_still_gets_a_name() -> None:
    sentences = [("The blood moon seen on Tuesday was a total lunar eclipse, NASA said.", 0.8)]
    assert phrase("Which organisation explained the blood moon?", sentences) == "NASA"
    naming = [("The storm, named Cyclone Mocha by forecasters, hit Myanmar on Sunday.", 0.8)]
    assert phrase("A powerful storm hit Myanmar. What was its name?", naming) == "Cyclone Mocha"
    assert phrase("What happened in Myanmar?", naming) is None
    assert phrase("How did the storm form over Myanmar?", naming) is None


def test_a_when_question_inside_a_longer_quiz_text_asks_for_a_date() -> None:
    frame = frame_question("She has won 32 Grammys. When did she win her first Grammy award?")
    assert (frame.labels, frame.several) == (DATES, False)


def test_the_top_articles_that_name_a_candidate_decide_between_equal_sentences() -> None:
    sentences = [
        ("Recalls were announced by Ford and by Toyota for their pickup trucks.", 0.8),
    ]
    articles = ["Toyota recalls 380,000 pickup trucks. Toyota said the fix is free.", "Toyota dealers…"]
    assert phrase("Which automaker recalled pickup trucks?", sentences, (), articles) == "Toyota"
    assert phrase("Which automaker recalled pickup trucks?", sentences, (), articles[::-1][:0]) == "Ford"


def test_a_candidate_closer_in_meaning_to_what_is_asked_wins() -> None:
    sentences = [("Pilson praised Serena Williams as she teased a comeback at the US Open.", 0.8)]

    def embed(texts: list[str]) -> Any:
        import numpy as np

        # "superstar athlete" and "Serena Williams" point one way, everything else another.
        return np.array([[1.0, 0.0] if ("athlete" in t or "Serena" in t) else [0.0, 1.0] for t in texts])

    question = "Which superstar athlete teased a comeback?"
    assert phrase(question, sentences, (), (), embed) == "Serena Williams"


def test_a_newer_figure_is_preferred_and_the_older_one_reported() -> None:
    sentences = [
        ("At least 300 people were killed in the quake, officials said on Monday.", 0.85),
        ("The death toll rose to 800 people on Friday, officials said.", 0.8),
    ]
    origins = [("2023-02-06T09:00:00", "Morning Post"), ("2023-02-10", "Wire")]
    found = short_answer("How many people were killed?", sentences, origins=origins)
    assert found is not None and found.text == "800" and found.sentence == 1
    assert [(e.text, e.published_at, e.source) for e in found.earlier] == [
        ("At least 300", "2023-02-06", "Morning Post")
    ]
    same_day = short_answer("How many people were killed?", sentences, origins=[origins[0]] * 2)
    assert same_day is not None and same_day.text == "At least 300" and same_day.earlier == ()


def test_an_answer_from_sources_of_different_days_names_the_earlier_figure(
    tmp_path: Path, write_jsonl: Callable[[str, Iterable[dict[str, Any]]], Path]
) -> None:
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    early = article("early", "Officials said 300 people were killed by the earthquake in Turkey.")
    late = article("late", "Officials said 800 people were killed by the earthquake in Turkey by Friday.")
    early["published_at"], late["published_at"] = "2023-02-06", "2023-02-10"
    desk.ingest([write_jsonl("news.jsonl", [early, late])])
    answer = desk.ask("How many people were killed by the earthquake in Turkey?")
    assert answer.answered and answer.short_answer == "800"
    assert answer.answer.startswith("Officials said 800 people")  # the newest report leads
    shape = answer.as_dict()
    assert shape["earlier_answers"] == [{"text": "300", "published_at": "2023-02-06", "source": "Test Wire"}]


def test_a_name_of_another_kind_gains_less_from_the_articles_that_repeat_it() -> None:
    sentence = [
        (
            "Earlier the Federation Council unanimously approved a request from President Vladimir Putin "
            "to use Russian armed forces abroad.",
            0.8,
        )
    ]
    articles = ["Russian jets flew. Russian troops waited. Russian pilots returned."] * 5
    assert phrase("Who approved the request?", sentence, (), articles) != "Russian"


def test_the_hand_score_of_a_candidate_record_is_worked_by_hand() -> None:
    """(0.9 mention support + 0.3 agreement weight x 0.3 for a name of another label x 1.5 agreement)
    x (1 + 2.0 x 0.25 cosine to the focus) = 1.035 x 1.5 = 1.5525."""
    from rag.features import CandidateFeatures, hand_score
    from rag.weights import HAND_WEIGHTS as W

    values: dict[str, Any] = dict.fromkeys(CandidateFeatures.FEATURES, 0)  # the rest are not hand-weighted
    values.update(label_match=False, mention_support=0.9, mentions=2, agreement=1.5, focus_cosine=0.25)
    record = CandidateFeatures(**values)
    weights = (W.agreement_weight, W.other_name_weight, W.meaning_weight)
    assert hand_score(record, *weights) == pytest.approx(1.5525)
    assert len(record.as_vector()) == len(CandidateFeatures.FEATURES) == 30


def test_each_candidate_weighed_is_returned_with_its_record() -> None:
    """Toyota: 2 mentions in the first article, 1 in the second, 2/1 + 1/2 = 2.5; Ford none. The
    older figure's report is 4 days older than the newest sentence read."""
    sentences = [("Recalls were announced by Ford and by Toyota for their pickup trucks.", 0.8)]
    articles = ["Toyota recalls 380,000 pickup trucks. Toyota said the fix is free.", "Toyota dealers…"]
    found = short_answer("Which automaker recalled pickup trucks?", sentences, (), articles)
    assert found is not None and found.text == "Toyota"
    records = dict(found.candidates)
    assert (records["Toyota"].agreement, records["Ford"].agreement) == (2.5, 0.0)
    assert records["Toyota"].mentions == records["Ford"].mentions == 1
    assert records["Toyota"].label_match and records["Toyota"].focus_cosine == 0.0
    quake = [
        ("At least 300 people were killed in the quake, officials said on Monday.", 0.85),
        ("The death toll rose to 800 people on Friday, officials said.", 0.8),
    ]
    origins = [("2023-02-06T09:00:00", "Morning Post"), ("2023-02-10", "Wire")]
    figures = short_answer("How many people were killed?", quake, origins=origins)
    assert figures is not None and figures.text == "800"
    ages = {text: f.age_days for text, f in figures.candidates}
    assert ages["800"] == 0 and ages["At least 300"] == 4
    names = [(text, f) for text, f in figures.candidates if not f.noun_chunk]
    assert len(names) == 2
    assert all(f.outlets == 1 and f.best_sentence == (text == "800") for text, f in names)
    assert not any(f.noun_chunk for _, f in figures.candidates)  # a number is asked: no noun phrases


def test_noun_phrases_and_their_runs_are_candidates_the_hand_weights_leave_to_the_learned_reader() -> None:
    """ "Spinach, broad beans and tarragon" is no named entity: it can only be reached as a run of noun
    phrases, offered to the learned reader; the hand weights never pick a noun phrase."""
    from rag.features import CandidateFeatures
    from rag.scoring import LinearScorer

    class PrefersLongPhrases(LinearScorer):
        def candidate_scores(self, records: Sequence[CandidateFeatures]) -> list[float]:
            return [float(r.words) if r.noun_chunk else 0.0 for r in records]

    sentence = "Growers in the valley planted spinach, broad beans and tarragon after the frost."
    assert short_answer("Which crops did growers plant?", [(sentence, 0.8)]) is None  # no named entity
    picked = short_answer("Which crops did growers plant?", [(sentence, 0.8)], scorer=PrefersLongPhrases())
    assert picked is not None and picked.text == "spinach, broad beans and tarragon"
    phrases = {text for text, f in picked.candidates if f.noun_chunk}
    assert {"spinach", "broad beans", "tarragon", "frost"} <= phrases
    assert "Growers" not in phrases and "valley" in phrases  # the question's own words are never the answer
