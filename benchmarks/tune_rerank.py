"""Fit the passage re-rank (qa/search/rerank.json) on the SQuAD tuning half, and on news.

The passages of each question are retrieved once (hybrid, the default settings, 20 deep), and
every passage is described by qa.search.answer.RERANK_FEATURES. A linear model is fitted listwise:
for each question, a softmax over its passages' scores, maximising the probability of the
passages that hold a gold answer (questions with no such passage, or only such passages, teach
nothing and are left out), with a small L2 penalty. The script prints hit@1 (the first passage
holds a gold answer) and answer accuracy (the answer sentence holds one) for retrieval alone,
the model in use and the fitted one, and writes the fitted model with --write.

Only questions of the first 24 articles are used; the last 24 are left for reporting
(`qa eval --squad ... --articles last`).

With --bbc-index (an index of the BBC News corpus, built with qa index) the answerable questions
of the two BBC News tuning sets (eval/bbc-tuning.jsonl, eval/bbc-tuning-2.jsonl: paraphrases, terse
queries, follow-ups) are fitted on too, their mean loss weighted --bbc-weight against SQuAD's
(SQuAD's questions are written from their paragraph's words, the news sets' mostly are not). The
blind set (eval/bbc-blind.jsonl) is never used.

    qa eval --squad ../shared/datasets/squad-v1.1-dev/dev-v1.1.json.zip --index-dir /tmp/ev-squad \
        --sample 2000 --articles first          # builds the index once
    python benchmarks/tune_rerank.py --index-dir /tmp/ev-squad --write
    qa index /tmp/bbc/bbc/{business,entertainment,politics,sport,tech} --index-dir /tmp/ev-bbc
    python benchmarks/tune_rerank.py --index-dir /tmp/ev-squad --bbc-index /tmp/ev-bbc --bbc-weight 0.5 --write
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import BBC_TUNING  # noqa: E402


@dataclass
class Case:
    """One question's passages: their features, the scored sentences and the gold flags."""

    hits: list
    sentences: list
    rows: list[dict[str, float]]
    gold_passages: list[bool]
    gold_sentences: dict[tuple[int, int, int], bool]  # (passage, start, end) -> holds a gold answer


def fit(matrices, golds, l2: float, weights=None):
    """Coefficients maximising the mean log-probability, under a softmax over each question's
    passages, of its gold passages (each question counting its ``weights``, by default 1);
    minus ``l2`` times their squared norm."""
    import numpy as np
    from scipy.optimize import minimize

    weights = np.ones(len(matrices)) if weights is None else np.asarray(weights, dtype=float)
    weights = weights / weights.sum()

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for x, gold, weight in zip(matrices, golds, weights):
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            on_gold = p * gold
            total -= weight * np.log(on_gold.sum())
            grad -= weight * (x.T @ (on_gold / on_gold.sum() - p))
        return total + l2 * w @ w, grad + 2 * l2 * w

    result = minimize(loss, np.zeros(matrices[0].shape[1]), jac=True, method="L-BFGS-B")
    if not result.success:
        raise SystemExit(f"the fit did not converge: {result.message}")
    return result.x


