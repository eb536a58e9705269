"""The data that crosses pipeline stages: articles, chunks, search hits and answers.

All are frozen dataclasses; offsets are character offsets into ``Article.text``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    signals: Any = None  # qa.answer.Signals: what the abstention decision was made from

    def to_dict(self) -> dict[str, Any]:
        """Exactly the object `qa ask --json` prints and the chat's ``/ask`` API returns."""
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answer": self.answer.to_dict() if self.answer else None,
            "passages": [hit.to_dict() for hit in self.hits],
        }
