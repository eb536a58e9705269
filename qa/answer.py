"""The sentence that answers, passage re-ranking by it, and when to say the corpus has no answer.

Every sentence of the top passages is scored against the question: the cosine similarity of
its vector (pooled at indexing time from its passage's tokens, so asking encodes nothing but the
question) to the question, plus the IDF-weighted share of the question's content terms it contains; a
sentence that is really a run-in heading (no closing punctuation) is pushed down, and so is one
without the kind of answer the question asks for (a number for "how many", a year for "which
year": :mod:`qa.answer_type`). Passages are re-ranked by their fused retrieval score, their best
sentence's score and how much of the question they hold as a whole, and the answer is the best
sentence of the first passages (with a small prior for the passage's rank). Weights were chosen
on the tuning halves of SQuAD and SciFact (docs/EVALUATION.md).

Abstention is a logistic model over signals measured for every question (how close the best
passage and the best sentence are, how much of the question the best passage covers, whether
the dense and keyword legs agree, whether the answer is of the kind asked for), calibrated on answerable and unanswerable questions; its
coefficients live in ``abstain.json`` beside this file, with the command that produced them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer_type import AnswerType, holds_type
from qa.keyword import analyze
from qa.types import Article, Hit

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
    """sentence score = cosine + lexical * weighted coverage - heading penalty
    - untyped penalty (when the question wants a number, year, date or time and it has none);
    passage score = fused * normalised fused score + passage * its best sentence score
    + coverage * the passage's own weighted coverage (question terms spread over sentences);
    answer = best of (sentence score + rank / passage rank) over the first passages."""

    lexical: float = 0.6
    heading: float = 0.3
    untyped: float = 0.2
    passage: float = 3.0
    rank: float = 0.1
    fused: float = 0.5
    coverage: float = 1.0

    def sentence_score(self, cosine: float, coverage: float, heading: bool, typed: bool) -> float:
        return (
            cosine
            + self.lexical * coverage
            - (self.heading if heading else 0.0)
            - (0.0 if typed else self.untyped)
        )


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage, what it is scored from, and its score."""

    passage: int  # index into the hits
    start: int
    end: int
    text: str
    cosine: float  # to the question
    coverage: float  # IDF-weighted share of the question's content terms in it
    heading: bool  # a run-in heading rather than a sentence (no closing punctuation)
    typed: bool  # holds the kind of answer the question asks for (or it asks for none)
    score: float

    def rescored(self, weights: SentenceWeights) -> "ScoredSentence":
        return replace(self, score=weights.sentence_score(self.cosine, self.coverage, self.heading, self.typed))


def question_terms(question: str) -> set[str]:
    """The question's content terms, analysed as for BM25."""
    return set(analyze(question)) - QUESTION_WORDS


def term_coverage(terms: Mapping[str, float] | set[str], text: str) -> float:
    """The (weighted) share of the question's content terms that occur in ``text``."""
    return covered_share(terms, set(analyze(text)))


def covered_share(terms: Mapping[str, float] | set[str], present: set[str]) -> float:
    """The (weighted) share of the question's content terms among ``present`` (analysed terms)."""
    weights = terms if isinstance(terms, Mapping) else {term: 1.0 for term in terms}
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(weight for term, weight in weights.items() if term in present) / total


def score_sentences(
    question_vector: np.ndarray,
    term_weights: Mapping[str, float],
    hits: Sequence[Hit],
    articles: Mapping[str, Article],
    sentence_vectors: np.ndarray,
    wanted: AnswerType | None = None,
    weights: SentenceWeights = SentenceWeights(),
) -> list[ScoredSentence]:
    """Every sentence of the hits, scored against the question; ``sentence_vectors`` has one
    row per sentence of the hits' chunks, in order; ``wanted``: the question's answer type."""
    spans = [(i, start, end) for i, hit in enumerate(hits) for start, end in hit.chunk.sentences]
    if not spans:
        return []
    texts = [articles[hits[i].chunk.article_id].text[start:end] for i, start, end in spans]
    cosines = np.asarray(sentence_vectors, dtype=np.float32) @ question_vector
    scored = []
    for (i, start, end), text, cosine in zip(spans, texts, cosines):
        features = (
            float(cosine), term_coverage(term_weights, text), not text.rstrip().endswith(HEADING_END),
            holds_type(text, wanted),
        )
        scored.append(ScoredSentence(i, start, end, text, *features, weights.sentence_score(*features)))
    return scored


