"""The answer figures of `qa eval`: SQuAD's official exact match and F1 (HasAns / NoAns), SQuAD
2.0 parsing and halves, figures by question word and by shared words, and the abstention
trade-off curve, against hand-computed values."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from conftest import DATASETS

from qa.eval.answers import (
    normalize_answer,
    official_figures,
    official_scores,
    overlap_bucket,
    prediction,
    question_word,
    shared_words,
)
from qa.eval.datasets import convert_squad, load_squad, squad_halves, squad_questions, v11_halves
from qa.eval.gold import Gold, span_qrels
from qa.eval.outcome import span_outcome
from qa.eval.questions import GoldSpan, Question, validate_questions
from qa.eval.run import score_mode
from qa.eval.tradeoff import CurvePoint, operating_point, plot_curves, tradeoff_curve, write_curve
from qa.types import Answer, Chunk, Hit, Result, Span

SQUAD2_GZ = DATASETS / "squad-v2.0-dev" / "dev-v2.0.json.gz"


# -- the official metrics ------------------------------------------------------------------------


def test_official_normalisation() -> None:
    assert normalize_answer("The Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("  A  cat, an apple;   the END. ") == "cat apple end"
    assert normalize_answer("theatre") == "theatre"  # "the" only as a whole word


def test_exact_match_and_f1_worked_by_hand() -> None:
    assert official_scores(["eiffel tower"], "The Eiffel Tower!") == (1.0, 1.0)
    # gold {denver, broncos}; prediction {denver, broncos, won} ("the" dropped): 2 in common,
    # precision 2/3, recall 2/2, F1 = 2 * (2/3 * 1) / (2/3 + 1) = 0.8
    exact, f1 = official_scores(["Denver Broncos"], "the Denver Broncos won")
    assert exact == 0.0 and f1 == pytest.approx(0.8)
    # repeated tokens count as a multiset: gold 4 tokens, prediction 2, 2 in common:
    # precision 1, recall 1/2, F1 = 2 * 0.5 / 1.5 = 2/3
    assert official_scores(["New York, New York"], "new york")[1] == pytest.approx(2 / 3)
    # the best over the gold answers: "Seine" matches the second exactly
    assert official_scores(["the river Seine flows", "Seine"], "The Seine") == (1.0, 1.0)
    assert official_scores(["Paris"], "London") == (0.0, 0.0)


def test_no_answer_questions_are_right_only_when_qa_abstains() -> None:
    assert official_scores([], "") == (1.0, 1.0)  # NoAns, abstained
    assert official_scores([], "in 1999") == (0.0, 0.0)  # NoAns, answered
    assert official_scores(["The"], "") == (1.0, 1.0)  # a gold answer that normalises to nothing
    assert official_scores(["Paris"], "") == (0.0, 0.0)  # HasAns, abstained


def test_the_prediction_is_the_span_else_nothing_when_abstaining_else_the_sentence() -> None:
    sentence = Answer("Denver won 24-10.", "a#0", "a", 0, 17)
    with_span = Answer(sentence.text, "a#0", "a", 0, 17, span=Span("Denver", 0, 6))
    assert prediction(Result("?", with_span, ())) == ("Denver", True)
    assert prediction(Result("?", sentence, ())) == ("Denver won 24-10.", False)
    assert prediction(Result("?", None, (), abstained=True)) == ("", False)


def piece(n: int = 0) -> Chunk:
    return Chunk(f"a#{n}", "a", n, 0, 40, "x" * 40, ((0, 20), (21, 40)))


def test_has_ans_and_no_ans_figures_of_four_questions() -> None:
    """Two answerable (a span "Denver Broncos" EM 1; a sentence "the Denver Broncos won" F1 0.8,
    EM 0), two unanswerable (one abstained: 1, one answered: 0)."""
    hits = (Hit(1, 1.0, piece(), "a"),)
    gold = Gold((("a", 0, 14),), frozenset({"a#0"}))
    answerable = (GoldSpan("a", "Denver Broncos", 0),)
    span_answer = Answer("Denver Broncos won.", "a#0", "a", 0, 19, span=Span("Denver Broncos", 0, 14))
    sentence_answer = Answer("the Denver Broncos won", "a#0", "a", 0, 19)
    none = Gold((), frozenset())
    outcomes = [
        span_outcome(Question("s", "Who won?", "squad", answerable), gold, Result("?", span_answer, hits), [True], 0.2),
        span_outcome(
            Question("t", "Which team won?", "squad", answerable), gold,
            Result("?", sentence_answer, hits, unsure=True), [True], 0.4
        ),
        span_outcome(Question("u", "Who lost?", "unanswerable", ()), none, Result("?", None, hits, True), [False], 1.0),
        span_outcome(
            Question("v", "When?", "unanswerable", ()), none, Result("?", sentence_answer, hits, unsure=True), [False],
            0.1
        ),
    ]
    figures = official_figures(outcomes)
    assert figures["has_ans_exact"] == 0.5 and figures["has_ans_f1"] == pytest.approx((1 + 0.8) / 2)
    assert figures["no_ans_exact"] == figures["no_ans_f1"] == 0.5
    assert figures["exact"] == (1 + 0 + 1 + 0) / 4 and figures["f1"] == pytest.approx((1 + 0.8 + 1 + 0) / 4)
    assert (figures["span_predictions"], figures["sentence_predictions"]) == (1, 2)
    # unsure: the right sentence of "t" and the answer to unanswerable "v"; sure: the span of "s"
    assert (figures["unsure_answers"], figures["unsure_right"]) == (2, 0.5)
    assert (figures["sure_answers"], figures["sure_right"]) == (1, 1.0)

    report = score_mode("hybrid", outcomes, span_qrels({"s": gold, "t": gold}), {"s": ["a#0"], "t": ["a#0"]}, 5, 0.0)
    assert report.metrics["has_ans_f1"] == pytest.approx(0.9)
    words = report.by_question["question word"]
    assert list(words) == ["who", "when", "which"]  # largest group first, then by name
    assert words["who"]["n"] == 2 and words["who"]["exact"] == 1.0 and words["who"]["abstained"] == 0.5
    assert words["which"]["f1"] == pytest.approx(0.8) and words["when"]["answer_accuracy"] is None
    # no-answer probabilities: answerable 0.2, 0.4; unanswerable 1.0 (abstained), 0.1
    assert [(p.threshold, p.caught, p.refused) for p in report.curve] == [
        (None, 0.0, 0.0), (1.0, 0.5, 0.0), (0.4, 0.5, 0.5), (0.2, 0.5, 1.0), (0.1, 1.0, 1.0)
    ]
    assert report.operating == (0.5, 0.0)


# -- question word and shared words ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("How many passengers did the airline carry?", "how many"),
        ("In what year did the war end?", "what year"),
        ("Which year was it?", "what year"),
        ("Whose car was stolen?", "who"),
        ("To whom did he write?", "who"),
        ("When was the tower built?", "when"),
        ("The tower was built by which company?", "which"),
        ("How did it end?", "how"),
        ("Name the river.", "other"),
    ],
)
def test_question_word(question: str, word: str) -> None:
    assert question_word(question) == word


def test_shared_words_and_their_buckets() -> None:
    # content terms of the question: head, iran, militari; the sentence has head and iran
    assert shared_words("Who heads Iran's military?", "Major General Baqeri heads Iran's armed forces.") == 2
    assert shared_words("Who heads Iran's military?", "The weather was fine.") == 0
    assert [overlap_bucket(n) for n in (0, 1, 2, 3, 4, 9, None)] == ["0-1", "0-1", "2-3", "2-3", "4+", "4+", None]


# -- SQuAD 2.0 ------------------------------------------------------------------------------------


def squad2(titles: list[str]) -> dict:
    """One paragraph per title: an answerable and an is_impossible question."""
    return {
        "version": "v2.0",
        "data": [
            {
                "title": title,
                "paragraphs": [
                    {
                        "context": f"{title} has a river.",
                        "qas": [
                            {"id": f"{title}-a", "question": "What has it?", "is_impossible": False,
                             "answers": [{"text": "a river", "answer_start": len(title) + 5}]},
                            {"id": f"{title}-x", "question": "What had it?", "is_impossible": True, "answers": []},
                        ],
                    }
                ],
            }
            for title in titles
        ],
    }


def test_squad2_impossible_questions_are_unanswerable_and_halves_follow_v11(tmp_path: Path) -> None:
    first, last = v11_halves()["first"], v11_halves()["last"]
    assert len(first) == len(last) == 24 and first[0] == "Super_Bowl_50" and last[-1] == "Force"
    titles = [last[0], first[1], last[5], first[0]]  # v1.1 articles, in another order
    path = tmp_path / "dev-v2.0.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        json.dump(squad2(titles), out)
    squad = load_squad(path)
    validate_questions(squad.questions, {a.id: a for a in squad.corpus.articles})
    by_id = {q.id: q for q in squad.questions}
    assert by_id[f"{first[0]}-x"].answers == () and by_id[f"{first[0]}-x"].kind == "unanswerable"
    assert by_id[f"{first[0]}-a"].answers == (GoldSpan(first[0], "a river", len(first[0]) + 5),)
    assert squad_halves(squad.article_ids) == {"first": [first[1], first[0]], "last": [last[0], last[5]]}
    assert [q.id for q in squad_questions(squad, "first")] == [
        f"{first[1]}-a", f"{first[1]}-x", f"{first[0]}-a", f"{first[0]}-x"
    ]
    # titles outside SQuAD v1.1 dev: halves by file order, as before
    assert squad_halves(["X", "Y", "Z"]) == {"first": ["X"], "last": ["Y", "Z"]}


def test_a_squad_question_without_answers_must_be_marked_impossible() -> None:
    data = squad2(["Warsaw"])
    data["data"][0]["paragraphs"][0]["qas"][1]["is_impossible"] = False
    with pytest.raises(Exception, match="question Warsaw-x: no answer, and not marked is_impossible"):
        convert_squad(data, "bad.json")


@pytest.mark.skipif(not SQUAD2_GZ.is_file(), reason="the shared SQuAD 2.0 dev set is not present")
def test_the_real_squad2_dev_set_splits_into_v11_halves() -> None:
    squad = load_squad(SQUAD2_GZ)
    assert len(squad.corpus.articles) == 35 and len(squad.questions) == 11873
    validate_questions(squad.questions, {a.id: a for a in squad.corpus.articles})
    halves = squad_halves(squad.article_ids)
    assert (len(halves["first"]), len(halves["last"])) == (17, 18)
    first, last = squad_questions(squad, "first"), squad_questions(squad, "last")
    assert (len(first), len(last)) == (5690, 6183)  # the dataset README's counts
    assert (sum(not q.answerable for q in first), sum(not q.answerable for q in last)) == (2916, 3029)


# -- the trade-off curve --------------------------------------------------------------------------


def test_the_curve_and_its_files(tmp_path: Path) -> None:
    # answerable at 0.1 and 0.6, unanswerable at 0.8 and 0.3; 0.6 twice among answerable
    scores = [(True, 0.1), (True, 0.6), (False, 0.8), (False, 0.3), (True, 0.6)]
    points = tradeoff_curve(scores)
    assert points == [
        CurvePoint(None, 0.0, 0.0),
        CurvePoint(0.8, 0.5, 0.0),  # abstain at >= 0.8: one unanswerable of two
        CurvePoint(0.6, 0.5, 2 / 3),  # both 0.6 answerable go together
        CurvePoint(0.3, 1.0, 2 / 3),
        CurvePoint(0.1, 1.0, 1.0),
    ]
    operating = operating_point([(True, False), (True, True), (False, True), (False, False), (True, False)])
    assert operating == (0.5, 1 / 3)
    written = write_curve(points, operating, tmp_path / "curve")
    assert [p.name for p in written] == ["curve.csv", "curve.json"]
    rows = list(csv.reader((tmp_path / "curve.csv").read_text().splitlines()))
    assert rows[0] == ["threshold", "unanswerable_caught", "answerable_refused"]
    assert rows[1] == ["", "0", "0"] and rows[3] == ["0.6", "0.5", "0.666667"]
    data = json.loads((tmp_path / "curve.json").read_text())
    assert data["operating_point"] == {"unanswerable_caught": 0.5, "answerable_refused": pytest.approx(1 / 3)}
    assert data["points"][2] == {"threshold": 0.6, "unanswerable_caught": 0.5,
                                 "answerable_refused": pytest.approx(2 / 3)}
    plot_curves({"hybrid": (points, operating)}, "tiny", tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_curve_without_both_kinds_of_question() -> None:
    assert tradeoff_curve([(True, 0.2), (True, 0.9)]) == []
    assert operating_point([(False, True)]) is None