def cases_of(searcher, store, questions, depth: int) -> list[Case]:
    """Each question's ``depth`` passages (retrieved with its history), described for the re-rank."""
    import numpy as np
    from tqdm import tqdm

    from qa.eval.gold import chunk_span, gold_occurrences, holds_gold
    from qa.eval.indexes import prime
    from qa.search.answer import passage_features, question_terms, score_sentences
    from qa.search.answer_type import expected_type
    from qa.text.conversation import contextualize
    from qa.text.terms import analyze

    prime(searcher, [contextualize(question.question, list(question.history)) for question in questions], progress=True)
    cases = []
    for question in tqdm(questions, desc="retrieving", file=sys.stderr):
        gold = gold_occurrences(question, store.articles)
        retrieval = searcher.retrieve(question.question, depth, history=question.history)
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
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--index-dir", type=Path, required=True, help="a SQuAD index built by qa eval --squad")
    parser.add_argument("--sample", type=int, default=None, help="questions of the tuning half (default: all)")
    parser.add_argument("--bbc-index", type=Path, help="a BBC News index: fit on its two tuning sets too")
    parser.add_argument("--bbc-weight", type=float, default=0.5, help="the news sets' share of the loss")
    parser.add_argument("--depth", type=int, default=20, help="passages re-ranked")
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--features", default=None, help="comma-separated RERANK_FEATURES (default: all)")
    parser.add_argument("--write", action="store_true", help="write the fitted model to qa/search/rerank.json")
    args = parser.parse_args()

    import numpy as np

    from qa.config import settings_from_env
    from qa.eval.datasets import load_squad, squad_questions
    from qa.eval.indexes import CachingEmbedder, default_embedder
    from qa.eval.questions import read_question_set, sample_questions
    from qa.indexing.faiss_store import FaissStore
    from qa.search.answer import RERANK_FEATURES, RERANK_MODEL, Reranker, best_sentence, default_reranker, rerank
    from qa.search.searcher import Searcher

    features = tuple(args.features.split(",")) if args.features else RERANK_FEATURES
    settings = settings_from_env()
    embedder = CachingEmbedder(default_embedder(settings))

    def searcher_of(index_dir: Path):
        store = FaissStore.load(index_dir)
        return store, Searcher(store, embedder, settings.search, abstain=False)

    sets: dict[str, list[Case]] = {}
    store, searcher = searcher_of(args.index_dir)
    squad = sample_questions(squad_questions(load_squad(args.squad), "first"), args.sample)
    sets["SQuAD v1.1 tuning half"] = cases_of(searcher, store, squad, args.depth)
    if args.bbc_index:
        store, searcher = searcher_of(args.bbc_index)
        for path in BBC_TUNING:
            questions = [question for question in read_question_set(path) if question.answerable]
            sets[path.name] = cases_of(searcher, store, questions, args.depth)

    def score(cases: list[Case], model: Reranker) -> tuple[float, float]:
        first = correct = 0
        for case in cases:
            _, order = rerank(case.hits, case.rows, model)
            first += case.gold_passages[order[0]]
            chosen = best_sentence(case.sentences, order, settings.search.answer_passages)
            correct += chosen is not None and case.gold_sentences[(chosen.passage, chosen.start, chosen.end)]
        return first / len(cases), correct / len(cases)

    matrices, golds, weights = [], [], []
    news_sets = {path.name for path in BBC_TUNING}
    news = sum(len(cases) for name, cases in sets.items() if name in news_sets)
    for name, cases in sets.items():
        informative = [case for case in cases if any(case.gold_passages) and not all(case.gold_passages)]
        # each question of the news sets counts bbc_weight / (news questions), each of SQuAD's the rest
        share, total = (args.bbc_weight, news) if name in news_sets else (1.0 - args.bbc_weight, len(cases))
        matrices += [np.array([[row[f] for f in features] for row in case.rows]) for case in informative]
        golds += [np.array(case.gold_passages, dtype=float) for case in informative]
        weights += [share / total] * len(informative)
        print(f"{name}: {len(cases)} questions ({len(informative)} informative), {args.depth} passages re-ranked;"
              f" retrieval alone hit@1 {np.mean([case.gold_passages[0] for case in cases]):.3f}")
    fitted = Reranker(features, tuple(round(float(c), 4) for c in fit(matrices, golds, args.l2, weights)))

    figures = {}
    for name, cases in sets.items():
        if RERANK_MODEL.is_file():
            print("{}: model in use hit@1 {:.3f}, answer {:.3f}".format(name, *score(cases, default_reranker())))
        figures[name] = score(cases, fitted)
        print("{}: fitted model hit@1 {:.3f}, answer {:.3f}".format(name, *figures[name]))
    for name, coefficient in zip(fitted.features, fitted.coefficients):
        print(f"  {name:24s} {coefficient:+.4f}")
    if args.write:
        command = "python benchmarks/tune_rerank.py --index-dir DIR --write"
        if args.sample or args.l2 != 1e-4 or args.features or args.depth != 20 or args.bbc_index:
            command = "python " + " ".join(sys.argv)
        data = "SQuAD v1.1 dev, questions of the first 24 articles, hybrid retrieval 20 deep"
        if args.bbc_index:
            news_names = " and ".join(path.name for path in BBC_TUNING)
            data += f"; the answerable questions of {news_names}, {args.bbc_weight} of the loss"
        RERANK_MODEL.write_text(json.dumps({
            "features": list(fitted.features),
            "coefficients": list(fitted.coefficients),
            "fit": {
                "command": command,
                "date": date.today().isoformat(),
                "data": data,
                "questions": sum(len(cases) for cases in sets.values()),
                "informative": len(matrices),
                "l2": args.l2,
                "tuning_hit_at_1": {name: round(hit1, 4) for name, (hit1, _) in figures.items()},
                "tuning_answer_accuracy": {name: round(accuracy, 4) for name, (_, accuracy) in figures.items()},
            },
        }, indent=2) + "\n")
        print(f"wrote {RERANK_MODEL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
