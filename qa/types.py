"""The data that crosses pipeline stages: articles, chunks, search hits and answers.

All are frozen dataclasses; offsets are character offsets into ``Article.text``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    """A chunk returned for a question, with its rank (from 1) and score, and when and by whom
    its article was published (None where unknown)."""

    rank: int
    score: float
    chunk: Chunk
    title: str
    found_by: dict[str, int] = field(default_factory=dict)  # retriever -> rank in its own list
    date: str | None = None  # ISO YYYY-MM-DD
    source: str | None = None  # the outlet's name
    url: str | None = None

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
            "date": self.date,
            "source": self.source,
            "url": self.url,
        }


@dataclass(frozen=True)
class Span:
    """The short answer inside the answer sentence (SQuAD-style): ``text == article.text[start:end]``."""

    text: str
    start: int  # article offsets
    end: int
    score: float = 0.0  # the reader's confidence in it

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Corroboration:
    """Another article that gives the same answer: its sentence, located in that article."""

    article_id: str
    title: str
    date: str | None
    source: str | None
    text: str  # its sentence
    start: int  # article offsets of that sentence
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Answer:
    """The sentence that answers a question, located in its article; the exact answer inside it
    when the reader is confident of one; other articles that say the same."""

    text: str
    chunk_id: str
    article_id: str
    start: int
    end: int
    score: float = 0.0
    span: Span | None = None
    also_in: tuple[Corroboration, ...] = ()  # other articles that give the same answer
    differs: tuple[Corroboration, ...] = ()  # other articles that answer with other figures

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "chunk_id": self.chunk_id,
            "article_id": self.article_id,
            "start": self.start,
            "end": self.end,
            "span": self.span.to_dict() if self.span else None,
            "also_in": [entry.to_dict() for entry in self.also_in],
            "differs": [entry.to_dict() for entry in self.differs],
        }


@dataclass(frozen=True)
class Filter:
    """Which articles a question may be answered from; the empty filter keeps them all.

    Dates are ISO ``YYYY-MM-DD``, both ends inclusive; an article without a date fails any date
    bound. Sources match the article's ``source`` case-insensitively (any of them)."""

    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.sources)

    @classmethod
    def of(
        cls, since: str | None = None, until: str | None = None, sources: str | Iterable[str] | None = None
    ) -> Filter:
        """A checked filter: dates must be real ``YYYY-MM-DD`` dates with ``since <= until``
        (ValueError naming the value otherwise); ``sources`` one name or several, blank ones
        dropped, repeats (in any case) kept once."""
        dates = []
        for option, value in (("since", since), ("until", until)):
            value = value.strip() if isinstance(value, str) else value
            if value and not (isinstance(value, str) and iso_date(value) == value):
                raise ValueError(f"{option} date {value!r} is not a date written YYYY-MM-DD (e.g. 2024-03-07)")
            dates.append(value or None)
        if dates[0] and dates[1] and dates[0] > dates[1]:
            raise ValueError(f"since {dates[0]} is after until {dates[1]}: no date is in that range")
        names = [sources] if isinstance(sources, str) else list(sources or ())
        kept: dict[str, str] = {}
        for name in names:
            if not isinstance(name, str):
                raise ValueError(f"source {name!r} is not a name")
            if name.strip():
                kept.setdefault(name.strip().casefold(), name.strip())
        return cls(dates[0], dates[1], tuple(kept.values()))

    def keeps(self, date: str | None, source: str | None) -> bool:
        """Does an article of this date and source pass? (No date fails any date bound.)"""
        day = iso_date(date) if date else None
        if (self.since or self.until) and day is None:
            return False
        if day is not None and ((self.since and day < self.since) or (self.until and day > self.until)):
            return False
        if self.sources:
            return source is not None and source.strip().casefold() in {name.casefold() for name in self.sources}
        return True

    def describe(self) -> str:
        """The filter in words: "from Galway Daily or Clare Herald, dated 2024-01-01 to 2024-06-30"."""
        parts = []
        if self.sources:
            parts.append("from " + " or ".join(self.sources))
        if self.since and self.until:
            parts.append(f"dated {self.since} to {self.until}")
        elif self.since:
            parts.append(f"dated {self.since} or later")
        elif self.until:
            parts.append(f"dated {self.until} or earlier")
        return ", ".join(parts) or "no filter"


def iso_date(text: str | None) -> str | None:
    """The ``YYYY-MM-DD`` date a text starts with (``2024-03-07T10:00Z`` gives 2024-03-07), if
    it is a real calendar date; else None."""
    import datetime

    head = text.strip()[:10] if isinstance(text, str) else ""
    if len(head) != 10 or head[4] != "-" or head[7] != "-" or not (head[:4] + head[5:7] + head[8:]).isdigit():
        return None
    try:
        datetime.date.fromisoformat(head)
    except ValueError:
        return None
    return head


# shown above an answer the reader reads only weakly (Result.unsure)
UNSURE_TEXT = "Not sure: the best sentence reads only weakly as an answer to it."


@dataclass(frozen=True)
class Result:
    """Everything qa says about one question."""

    question: str
    answer: Answer | None
    hits: tuple[Hit, ...]
    abstained: bool = False
    signals: Signals | None = None  # what the abstention decision was made from
    notice: str | None = None  # what the user should know about the filter (no article matches it, ...)
    reason: str | None = None  # why qa abstained, where it can say ("None of the closest passages mentions ...")
    unsure: bool = False  # the reader reads the answer only weakly (Abstainer.unsure): shown as "Not sure"

    def to_dict(self) -> dict[str, Any]:
        """Exactly the object `qa ask --json` prints and the chat's ``/ask`` API returns."""
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answer": self.answer.to_dict() if self.answer else None,
            "passages": [hit.to_dict() for hit in self.hits],
            "notice": self.notice,
            "reason": self.reason,
            "unsure": self.unsure,
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
    reader_best: float = 0.0  # the highest logit of any sentence the reader read (0 without a reader)
    unmentioned: float = 0.0  # how many of the question's numbers no answer passage mentions
    negation: float = 0.0  # 1: the question negates ("not") and the answer sentence says nothing negative

    def vector(self, features: Sequence[str] = ()) -> list[float]:
        """The named signals (all of :data:`FEATURES` by default), in that order."""
        return [float(getattr(self, name)) for name in features or FEATURES]


FEATURES = (
    "dense_top", "sentence", "coverage", "agreement", "typed", "answer_coverage", "missing", "reader", "reader_best",
    "unmentioned", "negation",
)
