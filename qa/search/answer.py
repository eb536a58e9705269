"""The sentence that answers, passage re-ranking by it, and when to say the corpus has no answer.

Every sentence of the top passages is scored against the question: the cosine similarity of
its vector (pooled at indexing time from its passage's tokens, so asking encodes nothing but the
question) to the question, plus the IDF-weighted share of the question's content terms it contains; a
sentence that is really a run-in heading (no closing punctuation) is pushed down, and so is one
without the kind of answer the question asks for (a number for "how many", a year for "which
year": :mod:`qa.search.answer_type`). Passages are re-ranked by a linear model over what is measured of
each (:data:`RERANK_FEATURES`: its fused retrieval score, its best sentences, how much of the
question it holds, alone, as adjacent pairs of terms and in two neighbouring sentences), fitted
listwise on the SQuAD tuning half; its coefficients live in ``rerank.json`` beside this file,
with the command that produced them. The answer is the best sentence of the first passages
(with a small prior for the passage's rank); for a question that asks for a number, year, date
or time, a sentence of that kind that the reader scores as answering is preferred: the type
steers, and never vetoes such a sentence. Sentence weights were chosen on the tuning halves
of SQuAD and SciFact (docs/EVALUATION.md).

Abstention is a logistic model over signals measured for every question (how close the best
passage and the best sentence are, how much of the question the best passage covers, whether
the dense and keyword legs agree, the reader's logit for the answer sentence, whether the answer
is of the kind asked for), calibrated on answerable and unanswerable questions; its features and
coefficients live in ``abstain.json`` beside this file, with the command that produced them. The
shipped model reads the reader's logit alone (the retrieval signals point one way on SQuAD's
questions and the other way on questions in other words: docs/EVALUATION.md), so without the
reader it never doubts. Beside it, two checks that need no calibration: the
answer is not of the kind asked for, or the question gives a number that none of the answer
passages mentions (:mod:`qa.search.mentions`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.search.answer_type import AnswerType, holds_type
from qa.text.terms import analyze
from qa.types import FEATURES, Article, Hit, Signals

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
    answer = best of (sentence score + rank / passage rank) over the first passages."""

    lexical: float = 0.6
    heading: float = 0.3
    untyped: float = 0.2
    rank: float = 0.1

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
    words: tuple[str, ...] = ()  # its terms, analysed as for BM25, in order
    reader: float | None = None  # the reader's logit that it answers (qa.search.reader), when read
    span: tuple[int, int, float] | None = None  # the reader's best span: offsets in ``text``, its score


def question_terms(question: str) -> set[str]:
    """The question's content terms, analysed as for BM25."""
    return set(analyze(question)) - QUESTION_WORDS


def term_pairs(words: Sequence[str]) -> set[tuple[str, str]]:
    """The adjacent pairs of a sequence of analysed terms ("prime minist", "minist pakistan")."""
    return set(zip(words, words[1:]))


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
        words = tuple(analyze(text))
        features = (
            float(cosine), covered_share(term_weights, set(words)), not text.rstrip().endswith(HEADING_END),
            holds_type(text, wanted),
        )
        scored.append(ScoredSentence(i, start, end, text, *features, weights.sentence_score(*features), words))
    return scored


# What the re-rank measures of each passage; the model (rerank.json) names the ones it uses.
RERANK_FEATURES = (
    "fused",  # its fused retrieval score, min-max normalised over the passages re-ranked
    "best_sentence",  # the score of its best sentence (SentenceWeights)
    "coverage",  # IDF-weighted share of the question's content terms in the passage
    "max_cosine",  # the highest cosine of one of its sentences to the question
    "second_cosine",  # the second highest (0 for a passage of one sentence)
    "max_sentence_coverage",  # the highest weighted coverage of one of its sentences
    "window_coverage",  # the highest weighted coverage of two neighbouring sentences together
    "pairs",  # share of the question's adjacent term pairs found adjacent in the passage
    "sentence_pairs",  # the highest such share within one sentence
    "typed",  # 1 if its best sentence holds the kind of answer asked for (or none is asked for)
)
RERANK_MODEL = Path(__file__).with_name("rerank.json")


