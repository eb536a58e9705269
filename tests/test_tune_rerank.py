"""The listwise fit behind qa/search/rerank.json (benchmarks/tune_rerank.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from tune_rerank import fit  # noqa: E402


def test_fit_of_one_question_meets_the_optimum_worked_out_by_hand() -> None:
    # Two passages with features 1 and 0, the first gold: the loss is -log(sigmoid(w)) + l2 * w^2,
    # whose minimum has 1 - sigmoid(w) = 2 * l2 * w. With l2 = 0.1 that is w = 1.1775 (bisection).
    w = fit([np.array([[1.0], [0.0]])], [np.array([1.0, 0.0])], l2=0.1)
    assert 1 - 1 / (1 + math.exp(-w[0])) == pytest.approx(2 * 0.1 * w[0], abs=1e-5)
    assert w[0] == pytest.approx(1.1775, abs=1e-3)


def test_fit_learns_which_feature_marks_the_gold_passage() -> None:
    rng = np.random.default_rng(0)
    matrices, golds = [], []
    for _ in range(60):  # feature 0 is highest on the gold passage; feature 1 is noise
        x = rng.random((5, 2))
        gold = np.zeros(5)
        gold[np.argmax(x[:, 0])] = 1.0
        matrices.append(x)
        golds.append(gold)
    w = fit(matrices, golds, l2=1e-4)
    assert w[0] > 5 * abs(w[1])
    assert all(gold[np.argmax(x @ w)] == 1.0 for x, gold in zip(matrices, golds))


def test_fit_follows_the_questions_that_weigh_more() -> None:
    # Two questions that disagree: the first's gold passage has feature 1, the second's feature 0.
    # The fitted weight takes the sign of the one that counts more.
    first = (np.array([[1.0], [0.0]]), np.array([1.0, 0.0]))
    second = (np.array([[1.0], [0.0]]), np.array([0.0, 1.0]))
    matrices, golds = [first[0], second[0]], [first[1], second[1]]
    assert fit(matrices, golds, l2=0.01, weights=[3.0, 1.0])[0] > 0.1
    assert fit(matrices, golds, l2=0.01, weights=[1.0, 3.0])[0] < -0.1
    assert fit(matrices, golds, l2=0.01)[0] == pytest.approx(0.0, abs=1e-4)
