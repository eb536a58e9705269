"""Fusing the dense and keyword rankings into one.

Two methods, chosen by measurement (docs/EVALUATION.md):

- Reciprocal rank fusion (Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms
  Condorcet and individual Rank Learning Methods", SIGIR 2009): score = sum of 1 / (c + rank).
- Convex combination of normalised scores (Bruch, Gai and Ingber, "An Analysis of Fusion
  Functions for Hybrid Retrieval", ACM TOIS 2023): score = w * dense + (1 - w) * keyword, each
  leg min-max normalised over its own candidates; a candidate missing from a leg gets 0 there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

RRF_C = 60


def rrf(rankings: Mapping[str, Sequence[int]], c: int = RRF_C) -> list[tuple[int, float]]:
    """(row, fused score), best first, from each leg's rows in rank order. Ties: lower row first."""
    scores: dict[int, float] = {}
    for rows in rankings.values():
        for rank, row in enumerate(rows, start=1):
            scores[row] = scores.get(row, 0.0) + 1.0 / (c + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def min_max(scores: Mapping[int, float]) -> dict[int, float]:
    """Scores scaled to [0, 1] over the candidates; all equal -> all 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {row: 1.0 for row in scores}
    return {row: (score - low) / (high - low) for row, score in scores.items()}


def convex(
    dense: Mapping[int, float], keyword: Mapping[int, float], weight: float
) -> list[tuple[int, float]]:
    """(row, fused score), best first: ``weight`` on the dense leg, the rest on the keyword leg."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the dense weight must be between 0 and 1, not {weight}")
    dense_n, keyword_n = min_max(dense), min_max(keyword)
    rows = set(dense_n) | set(keyword_n)
    fused = {row: weight * dense_n.get(row, 0.0) + (1 - weight) * keyword_n.get(row, 0.0) for row in rows}
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
