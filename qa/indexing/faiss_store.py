"""The default store: articles, chunks, their FAISS vectors and BM25, in one index directory.

Everything above the store asks a :class:`FaissStore` for chunks, articles and nearest
neighbours through the protocol :class:`qa.indexing.protocol.Store`; the Milvus store (for a corpus
beyond one machine, :mod:`qa.indexing.milvus_store`) implements the same, and both write and read
their generations through :mod:`qa.indexing.generations`.

Layout of an index directory::

    manifest.json          written last, atomically; names the live generation
    gen-000003/
      articles.jsonl       one article per line, sorted by id, with its full text, and beside it
      articles.ids.json    their ids and
      articles.offsets.npy where each line starts (articles are read when asked for: qa.indexing.table)
      chunks/ids.npy       int64, the FAISS id of each chunk (row)
      chunks/*.npy         the other columns of the chunk table: article, ordinal, offsets,
                           sentence spans (qa.indexing.table.ChunkTable; memory-mapped)
      vectors.faiss        IndexIDMap2 over the index type the size calls for (see choose_index_type)
      vectors.npy          exact float32 vectors, row order (ANN types only; rows read with pread)
      sentences.npy        float16, one row per sentence of each chunk, in chunk row order: the
                           sentence's vector pooled from its chunk's tokens
                           (qa.embed.protocol.pool_spans)
      bm25/                the keyword index (bm25s: .npy arrays without pickle, JSON vocabulary)

Invariant: row *i* of the chunk table is vector *i* of vectors.faiss and document *i* of bm25/,
and ``chunks/ids.npy[i]`` is that vector's FAISS id; the rows of sentences.npy are the sentences
of chunk 0, then those of chunk 1, and so on (``chunks/sentence_start.npy``). Ids are kept across
incremental updates and never reused, so a chunk can be removed by id. A write makes a new
generation folder and then swaps the manifest, so a reader (or a crash) never sees a
half-written index. No pickle: JSON, JSONL, ``.npy`` and FAISS's own format. Loading keeps no
Python object per chunk or article (see qa.indexing.table), so 1M chunks serve in well under 2 GB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from qa.errors import ConfigError, IndexMismatchError
from qa.indexing.generations import CHUNK_IDS, ROW_FILES, checked_load, read_generation, write_generation
from qa.indexing.keyword import KeywordIndex
from qa.indexing.manifest import Manifest
from qa.indexing.table import (
    ArticleTable,
    ChunkTable,
    IndexRows,
    RowReader,
    load_array,
)
from qa.ingest.chunk import embed_text
from qa.types import Article, Chunk, Filter

KEYWORD_FOLDER = "bm25"
FILES = (*ROW_FILES, "vectors.faiss", "bm25/n_docs.txt")
EXACT_VECTORS = "vectors.npy"
# Exact search (IndexFlatIP) up to this many chunks, an inverted file of 8-bit scalar-quantised
# vectors beyond, its candidates re-scored exactly from vectors.npy (read with pread). IVF-SQ8
# with ~sqrt(n) lists, 1/16 of them probed; the latency, recall and memory that chose these are
# in docs/BENCHMARKS.md, "Index type by size".
FLAT_LIMIT = 20_000
INDEX_TYPES = ("flat", "ivf-sq8")
IVF_PROBE_SHARE = 1 / 16  # share of the inverted lists visited per query (recall against speed)
IVF_MIN_PROBES = 16
IVF_TRAIN_PER_LIST = 64  # k-means sample per list (FAISS warns below 39)
ANN_OVERFETCH = 2  # an ANN index returns this many times k candidates, re-scored exactly
SMALL_BATCH = 20  # fewer queries than this are searched on one thread (FAISS's own BLAS threshold)
# A filtered IVF search uses FAISS's ID selector only when the lists it probes are expected to
# hold this many times the candidates it needs; else it scores the kept rows' exact vectors
# (a selective filter: few rows, a fast product). docs/BENCHMARKS.md, "Filters".
FILTER_SELECTOR_MARGIN = 4


def choose_index_type(n_vectors: int) -> str:
    """The FAISS index for a corpus of this size: exact while exact is fast enough."""
    return "flat" if n_vectors <= FLAT_LIMIT else "ivf-sq8"


def ivf_lists(n_vectors: int) -> int:
    """Inverted lists for n vectors: ~sqrt(n), a power of two, with at least 39 vectors per
    list to train on (FAISS's k-means warns below that)."""
    lists = 1 << max(0, round(np.log2(max(n_vectors, 1) ** 0.5)))
    while lists > 1 and n_vectors < 39 * lists:
        lists //= 2
    return lists


def ivf_probes(lists: int) -> int:
    return min(lists, max(IVF_MIN_PROBES, round(lists * IVF_PROBE_SHARE)))


def build_faiss_index(vectors: np.ndarray, ids: np.ndarray, dim: int, index_type: str) -> Any:
    """An IndexIDMap2 over the given index type, holding ``vectors`` under ``ids``. IVF
    training is deterministic: a seeded sample, FAISS's fixed k-means seed."""
    import faiss

    inner: faiss.Index
    if index_type == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif index_type == "ivf-sq8":
        lists = ivf_lists(len(vectors))
        ivf = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim), dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        ivf.nprobe = ivf_probes(lists)
        inner = ivf
        sample = vectors
        if len(vectors) > IVF_TRAIN_PER_LIST * lists:  # k-means needs a sample, not all: seeded
            rows = np.random.default_rng(0).choice(len(vectors), IVF_TRAIN_PER_LIST * lists, replace=False)
            sample = vectors[np.sort(rows)]
        inner.train(np.ascontiguousarray(sample, dtype=np.float32))
    else:
        raise ValueError(f"unknown index type {index_type!r}: choose one of {', '.join(INDEX_TYPES)}")
    index = faiss.IndexIDMap2(inner)
    if len(vectors):
        for first in range(0, len(vectors), 65536):  # in blocks: a float32 copy of 1M rows is 1.5 GB
            block = np.ascontiguousarray(vectors[first : first + 65536], dtype=np.float32)
            index.add_with_ids(block, np.asarray(ids[first : first + 65536], dtype=np.int64))
    return index


