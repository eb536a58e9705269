"""Question sets: the JSONL format `qa eval` reads, parsed and checked against the index's
articles, naming file, line and problem.

Question sets (e.g. ``qa/data/seeds.jsonl``, the default) are JSONL files, one JSON object per line::

    {"id": "fact-04", "question": "How long did Baqeri's second official visit to Pakistan last?",
     "kind": "fact",
     "answers": [{"article": "000_ae1cc4aba988a14c.txt", "text": "four days", "start": 408},
                 {"article": "000_ae1cc4aba988a14c.txt", "text": "four-day"}]}
    {"id": "follow-01b", "question": "Where will they be held?", "kind": "follow-up",
     "answers": [...], "history": ["What kind of exercises did Iran and Pakistan agree to hold?"]}

- ``id``: unique in the file. ``question``: the text asked.
- ``kind``: fact, paraphrase, unanswerable, follow-up, or any other word; every metric is also
  reported per kind. Without it: "answerable" or "unanswerable".
- ``answers``: gold spans, any of which answers the question. ``article`` is an article id of
  the index, ``text`` an exact substring of that article's text, and the optional ``start`` the
  character offset of the one occurrence meant; without ``start`` every occurrence counts. An
  empty list means the corpus cannot answer the question, so qa should abstain.
- ``history`` (optional): the previous questions of the conversation, oldest first.

Loading checks every span against the articles of the index and names file, line and problem.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.text.jsonl import numbered_lines
from qa.text.question import clean_question
from qa.types import Article

SAMPLE_SEED = 0  # --sample N: random.Random(SAMPLE_SEED).sample(sorted question ids, N)


class QuestionSetError(QAError):
    """A question set or benchmark file cannot be used as it is."""


# -- question sets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldSpan:
    """One acceptable answer: text in an article, at ``start`` or (None) at any occurrence."""

    article: str
    text: str
    start: int | None = None


@dataclass(frozen=True)
class Question:
    """One labelled question; no answers means the corpus cannot answer it."""

    id: str
    question: str
    kind: str
    answers: tuple[GoldSpan, ...]
    history: tuple[str, ...] = ()
    origin: str = ""  # where it was read, for error messages ("qa/data/seeds.jsonl:12")

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_question_set(path: Path, articles: Mapping[str, Article]) -> list[Question]:
    """Read a JSONL question set and check every gold span against ``articles``."""
    questions = read_question_set(path)
    validate_questions(questions, articles)
    return questions


def read_question_set(path: Path) -> list[Question]:
    """Parse a JSONL question set (format in the module docstring) without checking spans."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionSetError(
            f"cannot read the question set {path}: {getattr(error, 'strerror', None) or error}"
        ) from error
    return parse_question_set(text, str(path))


def parse_question_set(text: str, source: str) -> list[Question]:
    """Questions from the lines of a JSONL question set; ``source`` names it in errors."""
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for number, line in numbered_lines(text.splitlines()):
        question = parse_question(line, f"{source}:{number}")
        if question.id in first_line:
            raise QuestionSetError(
                f"{source}:{number}: the id {question.id!r} is already used on line"
                f" {first_line[question.id]}: give every question its own id"
            )
        first_line[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionSetError(
            f"{source} holds no questions: write one JSON object per line (see `qa eval --help`)"
        )
    return questions


def parse_question(line: str, where: str) -> Question:
    """One line of a question set; ``where`` ("file:line") prefixes every error."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise QuestionSetError(
            f"{where}: not valid JSON ({error.msg}, column {error.colno}): each line must be one JSON object"
        ) from None
    if not isinstance(record, dict):
        raise QuestionSetError(f"{where}: each line must be a JSON object, not {type(record).__name__}")
    for key in ("id", "question"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise QuestionSetError(f'{where}: "{key}" must be a non-empty string')
    answers = record.get("answers")
    if not isinstance(answers, list):
        raise QuestionSetError(
            f'{where}: "answers" must be a list of {{"article", "text"}} objects (an empty list when the'
            " corpus cannot answer the question)"
        )
    history = record.get("history") or []
    if not isinstance(history, list) or not all(isinstance(turn, str) for turn in history):
        raise QuestionSetError(
            f'{where}: "history" must be a list of the previous questions (strings), oldest first'
        )
    spans = tuple(parse_span(answer, f"{where}: answer {n}") for n, answer in enumerate(answers, start=1))
    kind = record.get("kind") or ("answerable" if spans else "unanswerable")
    # Cut as /ask cuts a question (2,000 characters), so a 10 MB question never reaches a report.
    turns = tuple(clean_question(turn) for turn in history)
    return Question(record["id"], clean_question(record["question"]), str(kind), spans, turns, where)


def parse_span(record: Any, where: str) -> GoldSpan:
    """One {"article", "text", "start"?} object of "answers"."""
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or not text or not isinstance(record.get("article"), str):
        raise QuestionSetError(
            f'{where} must be an object with a string "article" and a non-empty string "text"'
        )
    start = record.get("start")
    if start is not None and (isinstance(start, bool) or not isinstance(start, int) or start < 0):
        raise QuestionSetError(
            f'{where}: "start" must be a character offset (a whole number from 0), not {start!r}'
        )
    return GoldSpan(record["article"], text, start)


def validate_questions(questions: Iterable[Question], articles: Mapping[str, Article]) -> None:
    """Raise :class:`QuestionSetError` at the first gold span that is not where it claims to be."""
    for question in questions:
        for number, span in enumerate(question.answers, start=1):
            problem = span_problem(span, articles)
            if problem:
                raise QuestionSetError(f"{question.origin}: answer {number} of {question.id!r}: {problem}")


def occurrence_starts(text: str, needle: str) -> list[int]:
    """Every offset where ``needle`` occurs in ``text``, overlapping occurrences included."""
    starts, at = [], text.find(needle)
    while at >= 0 and needle:
        starts.append(at)
        at = text.find(needle, at + 1)
    return starts


def span_problem(span: GoldSpan, articles: Mapping[str, Article]) -> str | None:
    """Why ``span`` does not fit the articles, or None when it does."""
    article = articles.get(span.article)
    if article is None:
        return (
            f"the article {span.article!r} is not in the index ({len(articles)} articles): check the id"
            " (`qa info --json` lists them) or index that article"
        )
    if span.start is None:
        if span.text not in article.text:
            return f"{span.text!r} does not occur in {span.article!r}: copy the text exactly from the article"
        return None
    if article.text[span.start : span.start + len(span.text)] != span.text:
        found = occurrence_starts(article.text, span.text)
        where = (
            f"it occurs at {', '.join(map(str, found[:5]))}" if found else "it does not occur in the article"
        )
        return (
            f"{span.text!r} is not at start {span.start} of {span.article!r} ({where}):"
            ' fix "start" or drop it'
        )
    return None


def sample_questions(questions: Sequence[Question], size: int | None) -> list[Question]:
    """A fixed random sample of ``size`` questions (all when None or too many), in their order.

    The sample is ``random.Random(SAMPLE_SEED).sample(sorted ids, size)``: the same every run.
    """
    if size is None or size >= len(questions):
        return list(questions)
    chosen = set(random.Random(SAMPLE_SEED).sample(sorted(question.id for question in questions), size))
    return [question for question in questions if question.id in chosen]
