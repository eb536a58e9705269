"""Fusion against values worked out by hand."""

import pytest

from qa.search.fusion import convex, min_max, rrf


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = dict(rrf({"dense": [7, 3, 5], "bm25": [3, 9]}))
    assert fused[3] == pytest.approx(1 / (60 + 2) + 1 / (60 + 1))
    assert fused[7] == pytest.approx(1 / (60 + 1))
    assert fused[9] == pytest.approx(1 / (60 + 2))
    assert fused[5] == pytest.approx(1 / (60 + 3))


def test_rrf_orders_by_score_then_row() -> None:
    # 7 and 9 are both first in one leg: equal scores, lower row first
    assert [row for row, _ in rrf({"dense": [9, 1], "bm25": [7, 2]})] == [7, 9, 1, 2]


def test_min_max_scales_to_unit_interval() -> None:
    assert min_max({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}
    assert min_max({1: 5.0, 2: 5.0}) == {1: 1.0, 2: 1.0}
    assert min_max({}) == {}


def test_convex_weights_normalised_legs() -> None:
    dense = {1: 0.9, 2: 0.5, 3: 0.7}  # normalised: 1 -> 1.0, 2 -> 0.0, 3 -> 0.5
    keyword = {2: 10.0, 4: 2.0, 3: 6.0}  # normalised: 2 -> 1.0, 4 -> 0.0, 3 -> 0.5
    fused = convex(dense, keyword, weight=0.7)
    assert dict(fused) == pytest.approx({1: 0.7 * 1.0, 2: 0.3 * 1.0, 3: 0.7 * 0.5 + 0.3 * 0.5, 4: 0.0})
    assert [row for row, _ in fused] == [1, 3, 2, 4]


def test_convex_weight_one_is_the_dense_ranking() -> None:
    dense = {1: 0.2, 2: 0.9, 3: 0.5}
    assert [row for row, _ in convex(dense, {1: 9.0, 3: 1.0}, weight=1.0)] == [2, 3, 1]


def test_convex_rejects_a_weight_outside_0_1() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        convex({}, {}, weight=1.5)
