"""One question's outcome in one retrieval mode: what qa returned for it and how that scored
(:mod:`qa.eval.run` gathers them; the per-question results files are their JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.eval.answers import official_scores, prediction, question_word
from qa.eval.gold import Gold, answer_span, holds_gold
from qa.eval.questions import Question
from qa.search.answer import MODEL_DOUBT, Abstainer, refusing_check
from qa.types import Result


@dataclass
class Outcome:
    """One question in one mode: what qa returned and how that scored."""

    id: str
    question: str
    kind: str
    answerable: bool
    first_relevant_rank: int | None  # in the retrieved list, from 1; None: not retrieved
    top1_chars: int | None  # length of the top passage; None: nothing retrieved
    gold: list[str] = field(default_factory=list)  # gold span texts, or relevant document ids
    history: list[str] = field(default_factory=list)
    answer: str | None = None
    answer_correct: bool | None = None  # None: answers not judged (unanswerable, or BEIR)
    abstained: bool | None = None  # None: ask() was not called (BEIR)
    hits: dict[str, bool] = field(default_factory=dict)  # hit@k flags, answerable questions only
    failed: bool = False
    prediction: str = ""  # scored by SQuAD's official EM/F1: the span, "" (abstained) or the sentence
    span: bool = False  # the prediction is an exact answer span
    unsure: bool = False  # the answer was shown as "Not sure" (Result.unsure)
    exact: float | None = None  # official exact match (None: not asked)
    f1: float | None = None  # official F1
    question_word: str = "other"  # qa.eval.answers.question_word
    shared_words: int | None = None  # content words shared with the gold answer sentence (answerable)
    no_answer: float | None = None  # the no-answer probability (None without a calibrated abstainer)
    reason: str | None = None  # why qa abstained, where a check said (Result.reason)
    abstained_by: str | None = None  # what refused: a check's name or the calibrated model (abstained only)

    @property
    def expected_abstain(self) -> bool:
        return not self.answerable

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "kind": self.kind,
            "failed": self.failed,
            "first_relevant_rank": self.first_relevant_rank,
            **self.hits,
            "answer": self.answer,
            "answer_correct": self.answer_correct,
            "abstained": self.abstained,
            "expected_abstain": self.expected_abstain,
            "gold": self.gold,
            "history": self.history,
            "top1_chars": self.top1_chars,
            "prediction": self.prediction,
            "prediction_is_span": self.span,
            "unsure": self.unsure,
            "exact": self.exact,
            "f1": self.f1,
            "question_word": self.question_word,
            "shared_words": self.shared_words,
            "no_answer": self.no_answer,
            "reason": self.reason,
            "abstained_by": self.abstained_by,
        }


def span_outcome(
    question: Question,
    gold: Gold,
    result: Result,
    relevant: Sequence[bool],
    no_answer: float | None = None,
    abstainer: Abstainer | None = None,
) -> Outcome:
    """How one question fared: ``result`` from Searcher.ask, ``relevant`` the flags of its passages,
    ``no_answer`` its no-answer probability, ``abstainer`` the searcher's (what refused)."""
    hits = result.hits
    first = next((rank for rank, flag in enumerate(relevant, start=1) if flag), None)
    correct = None
    if question.answerable:
        correct = result.answer is not None and holds_gold(answer_span(result.answer), gold.occurrences)
    predicted, is_span = prediction(result)
    exact, f1 = official_scores([span.text for span in question.answers], predicted)
    return Outcome(
        id=question.id,
        question=question.question,
        kind=question.kind,
        answerable=question.answerable,
        first_relevant_rank=first,
        top1_chars=len(hits[0].chunk.text) if hits else None,
        gold=[span.text for span in question.answers],
        history=list(question.history),
        answer=result.answer.text if result.answer else None,
        answer_correct=correct,
        abstained=result.abstained,
        prediction=predicted,
        span=is_span,
        unsure=result.unsure,
        exact=exact,
        f1=f1,
        question_word=question_word(question.question),
        no_answer=no_answer,
        reason=result.reason,
        abstained_by=abstained_by(result, abstainer),
    )


def abstained_by(result: Result, abstainer: Abstainer | None = None) -> str | None:
    """What refused an answer: a check (qa.search.answer.refusing_check, or the off-topic model
    of ``abstainer``: Abstainer.refusal) or the calibrated model; None when qa answered or had no
    passage to answer from."""
    if not result.abstained or result.signals is None:
        return None
    found = abstainer.refusal(result.signals) if abstainer is not None else refusing_check(result.signals)
    return found or MODEL_DOUBT