def search_parameters(params: Any, selector: Any, nprobe: int | None = None) -> Any:
    """FAISS search parameters with an ID selector (and, for IVF, the lists to probe)."""
    params.sel = selector
    if nprobe is not None:
        params.nprobe = nprobe
    return params


class FaissStore(IndexRows):
    """An index in memory: articles by id, chunks in row order, and their FAISS vectors."""

    hybrid_rankers: frozenset[str] = frozenset()  # fusion happens in qa.search.fusion

    def __init__(
        self,
        manifest: Manifest,
        articles: Iterable[Article] | ArticleTable,
        chunks: Sequence[Chunk] | ChunkTable,
        ids: np.ndarray,
        index: Any,
        keyword: KeywordIndex,
        sentence_vectors: np.ndarray,
        exact: np.ndarray | None = None,
    ) -> None:
        """Use :meth:`build` (from vectors) or :meth:`load` (from disk). ``exact`` holds the
        float32 vectors in row order when the FAISS index is approximate."""
        super().__init__(manifest, articles, chunks, ids, sentence_vectors)
        self.index = index
        self.keyword = keyword
        self.exact = exact
        self._exact_rows = RowReader(exact) if exact is not None else None

    @classmethod
    def build(
        cls,
        manifest: Manifest,
        articles: Iterable[Article] | ArticleTable,
        chunks: Sequence[Chunk] | ChunkTable,
        ids: np.ndarray,
        vectors: np.ndarray,
        sentence_vectors: np.ndarray,
        *,
        index_type: str | None = None,
        keyword: KeywordIndex | None = None,
    ) -> FaissStore:
        """A store over these chunks; ``ids[i]`` is the FAISS id of ``chunks[i]`` and ``vectors[i]``;
        ``sentence_vectors`` has a row per sentence of each chunk, in chunk order.
        ``index_type`` defaults to :func:`choose_index_type` of the size; ``keyword`` to BM25
        over the chunks' embedded texts. ``articles`` and ``chunks`` may be tables already."""
        articles = ArticleTable.of(articles)
        chunks = ChunkTable.of(chunks, articles)
        if not (len(chunks) == len(ids) == len(vectors)):
            raise ValueError(f"{len(chunks)} chunks, {len(ids)} ids and {len(vectors)} vectors")
        n_sentences = chunks.n_sentences
        if len(sentence_vectors) != n_sentences:
            raise ValueError(f"{len(sentence_vectors)} sentence vectors for {n_sentences} sentences")
        manifest = replace(manifest, index_type=index_type or choose_index_type(len(vectors)))
        index = build_faiss_index(vectors, ids, manifest.dim, manifest.index_type)
        exact = None if manifest.index_type == "flat" else np.asarray(vectors, dtype=np.float32)
        if keyword is None:
            keyword = KeywordIndex.build([embed_text(articles[chunk.article_id].title, chunk.text) for chunk in chunks])
        sentences = sentence_vectors
        if not (isinstance(sentences, np.ndarray) and sentences.dtype == np.float16):
            sentences = np.asarray(sentence_vectors, dtype=np.float16)
        sentences = sentences.reshape(n_sentences, manifest.dim)
        return cls(manifest, articles, chunks, ids, index, keyword, sentences, exact)

    # -- reading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, index_dir: Path, *, verify: bool = True) -> FaissStore:
        """Load and check an index; raise an error that says what to run if anything is off.

        ``verify`` checks every file's sha256 against the manifest before parsing it (its cost:
        docs/BENCHMARKS.md, "Figures behind the code"), so a file damaged without changing its
        size is refused instead of giving wrong answers, and FAISS never parses damaged bytes. A
        writer that swaps in a new generation while this reads the old one makes it read the new
        one."""
        return checked_load(Path(index_dir), cls._load_generation, verify)

    @classmethod
    def _load_generation(cls, index_dir: Path, manifest: Manifest, verify: bool) -> FaissStore:
        import faiss

        folder, articles, chunks, ids, sentences, problems = read_generation(index_dir, manifest, FILES, verify)
        try:
            # memory-mapped: the vectors stay in the page cache, not in this process's heap.
            # A memory-mapped index is read-only; updates build a new one (qa/indexing/indexer.py).
            index = faiss.read_index(str(folder / "vectors.faiss"), faiss.IO_FLAG_MMAP_IFC)
            exact = None
            if manifest.index_type != "flat":
                exact = load_array(folder / EXACT_VECTORS)
            keyword = KeywordIndex.load(folder / KEYWORD_FOLDER, mmap=True)
        except (KeyError, TypeError, ValueError, RuntimeError, OSError) as error:
            raise IndexMismatchError(f"the index in {folder} is damaged ({error})", rebuild=index_dir) from error
        if index.ntotal != len(chunks):
            problems.append(f"{index.ntotal} vectors for {len(chunks)} chunks")
        if index.d != manifest.dim:
            problems.append(f"vectors of dimension {index.d}, the manifest says {manifest.dim}")
        if exact is not None and exact.shape != (len(chunks), manifest.dim):
            problems.append(f"{EXACT_VECTORS} has shape {exact.shape} for {len(chunks)} chunks")
        if keyword.n_docs != len(chunks):
            problems.append(f"{keyword.n_docs} keyword-index documents for {len(chunks)} chunks")
        if not problems and len(ids):
            stored_ids = faiss.vector_to_array(cast("faiss.IndexIDMap2", faiss.downcast_index(index)).id_map)
            if not np.array_equal(stored_ids, ids):
                problems.append(f"the chunk ids in {CHUNK_IDS} and vectors.faiss differ")
        if problems:
            raise IndexMismatchError(
                f"the index in {index_dir} is inconsistent: {'; '.join(problems)}", rebuild=index_dir
            )
        store = cls(manifest, articles, chunks, ids, index, keyword, sentences, exact)
        store.directory = index_dir
        return store

    def vectors(self) -> np.ndarray:
        """All vectors, in row order."""
        import faiss

        if not len(self.chunks):
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.exact is not None:  # an approximate index only reconstructs approximations
            return np.asarray(self.exact, dtype=np.float32)
        return faiss.downcast_index(self.index.index).reconstruct_n(0, len(self.chunks))

    def search_keyword(self, query: str, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """BM25 among the rows ``where`` keeps: (scores, rows) of the k best rows, best first."""
        return self.keyword.search(query, k, self.row_filter.weights(where) if where else None)

    def search_hybrid(
        self, vector: np.ndarray, query: str, k: int, *, ranker: str = "rrf", dense_weight: float = 0.4,
        where: Filter | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Not here: FAISS and bm25s are fused by qa.search.fusion (see ``hybrid_rankers``)."""
        raise ConfigError(f"a FAISS index fuses no {ranker} ranking of its own: it needs an index in Milvus")

    def search(self, queries: np.ndarray, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search among the rows ``where`` keeps (all without it): (scores, rows),
        each of shape (n_queries, k); row -1 is no hit. A filter that keeps k rows or more
        always gets k (see :meth:`_search_kept`)."""
        kept = self.kept_rows(where) if where else None
        k = min(k, len(self.chunks) if kept is None else len(kept))
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        if kept is not None:
            return self._search_kept(queries, k, kept)
        if self._exact_rows is None:
            scores, ids = self._faiss_search(queries, k)
            return scores, self._rows(ids)
        # approximate candidates, re-scored with the exact vectors: exact scores (fusion
        # normalises them) and exact order among the candidates
        _, ids = self._faiss_search(queries, min(len(self.chunks), ANN_OVERFETCH * k))
        return self._rescored(queries, k, self._rows(ids))

    def _search_kept(self, queries: np.ndarray, k: int, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k best of the ``kept`` rows (k <= len(kept)). Flat: FAISS with an ID selector
        (exact). IVF: when the probed lists are expected to hold too few kept rows (a selective
        filter), the exact product over the kept rows' vectors; else FAISS with the ID selector,
        probing every list if the usual probes found fewer than needed; then re-scored exactly."""
        import faiss

        def selector() -> Any:
            return faiss.IDSelectorBatch(np.ascontiguousarray(self.ids[kept], dtype=np.int64))

        if self._exact_rows is None:
            scores, ids = self._faiss_search(queries, k, search_parameters(faiss.SearchParameters(), selector()))
            return scores, self._rows(ids)
        fetch = min(len(kept), ANN_OVERFETCH * k)
        ivf: Any = faiss.downcast_index(self.index.index)
        if len(kept) * ivf.nprobe / ivf.nlist < FILTER_SELECTOR_MARGIN * fetch:
            exact = np.asarray(self._exact_rows.take(kept), dtype=np.float32) @ queries.T  # kept rows x queries
            scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
            rows = np.full((len(queries), k), -1, dtype=np.int64)
            for q in range(len(queries)):
                best = np.lexsort((kept, -exact[:, q]))[:k]
                scores[q], rows[q] = exact[best, q], kept[best]
            return scores, rows
        sel = selector()
        _, ids = self._faiss_search(queries, fetch, search_parameters(faiss.SearchParametersIVF(), sel, ivf.nprobe))
        if np.any(ids[:, k - 1] < 0):  # some query found fewer than k in its lists: all of them
            _, ids = self._faiss_search(queries, fetch, search_parameters(faiss.SearchParametersIVF(), sel, ivf.nlist))
        return self._rescored(queries, k, self._rows(ids))

    def _rescored(self, queries: np.ndarray, k: int, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k best of each query's candidate rows (-1 ignored), scored with the exact vectors."""
        assert self._exact_rows is not None
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for q, found in enumerate(candidates):
            found = np.sort(found[found >= 0])  # sorted rows: runs are read at once, in file order
            exact = np.asarray(self._exact_rows.take(found), dtype=np.float32) @ queries[q]
            best = np.lexsort((found, -exact))[:k]
            scores[q, : len(best)], rows[q, : len(best)] = exact[best], found[best]
        return scores, rows

    def _faiss_search(self, queries: np.ndarray, k: int, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS search; a few queries run on one thread. FAISS parallelises over queries, so
        for one query the other OpenMP threads only wait at a barrier, and on a busy machine
        that wait costs more than the search (docs/BENCHMARKS.md, "Figures behind the code")."""
        import faiss

        if len(queries) >= SMALL_BATCH:
            return self.index.search(queries, k, params=params)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        return self.rows_of(ids)

    # -- writing -----------------------------------------------------------------------------

    def save(self, index_dir: Path) -> None:
        """Write a new generation, then point the manifest at it; remove older generations."""
        import faiss

        def write_vectors(staging: Path) -> None:
            faiss.write_index(self.index, str(staging / "vectors.faiss"))
            if self.exact is not None:
                np.save(staging / EXACT_VECTORS, np.asarray(self.exact, dtype=np.float32), allow_pickle=False)
            self.keyword.save(staging / KEYWORD_FOLDER)

        self.directory = Path(index_dir)
        self.manifest = write_generation(
            self.directory, self.manifest, self.articles, self.chunks, self.ids, self.sentence_matrix, write_vectors,
        )
