"""The store boundary: what searching needs from an index, and which backend holds it.

Two backends satisfy :class:`Store`: :class:`qa.store.FaissStore` (the default: FAISS and
bm25s files in the index directory) and :class:`qa.milvus_store.MilvusStore` (chunks, vectors
and BM25 in Milvus; the index directory keeps the manifest that points at it). The manifest's
``store`` field says which; :func:`open_store` reads it, so ``qa ask``, ``qa eval``, ``qa serve``
and the chat never need to be told. pymilvus is imported only when a manifest names Milvus.

A store spec, as given to ``qa index --store``: ``faiss`` (the default), ``milvus://PATH.db``
(Milvus Lite, embedded, one local file) or ``milvus://HOST:PORT`` (a Milvus server or cluster,
without authentication); either Milvus form takes ``?collection=NAME`` (default ``qa_chunks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

import numpy as np

from qa.errors import ConfigError
from qa.store import FaissStore, Manifest, read_manifest
from qa.table import ArticleTable, ChunkTable
from qa.types import Article, Chunk

DEFAULT_COLLECTION = "qa_chunks"


class TermWeights(Protocol):
    """The keyword statistic the answer step needs: IDF weights of analysed terms."""

    def idf(self, terms: set[str]) -> dict[str, float]: ...


class Store(Protocol):
    """An index as the search path sees it. Rows are positions in ``chunks``; both tables build
    an article or chunk only when it is asked for (qa.table)."""

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

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search: (scores, rows), each (n_queries, k); row -1 is no hit."""
        ...

    def search_keyword(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """BM25: (scores, rows) of the k best rows, best first."""
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


class HybridStore(Store, Protocol):
    """A store that fuses both legs itself (Milvus's hybrid_search)."""

    def search_hybrid(
        self, vector: np.ndarray, query: str, k: int, *, ranker: str = "rrf", dense_weight: float = 0.4
    ) -> tuple[np.ndarray, np.ndarray]: ...


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


def parse_store(spec: str | None) -> dict[str, str]:
    """A store spec as recorded in the manifest: ``{}`` for FAISS, else ``kind``, ``uri`` and
    ``collection``. A Milvus Lite path is made absolute, so the manifest works from any folder."""
    if spec is None or spec in ("", "faiss"):
        return {}
    if not spec.startswith("milvus://"):
        raise ConfigError(
            f"unknown store {spec!r}: use faiss, milvus://PATH.db (Milvus Lite) or milvus://HOST:PORT"
        )
    rest, _, query = spec.removeprefix("milvus://").partition("?")
    collection = parse_qs(query).get("collection", [DEFAULT_COLLECTION])[0]
    if not collection.replace("_", "").isalnum() or not collection[0].isalpha():
        raise ConfigError(f"collection name {collection!r}: use letters, digits and _, starting with a letter")
    if not rest:
        raise ConfigError("--store milvus:// needs a file (milvus://index.db) or a server (milvus://HOST:PORT)")
    if rest.endswith(".db"):
        return {"kind": "milvus", "uri": str(Path(rest).expanduser().resolve()), "collection": collection}
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or "/" in host:
        raise ConfigError(f"{spec!r}: a Milvus server is milvus://HOST:PORT, a Milvus Lite file ends in .db")
    return {"kind": "milvus", "uri": f"http://{host}:{port}", "collection": collection}


def describe(record: dict[str, str]) -> str:
    """A store record in words, for `qa info` and messages."""
    if not record:
        return "FAISS + bm25s (in the index directory)"
    return f"Milvus at {record['uri']}, collection {record['collection']}"


def open_store(index_dir: Path) -> Store:
    """Load the index in ``index_dir`` from whichever store its manifest names."""
    manifest = read_manifest(index_dir)
    if manifest.store.get("kind") == "milvus":
        from qa.milvus_store import MilvusStore

        return MilvusStore.load(index_dir)
    return FaissStore.load(index_dir)


def write_store(index_dir: Path, update: StoreUpdate, previous: Store | None) -> Store:
    """Write the index to the store its manifest names, reusing what ``previous`` holds."""
    if update.manifest.store.get("kind") == "milvus":
        from qa.milvus_store import MilvusStore

        return MilvusStore.write(index_dir, update, previous)
    store = FaissStore.build(
        update.manifest, update.articles, update.chunks, update.ids, update.all_vectors(previous),
        update.all_sentences(previous),
    )
    store.save(index_dir)
    return store


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
