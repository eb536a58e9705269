"""The store boundary: what searching needs from an index (:class:`Store`), what the indexer
hands a store to write (:class:`StoreUpdate`), and the optional-dependency import every
backend shares. Apart from the dispatcher (qa.indexing.stores), so a backend can import it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.errors import ConfigError
from qa.indexing.filters import RowFilter
from qa.indexing.manifest import Manifest
from qa.indexing.table import ArticleTable, ChunkTable
from qa.types import Article, Chunk, Filter


class TermWeights(Protocol):
    """The keyword statistic the answer step needs: IDF weights of analysed terms."""

    def idf(self, terms: set[str]) -> dict[str, float]: ...


class Store(Protocol):
    """An index as the search path sees it. Rows are positions in ``chunks``; both tables build
    an article or chunk only when it is asked for (qa.indexing.table)."""

    # read-only to the search path (properties, so a store's own, narrower types match)
    @property
    def manifest(self) -> Manifest: ...
    @property
    def articles(self) -> ArticleTable: ...
    @property
    def chunks(self) -> ChunkTable: ...
    @property
    def ids(self) -> np.ndarray:
        """int64 id of each row's chunk (FAISS id / Milvus primary key)."""
        ...
    @property
    def keyword(self) -> TermWeights: ...
    @property
    def directory(self) -> Path: ...

    def __len__(self) -> int: ...

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The row of each chunk id, -1 for ids the index does not hold."""
        ...

    def kept_rows(self, where: Filter) -> np.ndarray | None:
        """The sorted rows a filter keeps (qa.indexing.filters); None for the empty filter."""
        ...

    @property
    def row_filter(self) -> RowFilter:
        """Every article's date and source, to resolve filters and list the corpus's sources."""
        ...

    def search(self, queries: np.ndarray, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search among the rows ``where`` keeps (all without it): (scores, rows),
        each (n_queries, k); row -1 is no hit."""
        ...

    def search_keyword(self, query: str, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """BM25 among the rows ``where`` keeps: (scores, rows) of the k best rows, best first."""
        ...

    @property
    def hybrid_rankers(self) -> frozenset[str]:
        """The fusions the store runs itself ("rrf", "weighted"); may be empty."""
        ...

    def search_hybrid(
        self, vector: np.ndarray, query: str, k: int, *, ranker: str = "rrf", dense_weight: float = 0.4,
        where: Filter | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both legs fused inside the store with one of ``hybrid_rankers``, among the rows
        ``where`` keeps: (scores, rows) of the k best, best first."""
        ...

    def vectors(self) -> np.ndarray:
        """All vectors in row order (used only to move an index from one store to another)."""
        ...

    def sentence_vectors(self, chunk: Chunk) -> np.ndarray:
        """The vectors of the chunk's sentences (float32, one row per ``chunk.sentences``)."""
        ...

    def sentence_rows(self, rows: Sequence[int]) -> np.ndarray:
        """The sentence vectors of the given chunk rows, concatenated (float16, as stored)."""
        ...


@dataclass(frozen=True)
class StoreUpdate:
    """What the indexer hands a store to write: the whole new index, and which of its chunks
    were embedded in this run (``fresh``) or kept from ``previous`` (``kept_rows``, in order)."""

    manifest: Manifest
    articles: list[Article]
    chunks: list[Chunk]
    ids: np.ndarray  # int64, one per chunk: FAISS id / Milvus primary key, never reused
    fresh: np.ndarray  # bool, one per chunk
    fresh_vectors: np.ndarray  # one row per True in ``fresh``, in order
    fresh_sentences: list[np.ndarray]  # the sentence vectors of each True in ``fresh``, in order
    kept_rows: np.ndarray  # the previous store's row of each False in ``fresh``, in order

    def all_vectors(self, previous: Store | None) -> np.ndarray:
        """Every chunk's vector in row order, the kept ones read back from ``previous``."""
        vectors = np.zeros((len(self.chunks), self.manifest.dim), dtype=np.float32)
        vectors[self.fresh] = self.fresh_vectors
        if len(self.kept_rows):
            assert previous is not None, "kept rows without a previous store"
            vectors[~self.fresh] = previous.vectors()[self.kept_rows]
        return vectors

    def all_sentences(self, previous: Store | None) -> np.ndarray:
        """Every chunk's sentence vectors, chunk after chunk (float16), the kept ones from ``previous``."""
        fresh, kept = iter(self.fresh_sentences), iter(self.kept_rows)
        pieces = [
            np.asarray(next(fresh), np.float16) if is_fresh else previous.sentence_rows([next(kept)])  # type: ignore[union-attr]  # kept rows come from one
            for is_fresh in self.fresh
        ]
        return np.concatenate(pieces) if pieces else np.zeros((0, self.manifest.dim), np.float16)


def require(module: str, extra: str, flag: str) -> Any:
    """Import an optional dependency, or say which extra to install for the flag that needs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigError(
            f"{flag} needs the {module.split('.')[0]} package ({error}): install it with"
            f" `pip install 'qa[{extra}]'`"
        ) from None
