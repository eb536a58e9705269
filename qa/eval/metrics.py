"""Ranking metrics computed by ranx, behind one function that hides ranx's quirks.

Callers give relevance judgements (``qrels``: query id -> {document id: relevance}) and ranked
lists of document ids (best first) and get every metric for every query back. ranx itself is
imported on first use (it takes a moment).

Quirks handled here:

- ranx ranks a run by score, so each list is given the score 1 / rank: ties cannot reorder it.
- ranx's numba kernels are compiled for the string length of the document ids: every new
  longest-id length would trigger a fresh compile, tens of seconds. Document ids are therefore
  replaced by fixed-width numbers before ranx sees them, so the kernels are compiled once and then
  loaded from numba's on-disk cache (docs/BENCHMARKS.md, "Figures behind the code").
- A query with nothing retrieved is kept, with an empty run, and scores 0.
- A query without any relevant document is refused: ranx would average its undefined scores in.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

HIT_CURVE = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 50, 100)
RETRIEVAL_METRICS = ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10", "recall@100")
ID_WIDTH = 12  # every document id becomes a number of this many digits

PerQuery = dict[str, dict[str, float]]  # metric -> query id -> value


def ranx_name(metric: str) -> str:
    """Our metric name ("hit@3") in ranx's vocabulary ("hit_rate@3")."""
    return metric.replace("hit@", "hit_rate@")


def evaluate_rankings(
    qrels: Mapping[str, Mapping[str, int]],
    rankings: Mapping[str, Sequence[str]],
    metrics: Sequence[str],
) -> PerQuery:
    """Every metric for every query of ``qrels``: ``{metric: {query id: value}}``.

    ``rankings`` holds each query's retrieved document ids, best first; a query missing from it
    retrieved nothing. Rankings of queries absent from ``qrels`` are ignored. Metric names are
    ranx's, except that hit@k stands for ranx's hit_rate@k.
    """
    from ranx import Qrels, Run, evaluate

    empty = sorted(query for query, relevant in qrels.items() if not any(v > 0 for v in relevant.values()))
    if empty:
        raise ValueError(f"{len(empty)} queries have no relevant document (first: {empty[0]!r})")
    if not qrels:
        return {metric: {} for metric in metrics}
    codes: dict[str, str] = {}

    def code(doc_id: str) -> str:
        return codes.setdefault(doc_id, f"{len(codes):0{ID_WIDTH}d}")

    ranx_qrels = Qrels(
        {query: {code(d): int(v) for d, v in relevant.items()} for query, relevant in qrels.items()}
    )
    run = Run(
        {
            query: {
                code(doc_id): 1.0 / rank
                for rank, doc_id in enumerate(_unique(rankings.get(query, ())), start=1)
            }
            for query in qrels
        }
    )
    names = {ranx_name(metric): metric for metric in metrics}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's NumbaTypeSafetyWarning on every call
        evaluate(ranx_qrels, run, list(names), return_mean=False)
    return {
        names[name]: {query: float(value) for query, value in scores.items()}
        for name, scores in run.scores.items()
    }


def _unique(ids: Sequence[str]) -> list[str]:
    """The ids in order, later repeats dropped (a run holds each document once)."""
    return list(dict.fromkeys(ids))


def mean(per_query: Mapping[str, float], queries: Sequence[str]) -> float | None:
    """The average over ``queries`` (None when there are none)."""
    if not queries:
        return None
    return sum(per_query[query] for query in queries) / len(queries)
