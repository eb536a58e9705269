"""Choosing the sentence that answers, and deciding when the corpus holds no answer.

The answer sentence is chosen among the sentences of the top passages by a score that adds
the sentence's cosine similarity to the question, the share of the question's terms it
contains, and a prior for its passage's rank; a sentence that is really a run-in heading (no
closing punctuation) is pushed down. Weights were fitted on the tuning half of SQuAD
(docs/EVALUATION.md).

Abstention is a logistic model over signals measured for every question (how close the best
passage and the best sentence are, how many of the question's terms the best passage holds, and
whether the dense and keyword legs agree), calibrated on answerable and unanswerable questions;
its coefficients live in ``abstain.json`` beside this file with the command that produced them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.keyword import analyze
from qa.types import Answer, Article, Hit

HEADING_END = tuple('.!?…"”’)»]')
# Words that say what kind of answer is wanted rather than what it is about: left out when
# measuring how much of a question a text covers (BM25's Lucene stopword list keeps them).
QUESTION_WORDS = frozenset(
    analyze(
        "who whom whose what which when where why how did do does done were has have had can could "
        "would should may might about also any many much some other else"
    )
)


@dataclass(frozen=True)
class SentenceWeights:
    """score = cosine + lexical * share of question terms + rank / passage rank - heading."""

    lexical: float = 0.3
    rank: float = 0.1
    heading: float = 0.3


def question_terms(question: str) -> set[str]:
    """The question's content terms, analysed as for BM25."""
    return set(analyze(question)) - QUESTION_WORDS


def term_coverage(question_terms: set[str], text: str) -> float:
    """The share of the question's distinct content terms that occur in ``text``."""
    if not question_terms:
        return 0.0
    return len(question_terms & set(analyze(text))) / len(question_terms)


def candidate_sentences(hits: list[Hit], articles: dict[str, Article], n_passages: int) -> list[tuple[Hit, int, int]]:
    """(hit, start, end) of each distinct sentence of the first ``n_passages`` hits."""
    seen: set[tuple[str, int, int]] = set()
    candidates = []
    for hit in hits[:n_passages]:
        for start, end in hit.chunk.sentences:
            key = (hit.chunk.article_id, start, end)
            if key not in seen:
                seen.add(key)
                candidates.append((hit, start, end))
    return candidates


def select_answer(
    question: str,
    question_vector: np.ndarray,
    hits: list[Hit],
    articles: dict[str, Article],
    encode,
    n_passages: int = 3,
    weights: SentenceWeights = SentenceWeights(),
) -> tuple[Answer | None, float]:
    """The best sentence among the top passages, and its cosine similarity to the question."""
    candidates = candidate_sentences(hits, articles, n_passages)
    if not candidates:
        return None, 0.0
    texts = [articles[hit.chunk.article_id].text[start:end] for hit, start, end in candidates]
    cosines = encode(texts) @ question_vector
    terms = question_terms(question)
    scores = [
        float(cosine)
        + weights.lexical * term_coverage(terms, text)
        + weights.rank / hit.rank
        - (weights.heading if not text.rstrip().endswith(HEADING_END) else 0.0)
        for (hit, _, _), text, cosine in zip(candidates, texts, cosines)
    ]
    best = int(np.argmax(scores))
    hit, start, end = candidates[best]
    answer = Answer(
        text=texts[best], chunk_id=hit.chunk.id, article_id=hit.chunk.article_id,
        start=start, end=end, score=scores[best],
    )
    return answer, float(cosines[best])


@dataclass(frozen=True)
class Signals:
    """What abstention decides from, for one question."""

    dense_top: float  # cosine of the best dense passage
    sentence: float  # cosine of the chosen answer sentence
    coverage: float  # share of the question's terms in the best passage
    agreement: float  # 1 / rank of the dense leg's best passage in the keyword leg (0: absent)

    def vector(self) -> list[float]:
        return [self.dense_top, self.sentence, self.coverage, self.agreement]


FEATURES = ("dense_top", "sentence", "coverage", "agreement")
CALIBRATION = Path(__file__).with_name("abstain.json")


@dataclass(frozen=True)
class Abstainer:
    """p(answerable) = sigmoid(bias + coefficients · signals); abstain below ``threshold``."""

    coefficients: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, signals: Signals) -> float:
        z = self.bias + sum(c * x for c, x in zip(self.coefficients, signals.vector()))
        return 1.0 / (1.0 + math.exp(-z))

    def abstains(self, signals: Signals) -> bool:
        return self.probability(signals) < self.threshold

    @classmethod
    def from_json(cls, data: dict) -> "Abstainer":
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"abstention model has features {data['features']}, expected {FEATURES}")
        return cls(tuple(float(c) for c in data["coefficients"]), float(data["bias"]), float(data["threshold"]))


@lru_cache(maxsize=1)
def default_abstainer() -> Abstainer | None:
    """The calibrated model shipped with qa, or None before one has been calibrated."""
    if not CALIBRATION.is_file():
        return None
    return Abstainer.from_json(json.loads(CALIBRATION.read_text()))
