"""The data that crosses pipeline stages: articles, chunks, search hits and answers.

All are frozen dataclasses; offsets are character offsets into ``Article.text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.text.names import escape_undecodable, printable


@dataclass(frozen=True)
class Article:
    """One article of the corpus, as read from a file (or one line of a JSONL file)."""

    id: str  # stable: path relative to the corpus root, or the JSONL id
    title: str
    text: str
    sha256: str  # of the title and text, so an edit anywhere changes it
    path: str = ""  # the file it came from, relative to the corpus root
    date: str | None = None
    url: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one article, sized to the embedding model's window."""

    id: str  # "<article-id>#<n>"
    article_id: str
    n: int  # ordinal within the article, from 0
    start: int  # offsets of the chunk in Article.text
    end: int
    text: str  # == article.text[start:end]
    sentences: tuple[tuple[int, int], ...]  # (start, end) of each sentence, in article offsets


@dataclass(frozen=True)
class Hit:
    """A chunk returned for a question, with its rank (from 1) and score."""

    rank: int
    score: float
    chunk: Chunk
    title: str
    found_by: dict[str, int] = field(default_factory=dict)  # retriever -> rank in its own list

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "chunk_id": self.chunk.id,
            "article_id": self.chunk.article_id,
            "title": self.title,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "found_by": self.found_by,
        }


@dataclass(frozen=True)
class Answer:
    """The sentence that answers a question, located in its article."""

    text: str
    chunk_id: str
    article_id: str
    start: int
    end: int
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "chunk_id": self.chunk_id,
            "article_id": self.article_id,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Result:
    """Everything qa says about one question."""

    question: str
    answer: Answer | None
    hits: tuple[Hit, ...]
    abstained: bool = False
    signals: Signals | None = None  # what the abstention decision was made from

    def to_dict(self) -> dict[str, Any]:
        """Exactly the object `qa ask --json` prints and the chat's ``/ask`` API returns."""
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answer": self.answer.to_dict() if self.answer else None,
            "passages": [hit.to_dict() for hit in self.hits],
        }


@dataclass(frozen=True)
class Rejected:
    """A file (or one line of a JSONL file) that was skipped, and why.

    ``path`` keeps a name as it is, except what UTF-8 cannot encode (:func:`escape_undecodable`):
    a report is written to terminals, JSON, HTML and Ray's Arrow columns, all UTF-8."""

    path: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", escape_undecodable(self.path))

    def __str__(self) -> str:
        return f"{printable(self.path)}: {self.reason}"


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
    reader: float = 0.0  # the reader's logit for the answer sentence (0 without a reader)

    def vector(self, features: Sequence[str] = ()) -> list[float]:
        """The named signals (all of :data:`FEATURES` by default), in that order."""
        return [float(getattr(self, name)) for name in features or FEATURES]


FEATURES = ("dense_top", "sentence", "coverage", "agreement", "typed", "answer_coverage", "missing", "reader")
