"""The measures of benchmarks/question_style.py: how much of the no-answer signal lies in the
question's wording alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from question_style import auc, question_words  # noqa: E402


def test_auc_of_a_perfect_a_reversed_and_a_tied_score() -> None:
    labels = [True, True, False, False]
    assert auc(labels, [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert auc(labels, [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert auc(labels, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc(labels, [0.9, 0.2, 0.8, 0.1]) == pytest.approx(0.75)


def test_question_words_learn_the_word_that_marks_the_near_misses() -> None:
    # Every near miss asks for the deputy; the answerable ones ask for the minister. Other words
    # are shared, so only "deputy" / "minister" can tell them apart.
    topics = ["health", "transport", "finance", "defence", "culture", "education"]
    texts = [f"Who is the minister of {topic}?" for topic in topics] * 2
    texts += [f"Who is the deputy of {topic}?" for topic in topics] * 2
    labels = [True] * 12 + [False] * 12
    score = question_words(texts, labels)
    unseen = ["Who is the minister of sport?", "Who is the deputy of sport?"]
    minister, deputy = score(unseen)
    assert minister > deputy
    assert auc([True, False], [minister, deputy]) == 1.0
