"""Filters inside retrieval: the chunk rows a :class:`~qa.types.Filter` keeps, for both legs.

Each loaded store gets one :class:`RowFilter` (built on the first filtered question): the date
(as the number YYYYMMDD, :data:`NO_DATE` where unknown) and source of every article, read once
from the article table, and the article of every chunk row. A filter resolves to the sorted rows
it keeps, and to a 0/1 weight per row for BM25; both are cached per filter, so a conversation
that keeps one filter resolves it once. The dense leg searches only those rows (a FAISS ID
selector, or an exact product over their vectors when they are few:
qa.indexing.faiss_store), the keyword leg scores only them (bm25s's ``weight_mask``), and
Milvus gets the same filter as an expression over its ``date`` and ``source`` fields
(qa.indexing.milvus_store), so fusion only ever sees rows the filter keeps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

from qa.types import Article, Filter, iso_date

NO_DATE = -1
CACHED_FILTERS = 16  # filters resolved and kept per store (a chat session keeps one for many questions)


def date_number(date: str | None) -> int:
    """``"2024-03-07"`` -> 20240307; :data:`NO_DATE` for no date or one that is not ``YYYY-MM-DD``."""
    day = iso_date(date) if date else None
    return int(day.replace("-", "")) if day else NO_DATE


def source_key(source: str | None) -> str:
    """How sources are compared: stripped and case-folded ("" for none)."""
    return source.strip().casefold() if isinstance(source, str) else ""


class RowFilter:
    """The date and source of every article, and the article of every chunk row, as arrays; a
    :class:`Filter` resolved to the rows it keeps."""

    def __init__(self, dates: np.ndarray, sources: np.ndarray, names: Sequence[str], chunk_article: np.ndarray) -> None:
        """``dates``: YYYYMMDD per article; ``sources``: per article, its index in ``names``
        (-1: none); ``names``: the sources as first written, one per case-folded name."""
        self.dates = np.asarray(dates, dtype=np.int32)
        self.sources = np.asarray(sources, dtype=np.int32)
        self.names = list(names)
        self.chunk_article = np.asarray(chunk_article, dtype=np.int64)
        self._codes = {source_key(name): code for code, name in enumerate(self.names)}
        self._rows: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._weights: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, articles: Iterable[Article], chunk_article: np.ndarray) -> RowFilter:
        """From the articles in table order (read one at a time: a loaded table reads each line
        once, and none is kept) and each chunk row's position in that order."""
        dates: list[int] = []
        sources: list[int] = []
        names: list[str] = []
        codes: dict[str, int] = {}
        for article in articles:
            dates.append(date_number(article.date))
            key = source_key(article.source)
            if key and key not in codes:
                codes[key] = len(names)
                names.append(article.source.strip())  # type: ignore[union-attr]  # key is non-empty
            sources.append(codes[key] if key else -1)
        return cls(np.array(dates, dtype=np.int32), np.array(sources, dtype=np.int32), names, chunk_article)

    def source_names(self) -> list[str]:
        """The corpus's sources, each once, sorted case-insensitively."""
        return sorted(self.names, key=str.casefold)

    def unknown_sources(self, filter_: Filter) -> list[str]:
        """The filter's sources no article has."""
        return [name for name in filter_.sources if source_key(name) not in self._codes]

    def article_mask(self, filter_: Filter) -> np.ndarray:
        """True for each article the filter keeps (no date fails any date bound)."""
        keep = np.ones(len(self.dates), dtype=bool)
        if filter_.since or filter_.until:
            keep &= self.dates != NO_DATE
        if filter_.since:
            keep &= self.dates >= date_number(filter_.since)
        if filter_.until:
            keep &= self.dates <= date_number(filter_.until)
        if filter_.sources:
            codes = [self._codes[key] for key in map(source_key, filter_.sources) if key in self._codes]
            keep &= np.isin(self.sources, np.asarray(codes, dtype=np.int32))
        return keep

    def rows(self, filter_: Filter) -> np.ndarray:
        """The sorted chunk rows the filter keeps (int64; read-only, cached)."""
        return self._cached(self._rows, filter_, lambda: np.flatnonzero(
            self.article_mask(filter_)[self.chunk_article]).astype(np.int64))

    def weights(self, filter_: Filter) -> np.ndarray:
        """1.0 for each row the filter keeps, 0.0 for the others (float32; BM25's weight mask)."""
        def build() -> np.ndarray:
            weights = np.zeros(len(self.chunk_article), dtype=np.float32)
            weights[self.rows(filter_)] = 1.0
            return weights

        return self._cached(self._weights, filter_, build)

    def _cached(self, cache: OrderedDict[tuple, np.ndarray], filter_: Filter, build) -> np.ndarray:
        """``build()``, once per filter (sources compared as they match: case-folded, any order)."""
        key = (filter_.since, filter_.until, frozenset(map(source_key, filter_.sources)))
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = build()
        value.setflags(write=False)
        with self._lock:
            cache[key] = value
            while len(cache) > CACHED_FILTERS:
                cache.popitem(last=False)
        return value

    def empty_notice(self, filter_: Filter) -> str:
        """Why the filter keeps no passage, in words a reader of the chat understands."""
        unknown = self.unknown_sources(filter_)
        known = ", ".join(self.source_names()) or "none: no article names its source"
        if unknown and len(unknown) == len(filter_.sources):
            return f"No article from {' or '.join(unknown)} in the corpus (its sources: {known})."
        return f"No article matches the filter ({filter_.describe()}): widen the dates or pick other sources."

    def notice(self, filter_: Filter) -> str | None:
        """What to tell the user about a filter that keeps something: the sources it names that
        no article has (not an error: the other sources still answer)."""
        unknown = self.unknown_sources(filter_)
        if not unknown:
            return None
        known = ", ".join(self.source_names()) or "none"
        return f"No article from {' or '.join(unknown)} in the corpus (its sources: {known})."