def passage_features(
    question: Sequence[str],
    term_weights: Mapping[str, float],
    hits: Sequence[Hit],
    sentences: Sequence[ScoredSentence],
    passage_words: Sequence[Sequence[str]],
) -> list[dict[str, float]]:
    """:data:`RERANK_FEATURES` of every hit. ``question`` and ``passage_words`` (one per hit):
    terms analysed as for BM25, in order; ``term_weights``: the question's content terms."""
    wanted_pairs = term_pairs([word for word in question if word in term_weights])

    def pair_share(words: Sequence[str]) -> float:
        return len(wanted_pairs & term_pairs(words)) / len(wanted_pairs) if wanted_pairs else 0.0

    fused = [hit.score for hit in hits]
    low, high = min(fused, default=0.0), max(fused, default=0.0)
    by_passage: list[list[ScoredSentence]] = [[] for _ in hits]
    for sentence in sentences:
        by_passage[sentence.passage].append(sentence)
    rows = []
    for hit, own, words in zip(hits, by_passage, passage_words):
        best = max(own, key=lambda s: s.score, default=None)
        cosines = sorted((s.cosine for s in own), reverse=True) + [0.0, 0.0]
        coverage = covered_share(term_weights, set(words))
        windows = [covered_share(term_weights, set(a.words) | set(b.words)) for a, b in zip(own, own[1:])]
        rows.append({
            "fused": (hit.score - low) / (high - low) if high > low else 1.0,
            "best_sentence": best.score if best else 0.0,
            "coverage": coverage,
            "max_cosine": cosines[0],
            "second_cosine": cosines[1],
            "max_sentence_coverage": max((s.coverage for s in own), default=0.0),
            "window_coverage": max(windows, default=coverage),
            "pairs": pair_share(words),
            "sentence_pairs": max((pair_share(s.words) for s in own), default=0.0),
            "typed": float(best.typed) if best else 0.0,
        })
    return rows


@dataclass(frozen=True)
class Reranker:
    """Passage score = coefficients · the passage's named :data:`RERANK_FEATURES`."""

    features: tuple[str, ...]
    coefficients: tuple[float, ...]

    def score(self, row: Mapping[str, float]) -> float:
        return sum(c * row[name] for name, c in zip(self.features, self.coefficients))

    @classmethod
    def from_json(cls, data: dict) -> Reranker:
        return cls(*linear_terms(data, RERANK_FEATURES, "re-rank"))


