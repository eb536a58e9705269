"""Fit the passage re-rank (qa/search/rerank.json) on the SQuAD tuning half.

The passages of each question are retrieved once (hybrid, the default settings, 20 deep), and
every passage is described by qa.search.answer.RERANK_FEATURES. A linear model is fitted listwise:
for each question, a softmax over its passages' scores, maximising the probability of the
passages that hold a gold answer (questions with no such passage, or only such passages, teach
nothing and are left out), with a small L2 penalty. The script prints hit@1 (the first passage
holds a gold answer) and answer accuracy (the answer sentence holds one) for retrieval alone,
the model in use and the fitted one, and writes the fitted model with --write.

Only questions of the first 24 articles are used; the last 24 are left for reporting
(`qa eval --squad ... --articles last`).

    qa eval --squad ../shared/datasets/squad-v1.1-dev/dev-v1.1.json.zip --index-dir /tmp/ev-squad \
        --sample 2000 --articles first          # builds the index once
    python benchmarks/tune_rerank.py --index-dir /tmp/ev-squad --write
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-v1.1-dev" / "dev-v1.1.json.zip"


@dataclass
class Case:
    """One question's passages: their features, the scored sentences and the gold flags."""

    hits: list
    sentences: list
    rows: list[dict[str, float]]
    gold_passages: list[bool]
    gold_sentences: dict[tuple[int, int, int], bool]  # (passage, start, end) -> holds a gold answer


def fit(matrices, golds, l2: float):
    """Coefficients maximising the mean log-probability, under a softmax over each question's
    passages, of its gold passages; minus ``l2`` times their squared norm."""
    import numpy as np
    from scipy.optimize import minimize

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for x, gold in zip(matrices, golds):
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            on_gold = p * gold
            total -= np.log(on_gold.sum())
            grad -= x.T @ (on_gold / on_gold.sum() - p)
        n = len(matrices)
        return total / n + l2 * w @ w, grad / n + 2 * l2 * w

    result = minimize(loss, np.zeros(matrices[0].shape[1]), jac=True, method="L-BFGS-B")
    if not result.success:
        raise SystemExit(f"the fit did not converge: {result.message}")
    return result.x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--index-dir", type=Path, required=True, help="a SQuAD index built by qa eval --squad")
    parser.add_argument("--sample", type=int, default=None, help="questions of the tuning half (default: all)")
    parser.add_argument("--depth", type=int, default=20, help="passages re-ranked")
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--features", default=None, help="comma-separated RERANK_FEATURES (default: all)")
    parser.add_argument("--write", action="store_true", help="write the fitted model to qa/search/rerank.json")
    args = parser.parse_args()

    import numpy as np
    from tqdm import tqdm

    from qa.config import settings_from_env
    from qa.eval.datasets import load_squad, squad_questions
    from qa.eval.gold import chunk_span, gold_occurrences, holds_gold
    from qa.eval.indexes import CachingEmbedder, default_embedder, prime
    from qa.eval.questions import sample_questions
    from qa.indexing.faiss_store import FaissStore
    from qa.search.answer import (
        RERANK_FEATURES,
        RERANK_MODEL,
        Reranker,
        best_sentence,
        default_reranker,
        passage_features,
        question_terms,
        rerank,
        score_sentences,
    )
    from qa.search.answer_type import expected_type
    from qa.search.searcher import Searcher
    from qa.text.terms import analyze

    features = tuple(args.features.split(",")) if args.features else RERANK_FEATURES
    settings = settings_from_env()
    store = FaissStore.load(args.index_dir)
    questions = sample_questions(squad_questions(load_squad(args.squad), "first"), args.sample)
    searcher = Searcher(store, CachingEmbedder(default_embedder(settings)), settings.search, abstain=False)
    prime(searcher, [question.question for question in questions], progress=True)

    cases = []
    for question in tqdm(questions, desc="retrieving", file=sys.stderr):
        gold = gold_occurrences(question, store.articles)
        retrieval = searcher.retrieve(question.question, args.depth)
        hits = retrieval.hits
        terms = store.keyword.idf(question_terms(retrieval.query))
        vectors = np.concatenate([store.sentence_vectors(hit.chunk) for hit in hits])
        sentences = score_sentences(
            retrieval.vector, terms, hits, store.articles, vectors, expected_type(question.question)
        )
        words = [analyze(hit.chunk.text) for hit in hits]
        cases.append(Case(
            hits=hits,
            sentences=sentences,
            rows=passage_features(analyze(retrieval.query), terms, hits, sentences, words),
            gold_passages=[holds_gold(chunk_span(hit.chunk), gold) for hit in hits],
            gold_sentences={
                (s.passage, s.start, s.end): holds_gold((hits[s.passage].chunk.article_id, s.start, s.end), gold)
                for s in sentences
            },
        ))

    def score(model: Reranker) -> tuple[float, float]:
        first = correct = 0
        for case in cases:
            _, order = rerank(case.hits, case.rows, model)
            first += case.gold_passages[order[0]]
            chosen = best_sentence(case.sentences, order, settings.search.answer_passages)
            correct += chosen is not None and case.gold_sentences[(chosen.passage, chosen.start, chosen.end)]
        return first / len(cases), correct / len(cases)

    informative = [case for case in cases if any(case.gold_passages) and not all(case.gold_passages)]
    matrices = [np.array([[row[name] for name in features] for row in case.rows]) for case in informative]
    golds = [np.array(case.gold_passages, dtype=float) for case in informative]
    fitted = Reranker(features, tuple(round(float(c), 4) for c in fit(matrices, golds, args.l2)))

    print(
        f"{len(cases)} questions of the tuning half ({len(informative)} informative), {args.depth} passages re-ranked"
    )
    print(f"retrieval alone: hit@1 {np.mean([case.gold_passages[0] for case in cases]):.3f}")
    if RERANK_MODEL.is_file():
        print("model in use:   hit@1 {:.3f}, answer {:.3f}".format(*score(default_reranker())))
    hit1, accuracy = score(fitted)
    print(f"fitted model:   hit@1 {hit1:.3f}, answer {accuracy:.3f}")
    for name, coefficient in zip(fitted.features, fitted.coefficients):
        print(f"  {name:24s} {coefficient:+.4f}")
    if args.write:
        command = "python benchmarks/tune_rerank.py --index-dir DIR --write"
        if args.sample or args.l2 != 1e-4 or args.features or args.depth != 20:
            command = "python " + " ".join(sys.argv)
        RERANK_MODEL.write_text(json.dumps({
            "features": list(fitted.features),
            "coefficients": list(fitted.coefficients),
            "fit": {
                "command": command,
                "date": date.today().isoformat(),
                "data": "SQuAD v1.1 dev, questions of the first 24 articles, hybrid retrieval 20 deep",
                "questions": len(cases),
                "informative": len(informative),
                "l2": args.l2,
                "tuning_hit_at_1": round(hit1, 4),
                "tuning_answer_accuracy": round(accuracy, 4),
            },
        }, indent=2) + "\n")
        print(f"wrote {RERANK_MODEL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