def rerank(
    hits: Sequence[Hit],
    sentences: Sequence[ScoredSentence],
    weights: SentenceWeights = SentenceWeights(),
    coverages: Sequence[float] | None = None,
) -> tuple[list[Hit], list[int]]:
    """Hits re-ordered by fused score, their best sentence's score and their own coverage of
    the question (``coverages``, one per hit; none: 0), with ranks renumbered; and, for each new
    position, the hit's old index."""
    best = [max((s.score for s in sentences if s.passage == i), default=0.0) for i in range(len(hits))]
    fused = [hit.score for hit in hits]
    low, high = min(fused, default=0.0), max(fused, default=0.0)
    norm = [(score - low) / (high - low) if high > low else 1.0 for score in fused]
    coverages = coverages or [0.0] * len(hits)
    totals = [
        weights.fused * n + weights.passage * b + weights.coverage * c for n, b, c in zip(norm, best, coverages)
    ]
    order = sorted(range(len(hits)), key=lambda i: (-totals[i], i))
    reranked = [
        Hit(rank=new + 1, score=totals[old], chunk=hits[old].chunk, title=hits[old].title, found_by=hits[old].found_by)
        for new, old in enumerate(order)
    ]
    return reranked, order


def best_sentence(
    sentences: Sequence[ScoredSentence], order: Sequence[int], n_passages: int, weights: SentenceWeights = SentenceWeights()
) -> ScoredSentence | None:
    """The answer: the best sentence of the first ``n_passages`` passages (after re-ranking)."""
    rank_of = {old: new + 1 for new, old in enumerate(order)}
    candidates = [s for s in sentences if rank_of[s.passage] <= n_passages]
    if not candidates:
        return None
    return max(candidates, key=lambda s: (s.score + weights.rank / rank_of[s.passage], -rank_of[s.passage], -s.start))


@dataclass(frozen=True)
class Signals:
    """What abstention decides from, for one question."""

    dense_top: float  # cosine of the best dense passage
    sentence: float  # cosine of the chosen answer sentence
    coverage: float  # IDF-weighted share of the question's terms in the best passage
    agreement: float  # 1 / rank of the dense leg's best passage in the keyword leg (0: absent)
    typed: float = 1.0  # 1: the answer holds the kind of answer asked for, or none is asked for
    answer_coverage: float = 0.0  # IDF-weighted share of the question's terms in the answer sentence
    missing: float = 0.0  # IDF-weighted share of the question's terms in none of the answer passages

    def vector(self, features: Sequence[str] = ()) -> list[float]:
        """The named signals (all of :data:`FEATURES` by default), in that order."""
        return [float(getattr(self, name)) for name in features or FEATURES]


FEATURES = ("dense_top", "sentence", "coverage", "agreement", "typed", "answer_coverage", "missing")
CALIBRATION = Path(__file__).with_name("abstain.json")


@dataclass(frozen=True)
class Abstainer:
    """Abstain when the answer is not of the kind the question asks for (no number for "how
    many", no year for "which year": no sentence like that can answer), or when the calibrated
    p(answerable) = sigmoid(bias + coefficients · signals) is below ``threshold``."""

    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, signals: Signals) -> float:
        z = self.bias + sum(c * x for c, x in zip(self.coefficients, signals.vector(self.features)))
        return 1.0 / (1.0 + math.exp(-z))

    def abstains(self, signals: Signals) -> bool:
        return signals.typed < 1.0 or self.probability(signals) < self.threshold

    @classmethod
    def from_json(cls, data: dict) -> "Abstainer":
        features = tuple(data["features"])
        unknown = sorted(set(features) - set(FEATURES))
        if unknown or len(features) != len(data["coefficients"]):
            raise ValueError(
                f"abstention model has features {list(features)} with {len(data['coefficients'])} coefficients;"
                f" known features: {', '.join(FEATURES)}"
            )
        return cls(features, tuple(float(c) for c in data["coefficients"]), float(data["bias"]), float(data["threshold"]))


@lru_cache(maxsize=1)
def default_abstainer() -> Abstainer | None:
    """The calibrated model shipped with qa, or None before one has been calibrated."""
    if not CALIBRATION.is_file():
        return None
    return Abstainer.from_json(json.loads(CALIBRATION.read_text()))