def linear_terms(data: dict, known: Sequence[str], what: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """(features, coefficients) of a linear model read from JSON, checked against the ``known``
    feature names: a model fitted for other features would silently score the wrong ones."""
    features = tuple(data["features"])
    unknown = sorted(set(features) - set(known))
    if unknown or len(features) != len(data["coefficients"]):
        raise ValueError(
            f"{what} model has features {list(features)} with {len(data['coefficients'])} coefficients;"
            f" known features: {', '.join(known)}"
        )
    return features, tuple(float(c) for c in data["coefficients"])


@lru_cache(maxsize=1)
def default_reranker() -> Reranker:
    """The model shipped with qa (``rerank.json``, fitted by benchmarks/tune_rerank.py)."""
    return Reranker.from_json(json.loads(RERANK_MODEL.read_text()))


def rerank(
    hits: Sequence[Hit], rows: Sequence[Mapping[str, float]], model: Reranker | None = None
) -> tuple[list[Hit], list[int]]:
    """Hits re-ordered by the model's score of their features (``rows``, one per hit, from
    :func:`passage_features`), ranks renumbered; and, for each new position, the hit's old index."""
    model = model or default_reranker()
    totals = [model.score(row) for row in rows]
    order = sorted(range(len(hits)), key=lambda i: (-totals[i], i))
    reranked = [replace(hits[old], rank=new + 1, score=totals[old]) for new, old in enumerate(order)]
    return reranked, order


# The answer type steers, it does not veto: for a question that asks for a number, year, date or
# time, a sentence of that kind in the first STEER_PASSAGES passages that the reader scores as
# answering (logit above READER_ANSWERS) is preferred over a better-scored sentence without one,
# so the type check never abstains while such a sentence is there. READER_ANSWERS was chosen on
# SQuAD 2.0 dev's tuning half (benchmarks/tune_type_steering.py, docs/EVALUATION.md) for reader v1
# and checked again for v3, for v5 read with titles, v11 and v13, and for the answer chosen with its
# passage's weight (qa.search.reader.ANSWER_PASSAGE_WEIGHT; every threshold from -2.5 down gets as many
# answers right; a higher one refuses more); a retrained reader needs it checked again.
STEER_PASSAGES = 3
READER_ANSWERS = -3.5


def best_sentence(
    sentences: Sequence[ScoredSentence],
    order: Sequence[int],
    n_passages: int,
    weights: SentenceWeights = SentenceWeights(),
    answering: float | None = READER_ANSWERS,
) -> ScoredSentence | None:
    """The answer: the best sentence of the first ``n_passages`` passages (after re-ranking).

    When the best lacks the kind of answer the question asks for (``typed`` False: only a typed
    question has such sentences), the best typed sentence of the first :data:`STEER_PASSAGES`
    of them whose reader logit is above ``answering`` is the answer instead (None: never)."""
    rank_of = {old: new + 1 for new, old in enumerate(order)}
    candidates = [s for s in sentences if rank_of[s.passage] <= n_passages]
    if not candidates:
        return None

    def key(s: ScoredSentence) -> tuple[float, int, int]:
        return s.score + weights.rank / rank_of[s.passage], -rank_of[s.passage], -s.start

    best = max(candidates, key=key)
    if best.typed or answering is None:
        return best
    steered = [
        s for s in candidates
        if s.typed and rank_of[s.passage] <= STEER_PASSAGES and s.reader is not None and s.reader > answering
    ]
    return max(steered, key=key) if steered else best


CALIBRATION = Path(__file__).with_name("abstain.json")
# A model of the reader's logit may weigh it by the answer type and by how much of the question
# the best passage holds (the more, the surer the reading must be: near misses reuse their
# passage's words) and still speak of its doubt as the reader's.
READER_FEATURES = frozenset({"reader", "reader_best", "typed", "coverage"})
READER_DOUBT = "The best sentence of the closest passages does not read as an answer to it."
# p(answerable) below which an answer the model lets through is shown as "Not sure". On the BBC News
# tuning sets (eval/bbc-tuning*.jsonl, 1,009 questions), answers below it were right 28 % of the
# time (102 of 370 answered) and those above it 63 % (378 of 598): below it an answer is more often
# wrong than right (docs/EVALUATION.md, fourteenth session).
UNSURE_BELOW = 0.5  # Result.unsure; what is shown then is qa.types.UNSURE_TEXT


@dataclass(frozen=True)
class Abstainer:
    """Abstain when the answer is not of the kind the question asks for (no number for "how
    many", no year for "which year": no sentence like that can answer), when the question gives
    a number that none of the answer passages mentions (``signals.unmentioned``), when the
    question negates and the answer sentence says nothing negative (``signals.negation``), when
    the ``off_topic`` model (another of these, its own threshold) finds the passages not about the
    question, or when the calibrated p(answerable) = sigmoid(bias + coefficients · signals) is
    below ``threshold``. The answer lacks the kind asked for only when no sentence of that kind in
    the first passages reads as answering (:func:`best_sentence`).

    The off-topic model is optional (benchmarks/calibrate_abstention.py --off-topic-features), and
    the shipped ``abstain.json`` has none: one fitted on SQuAD's corpus did not carry over to news
    (docs/EVALUATION.md, thirteenth session). It is a model of its own because the two kinds of
    unanswerable question pull apart: a near miss shares its passage's words and reads almost as
    an answer, an off-topic question shares next to nothing and reads as none."""

    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    bias: float
    threshold: float
    off_topic: Abstainer | None = None

    def probability(self, signals: Signals) -> float:
        z = self.bias + sum(c * x for c, x in zip(self.coefficients, signals.vector(self.features)))
        return 1.0 / (1.0 + math.exp(-z))

    def refusal(self, signals: Signals) -> str | None:
        """The check that refuses the answer, when one does (:func:`refusing_check`, then
        :data:`OFF_TOPIC_CHECK`); the calibrated model's doubt is not a check."""
        found = refusing_check(signals)
        if found is None and self.off_topic is not None and self.off_topic.abstains(signals):
            return OFF_TOPIC_CHECK
        return found

    def abstains(self, signals: Signals) -> bool:
        return self.refusal(signals) is not None or self.probability(signals) < self.threshold

    @property
    def reads(self) -> bool:
        """Whether the model reads the reader's logit and nothing but :data:`READER_FEATURES`."""
        return any(name.startswith("reader") for name in self.features) and set(self.features) <= READER_FEATURES

    def unsure(self, signals: Signals) -> bool:
        """Whether an answer the model lets through is read only weakly: its p(answerable) is
        below :data:`UNSURE_BELOW`. Only a model that :attr:`reads` can tell, and only when the
        reader ran (the caller knows)."""
        return self.reads and not self.abstains(signals) and self.probability(signals) < UNSURE_BELOW

    def doubt(self, signals: Signals) -> str | None:
        """Why the model abstains, in words: :data:`OFF_TOPIC_DOUBT` when the off-topic model
        refuses; else :data:`READER_DOUBT` when the model reads the reader's logit and nothing but
        :data:`READER_FEATURES`; else None."""
        if self.refusal(signals) == OFF_TOPIC_CHECK:
            return OFF_TOPIC_DOUBT
        return READER_DOUBT if self.reads else None

    def no_answer(self, signals: Signals) -> float:
        """The no-answer probability: 1 when a check refuses the answer (its kind, a number no
        answer passage mentions, a negation it lacks, the passages off the topic), else
        1 - p(answerable). qa abstains when it is above 1 - ``threshold`` (qa eval sweeps it)."""
        return 1.0 if self.refusal(signals) is not None else 1.0 - self.probability(signals)

    @classmethod
    def from_json(cls, data: dict) -> Abstainer:
        off_topic = cls.from_json(data["off_topic"]) if data.get("off_topic") else None
        return cls(*linear_terms(data, FEATURES, "abstention"), float(data["bias"]), float(data["threshold"]),
                   off_topic)


# What refused an answer (qa eval counts abstentions by it)
NUMBER_CHECK, TYPE_CHECK, MODEL_DOUBT = "number not in the passages", "answer type", "calibrated model"
NEGATION_CHECK, OFF_TOPIC_CHECK = "negation not in the answer", "passages off the topic"
OFF_TOPIC_DOUBT = "The closest passages are not about what it asks."


def refusing_check(signals: Signals) -> str | None:
    """The check that refuses the answer, when one does: :data:`NUMBER_CHECK`, :data:`TYPE_CHECK`
    or :data:`NEGATION_CHECK` (qa.search.negation)."""
    if signals.unmentioned > 0:
        return NUMBER_CHECK
    if signals.typed < 1.0:
        return TYPE_CHECK
    return NEGATION_CHECK if signals.negation > 0 else None


KIND_NAMES = {"year": "a year", "date": "a date", "time": "a time", "age": "an age", "count": "a number",
              "number": "a number"}


def abstention_reason(
    signals: Signals, unmentioned: Sequence[str], wanted: AnswerType | None, negated: str | None = None
) -> str | None:
    """Why qa abstains, in words, where a check says (None for the calibrated model's doubt);
    ``negated``: the word that negates the question (qa.search.negation.negation)."""
    if unmentioned:
        words = ", ".join(f"“{word}”" for word in unmentioned)
        return f"None of the closest passages mentions {words}."
    if signals.typed < 1.0 and wanted is not None:
        kind = KIND_NAMES.get(wanted.kind, "the kind of answer asked for")
        return f"No sentence of the closest passages that reads as an answer gives {kind}."
    if signals.negation > 0 and negated:
        return (f"The question asks what is not so (“{negated}”), but the best sentence of the closest passages"
                " says nothing negative.")
    return None


@lru_cache(maxsize=1)
def default_abstainer() -> Abstainer | None:
    """The calibrated model shipped with qa, or None before one has been calibrated."""
    if not CALIBRATION.is_file():
        return None
    return Abstainer.from_json(json.loads(CALIBRATION.read_text()))
