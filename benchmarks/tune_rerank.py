"""Choose the answer-selection weights (qa.answer.SentenceWeights) on the SQuAD tuning half.

The passages of each question are retrieved once (hybrid, the default settings); then every
combination of weights on the grid re-ranks them and picks an answer sentence, and the script
prints hit@1 (the first passage holds a gold answer) and answer accuracy (the answer sentence
holds one) for the best combinations. Only questions of the first 24 articles are used; the
last 24 are left for reporting (`qa eval --squad ... --articles last`).

    qa eval --squad ../shared/datasets/squad-v1.1-dev/dev-v1.1.json.zip --index-dir /tmp/ev-squad \
        --sample 2000 --articles first          # builds the index once
    python benchmarks/tune_rerank.py --index-dir /tmp/ev-squad --sample 2000
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-v1.1-dev" / "dev-v1.1.json.zip"
GRID = {
    "lexical": (0.6, 1.0, 1.5),
    "passage": (2.0, 3.0),
    "untyped": (0.1, 0.2),
    "rank": (0.05, 0.1),
    "fused": (0.5, 1.0),
    "coverage": (0.0, 0.5, 1.0),
}


@dataclass
class Case:
    """One question's retrieved passages, with what scoring needs and the gold flags."""

    hits: list
    sentence_vectors: object
    vector: object
    terms: dict
    wanted: object
    gold_passages: list[bool]
    gold_sentences: list[list[bool]]
    coverages: list[float]
    sentences: list = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--index-dir", type=Path, required=True, help="a SQuAD index built by qa eval --squad")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--depth", type=int, default=20, help="passages re-ranked")
    parser.add_argument("--top", type=int, default=10, help="combinations printed")
    args = parser.parse_args()

    import numpy as np
    from tqdm import tqdm

    from qa.answer import SentenceWeights, best_sentence, question_terms, rerank, score_sentences, term_coverage
    from qa.answer_type import expected_type
    from qa.config import settings_from_env
    from qa.evaluate import (
        CachingEmbedder, chunk_span, default_embedder, gold_occurrences, holds_gold, load_squad, prime,
        sample_questions, squad_questions,
    )
    from qa.search import Searcher
    from qa.store import FaissStore

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
        cases.append(Case(
            hits=hits,
            sentence_vectors=np.concatenate([store.sentence_vectors(hit.chunk) for hit in hits]),
            vector=retrieval.vector,
            terms=terms,
            wanted=expected_type(question.question),
            gold_passages=[holds_gold(chunk_span(hit.chunk), gold) for hit in hits],
            gold_sentences=[[holds_gold((hit.chunk.article_id, s, e), gold) for s, e in hit.chunk.sentences] for hit in hits],
            coverages=[term_coverage(terms, hit.chunk.text) for hit in hits],
        ))

    for case in cases:  # the features of every sentence, computed once
        case.sentences = score_sentences(
            case.vector, case.terms, case.hits, store.articles, case.sentence_vectors, case.wanted
        )

    def score(weights: SentenceWeights) -> tuple[float, float]:
        first = correct = 0
        for case in cases:
            sentences = [sentence.rescored(weights) for sentence in case.sentences]
            _, order = rerank(case.hits, sentences, weights, case.coverages)
            first += case.gold_passages[order[0]]
            chosen = best_sentence(sentences, order, settings.search.answer_passages, weights)
            if chosen is not None:
                index = case.hits[chosen.passage].chunk.sentences.index((chosen.start, chosen.end))
                correct += case.gold_sentences[chosen.passage][index]
        return first / len(cases), correct / len(cases)

    results = []
    for values in tqdm(list(itertools.product(*GRID.values())), desc="grid", file=sys.stderr):
        weights = SentenceWeights(**dict(zip(GRID, values)))
        results.append((score(weights), weights))
    print(f"{len(cases)} questions of the tuning half, {args.depth} passages re-ranked")
    print(f"retrieval alone: hit@1 {np.mean([case.gold_passages[0] for case in cases]):.3f}")
    print(f"current defaults {SentenceWeights()}: hit@1 {score(SentenceWeights())[0]:.3f}, answer {score(SentenceWeights())[1]:.3f}")
    for label, key in (("by hit@1", 0), ("by answer accuracy", 1)):
        print(label)
        for (hit1, accuracy), weights in sorted(results, key=lambda r: (-r[0][key], -r[0][1 - key]))[: args.top]:
            print(f"  hit@1 {hit1:.3f}  answer {accuracy:.3f}  {weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
