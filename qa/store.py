"""The index store: articles, chunks and their vectors, persisted in one directory.

This module is the one boundary between qa and where vectors live. Everything above it asks
a :class:`FaissStore` for chunks, articles and nearest neighbours; a different backend (Milvus,
for a corpus beyond one machine, :mod:`qa.milvus_store`) implements the same methods, the
protocol :class:`qa.stores.Store`, and reuses :func:`checked_load`, :func:`read_generation` and
:func:`write_generation`.

Layout of an index directory::

    manifest.json          written last, atomically; names the live generation
    gen-000003/
      articles.jsonl       one article per line, sorted by id, with its full text, and beside it
      articles.ids.json    their ids and
      articles.offsets.npy where each line starts (articles are read when asked for: qa.table)
      chunks/ids.npy       int64, the FAISS id of each chunk (row)
      chunks/*.npy         the other columns of the chunk table: article, ordinal, offsets,
                           sentence spans (qa.table.ChunkTable; memory-mapped)
      vectors.faiss        IndexIDMap2 over the index type the size calls for (see choose_index_type)
      vectors.npy          exact float32 vectors, row order (ANN types only; rows read with pread)
      sentences.npy        float16, one row per sentence of each chunk, in chunk row order: the
                           sentence's vector pooled from its chunk's tokens (qa.embed.pool_spans)
      bm25/                the keyword index (bm25s: .npy arrays without pickle, JSON vocabulary)

Invariant: row *i* of the chunk table is vector *i* of vectors.faiss and document *i* of bm25/,
and ``chunks/ids.npy[i]`` is that vector's FAISS id; the rows of sentences.npy are the sentences
of chunk 0, then those of chunk 1, and so on (``chunks/sentence_start.npy``). Ids are kept across
incremental updates and never reused, so a chunk can be removed by id. A write makes a new
generation folder and then swaps the manifest, so a reader (or a crash) never sees a
half-written index. No pickle: JSON, JSONL, ``.npy`` and FAISS's own format. Loading keeps no
Python object per chunk or article (see qa.table), so 1M chunks serve in well under 2 GB.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import numpy as np

from qa.chunk import embed_text
from qa.errors import IndexLockedError, IndexMismatchError, IndexMissingError
from qa.faults import checkpoint
from qa.keyword import KeywordIndex
from qa.table import ARTICLE_FILES, CHUNK_COLUMNS, ArticleTable, ChunkTable, RowReader, load_array
from qa.types import Article, Chunk

FORMAT_VERSION = 4  # 4: chunk and article tables (qa.table) instead of chunks.jsonl
MANIFEST = "manifest.json"
LOCK = ".lock"
KEYWORD_FOLDER = "bm25"
SENTENCES = "sentences.npy"
CHUNKS = "chunks"
CHUNK_IDS = f"{CHUNKS}/ids.npy"
# the files every store's generation has (qa.milvus_store too), then FaissStore's own
ROW_FILES = (*ARTICLE_FILES, CHUNK_IDS, *(f"{CHUNKS}/{name}.npy" for name in CHUNK_COLUMNS), SENTENCES)
FILES = (*ROW_FILES, "vectors.faiss", "bm25/n_docs.txt")
GENERATION = re.compile(r"gen-\d{6}")
VERSIONED_PACKAGES = ("qa", "faiss-cpu", "numpy", "sentence-transformers", "tokenizers", "torch", "onnxruntime")
EXACT_VECTORS = "vectors.npy"
# Exact search (IndexFlatIP) up to this many chunks, an inverted file of 8-bit scalar-quantised
# vectors beyond, its candidates re-scored exactly from vectors.npy (read with pread). Measured in
# docs/BENCHMARKS.md: flat search costs ~0.26 ms per 1k chunks per query on this CPU (~5 ms at
# 20k); IVF-SQ8 with ~sqrt(n) lists, 1/16 of them probed, keeps recall@10 >= 0.95 on the BBC
# vectors and holds 1M chunks in ~0.4 GB of RAM.
FLAT_LIMIT = 20_000
INDEX_TYPES = ("flat", "ivf-sq8")
IVF_PROBE_SHARE = 1 / 16  # share of the inverted lists visited per query (recall against speed)
IVF_MIN_PROBES = 16
IVF_TRAIN_PER_LIST = 64  # k-means sample per list (FAISS warns below 39)
ANN_OVERFETCH = 2  # an ANN index returns this many times k candidates, re-scored exactly
SMALL_BATCH = 20  # fewer queries than this are searched on one thread (FAISS's own BLAS threshold)


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


def library_versions() -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


@dataclass
class Manifest:
    """What an index is and how it was built. Loading checks it against the files."""

    model: str
    model_fingerprint: str
    dim: int
    chunking: dict[str, float]
    backend: str = ""  # how the vectors were made: torch, onnx or onnx-int8 ("" before it was recorded)
    index_type: str = "flat"  # one of INDEX_TYPES
    n_articles: int = 0
    n_chunks: int = 0
    generation: str = ""
    next_id: int = 0  # the FAISS id the next new chunk gets
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> sha256, n_chunks, path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> bytes, sha256
    corpus: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=library_versions)
    built_at: str = ""
    build_seconds: float = 0.0
    store: dict[str, str] = field(default_factory=dict)  # {} = FAISS here; else qa.stores.parse_store
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> Manifest:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{where} has index format {version!r}; this qa reads format {FORMAT_VERSION}",
                rebuild=where.parent,
            )
        names = {name for name in cls.__dataclass_fields__}
        try:
            return cls(**{key: value for key, value in data.items() if key in names})
        except TypeError as error:
            raise IndexMismatchError(f"{where} is incomplete ({error})", rebuild=where.parent) from error


def read_manifest(index_dir: Path) -> Manifest:
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexMissingError(f"no index in {index_dir}: run `qa index --index-dir {index_dir}` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IndexMismatchError(f"{path} is not valid JSON ({error})", rebuild=index_dir) from error
    if not isinstance(data, dict):
        raise IndexMismatchError(f"{path} is not a JSON object", rebuild=index_dir)
    return Manifest.from_json(data, path)


class IndexRows:
    """What every store keeps: the manifest, the articles (by id) and chunks (in row order) as
    tables (qa.table), the id of each row's chunk (FAISS id / Milvus primary key) and the vectors
    of their sentences. Loaded from disk, all but the article ids are memory-mapped arrays."""

    def __init__(
        self, manifest: Manifest, articles: Iterable[Article] | ArticleTable, chunks: Sequence[Chunk] | ChunkTable,
        ids: np.ndarray, sentence_vectors: np.ndarray,
    ) -> None:
        self.manifest = manifest
        self.articles = ArticleTable.of(articles)
        self.chunks = ChunkTable.of(chunks, self.articles)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.directory = Path(".")  # where it was loaded from or saved to
        self.sentence_matrix = sentence_vectors
        self._sentences = RowReader(sentence_vectors)  # a question's rows, not mapped in for good
        # id -> row by binary search, over the ids themselves while they grow with the rows (a
        # first build), else over a sorted copy; a dict of 1M ids would take ~100 MB
        growing = bool(np.all(self.ids[1:] > self.ids[:-1]))
        self._id_order = None if growing else np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids if growing else self.ids[self._id_order]

    @property
    def dim(self) -> int:
        return self.manifest.dim

    def __len__(self) -> int:
        return len(self.chunks)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The row of each chunk id (FAISS id / Milvus primary key), -1 for ids this index does
        not hold (a search's -1, or a chunk a newer write added); the shape of ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self._sorted_ids):
            return np.full(ids.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted_ids, ids), len(self._sorted_ids) - 1)
        rows = at if self._id_order is None else self._id_order[at]
        return np.where(self._sorted_ids[at] == ids, rows, -1).astype(np.int64)

    def sentence_vectors(self, chunk: Chunk) -> np.ndarray:
        """The vectors of the chunk's sentences (float32, one row per ``chunk.sentences``)."""
        row = self.chunks.row_of(chunk.id)
        if row is None:
            raise KeyError(chunk.id)
        return np.asarray(self.sentence_rows([row]), np.float32)

    def sentence_rows(self, rows: Sequence[int]) -> np.ndarray:
        """The sentence vectors of the given chunk rows, concatenated (float16, as stored)."""
        if not len(rows):
            return np.zeros((0, self.dim), dtype=np.float16)
        return np.concatenate([self._sentences.span(*self.chunks.sentence_rows(int(r))) for r in rows])


class FaissStore(IndexRows):
    """An index in memory: articles by id, chunks in row order, and their FAISS vectors."""

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
        manifest.index_type = index_type or choose_index_type(len(vectors))
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

        ``verify`` checks every file's sha256 against the manifest before parsing it (about
        0.1 s for the 25 MB BBC index), so a file damaged without changing its size is refused
        instead of giving wrong answers, and FAISS never parses damaged bytes. A writer that
        swaps in a new generation while this reads the old one makes it read the new one."""
        return checked_load(Path(index_dir), cls._load_generation, verify)

    @classmethod
    def _load_generation(cls, index_dir: Path, manifest: Manifest, verify: bool) -> FaissStore:
        import faiss

        folder, articles, chunks, ids, sentences, problems = read_generation(index_dir, manifest, FILES, verify)
        try:
            # memory-mapped: the vectors stay in the page cache, not in this process's heap.
            # A memory-mapped index is read-only; updates build a new one (qa/indexer.py).
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

    def search_keyword(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """BM25: (scores, rows) of the k best rows, best first."""
        return self.keyword.search(query, k)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search: (scores, rows), each of shape (n_queries, k); row -1 is no hit."""
        k = min(k, len(self.chunks))
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        if self._exact_rows is None:
            scores, ids = self._faiss_search(queries, k)
            return scores, self._rows(ids)
        # approximate candidates, re-scored with the exact vectors: exact scores (fusion
        # normalises them) and exact order among the candidates
        _, ids = self._faiss_search(queries, min(len(self.chunks), ANN_OVERFETCH * k))
        candidates = self._rows(ids)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for q, found in enumerate(candidates):
            found = np.sort(found[found >= 0])  # sorted rows: runs are read at once, in file order
            exact = np.asarray(self._exact_rows.take(found), dtype=np.float32) @ queries[q]
            best = np.lexsort((found, -exact))[:k]
            scores[q, : len(best)], rows[q, : len(best)] = exact[best], found[best]
        return scores, rows

    def _faiss_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS search; a few queries run on one thread. FAISS parallelises over queries, so
        for one query the other OpenMP threads only wait at a barrier, and on a busy machine
        that wait costs more than the search (measured: 1 query over 10k vectors, p50 0.4 ms on
        one thread, 60-100 ms with two when the machine is loaded)."""
        import faiss

        if len(queries) >= SMALL_BATCH:
            return self.index.search(queries, k)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, k)
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
        write_generation(
            self.directory, self.manifest, self.articles, self.chunks, self.ids, self.sentence_matrix, write_vectors,
        )


def checked_load(index_dir: Path, load_generation: Callable[[Path, Manifest, bool], Any], verify: bool) -> Any:
    """``load_generation(index_dir, manifest, verify)`` for the live manifest, again for the new
    one if a writer swapped generations meanwhile; a hand-edited manifest's wrong types (a list
    where a mapping belongs) or a generation name outside the index directory refused."""
    for _ in range(5):
        manifest = read_manifest(index_dir)
        try:
            if not isinstance(manifest.generation, str) or not GENERATION.fullmatch(manifest.generation):
                raise IndexMismatchError(
                    f"{index_dir / MANIFEST} names the generation {manifest.generation!r}, not one like"
                    f" 'gen-000001'",
                    rebuild=index_dir,
                )
            try:
                return load_generation(index_dir, manifest, verify)
            except (AttributeError, TypeError, KeyError, ValueError) as error:
                raise IndexMismatchError(
                    f"{index_dir / MANIFEST} does not describe an index qa can read ({type(error).__name__}:"
                    f" {error})",
                    rebuild=index_dir,
                ) from error
            except OSError as error:  # e.g. a writer removed the generation while it was being checked
                raise IndexMismatchError(
                    f"cannot read {error.filename or index_dir} ({error.strerror or error})", rebuild=index_dir
                ) from error
        except IndexMismatchError:
            with contextlib.suppress(IndexMissingError, IndexMismatchError):
                if read_manifest(index_dir).generation != manifest.generation:
                    continue  # a writer replaced the generation under us: read the new one
            raise
    raise IndexMismatchError(f"{index_dir} changed five times while being read: try again")


def read_generation(
    index_dir: Path, manifest: Manifest, required: Sequence[str], verify: bool
) -> tuple[Path, ArticleTable, ChunkTable, np.ndarray, np.ndarray, list[str]]:
    """The live generation folder, article and chunk tables, chunk ids and sentence vectors
    (memory-mapped) of an index, with every file checked against the manifest (``required`` must
    be listed and exist; ``verify`` checks sha256 too, reading each file once with plain reads,
    which leaves it in the page cache, not in this process), and the count problems found, for
    the caller to report with its own."""
    folder = index_dir / manifest.generation
    unlisted = sorted(set(required) - set(manifest.files))
    if unlisted:
        raise IndexMismatchError(
            f"{index_dir / MANIFEST} lists no size or checksum for {', '.join(unlisted)}", rebuild=index_dir
        )
    for name in sorted(set(required) | set(manifest.files)):
        path = folder / name
        if not path.is_file():
            raise IndexMismatchError(f"{path} is missing", rebuild=index_dir)
        expected = manifest.files.get(name, {})
        if expected.get("bytes") is not None and path.stat().st_size != expected["bytes"]:
            raise IndexMismatchError(
                f"{path} has {path.stat().st_size} bytes, the manifest says {expected['bytes']}", rebuild=index_dir
            )
        if verify and expected.get("sha256") and file_sha256(path) != expected["sha256"]:
            raise IndexMismatchError(f"{path} is damaged (its sha256 differs from the manifest's)", rebuild=index_dir)
    try:
        articles = ArticleTable.load(folder)
        chunks = ChunkTable.load(folder / CHUNKS, articles)
        ids = load_array(folder / CHUNK_IDS)
        sentences = load_array(folder / SENTENCES)
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as error:
        raise IndexMismatchError(f"the index in {folder} is damaged ({error})", rebuild=index_dir) from error
    problems = chunks.problems()
    if ids.shape != (len(chunks),) or ids.dtype != np.int64:
        problems.append(f"{CHUNK_IDS} holds {ids.shape} {ids.dtype} for {len(chunks)} chunks")
    if len(articles) != manifest.n_articles:
        problems.append(f"{len(articles)} articles, the manifest says {manifest.n_articles}")
    if len(chunks) != manifest.n_chunks:
        problems.append(f"{len(chunks)} chunks, the manifest says {manifest.n_chunks}")
    if not problems and (sentences.shape != (chunks.n_sentences, manifest.dim) or sentences.dtype != np.float16):
        problems.append(
            f"sentence vectors of shape {sentences.shape} ({sentences.dtype}),"
            f" expected ({chunks.n_sentences}, {manifest.dim}) float16"
        )
    return folder, articles, chunks, ids, sentences, problems


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    articles: Iterable[Article] | ArticleTable,
    chunks: Sequence[Chunk] | ChunkTable,
    ids: np.ndarray,
    sentence_vectors: np.ndarray,
    write_more: Callable[[Path], None],
) -> None:
    """Write the article and chunk tables, sentences.npy and whatever ``write_more`` puts in the
    staging folder as a new generation, then point the manifest at it; remove older generations.
    The checkpoints are where the crash tests stop a writer (qa.faults)."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    generation = f"gen-{_last_generation_number(index_dir) + 1:06d}"
    staging = index_dir / f"{generation}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    articles = ArticleTable.of(articles)
    chunks = ChunkTable.of(chunks, articles)
    articles.save(staging)
    checkpoint("staging")
    chunks.save(staging / CHUNKS)
    np.save(staging / CHUNK_IDS, np.asarray(ids, dtype=np.int64), allow_pickle=False)
    write_more(staging)
    np.save(staging / SENTENCES, np.ascontiguousarray(sentence_vectors, dtype=np.float16), allow_pickle=False)
    manifest.generation = generation
    manifest.n_articles = len(articles)
    manifest.n_chunks = len(chunks)
    manifest.files = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        name = path.relative_to(staging).as_posix()
        _fsync(path)
        manifest.files[name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    for folder in sorted((p for p in staging.rglob("*") if p.is_dir()), reverse=True):
        _fsync(folder)
    _fsync(staging)
    checkpoint("staged")
    os.replace(staging, index_dir / generation)
    _fsync(index_dir)
    checkpoint("renamed")
    atomic_write_text(index_dir / MANIFEST, json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n")
    checkpoint("swapped")
    remove_stale_generations(index_dir, keep=generation)
    checkpoint("cleaned")


def _last_generation_number(index_dir: Path) -> int:
    """The highest generation number in use, by the manifest or by any folder: a crash may
    have left a complete folder the manifest never came to name, which must not be reused."""
    numbers = [0]
    for path in index_dir.glob("gen-*"):
        digits = path.name[4:].split(".")[0]
        if digits.isdigit():
            numbers.append(int(digits))
    return max(numbers)


def remove_stale_generations(index_dir: Path, keep: str) -> None:
    """Generations the manifest no longer names, and the staging folders and half-written
    manifest a crash left behind. Only a writer (holding :func:`write_lock`) may call it."""
    for path in index_dir.glob("gen-*"):
        if path.name != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (index_dir / (MANIFEST + ".tmp")).unlink()


def chunk_record(chunk: Chunk, faiss_id: int) -> dict[str, Any]:
    """A chunk as a JSON object (how qa.ray_engine's workers send chunks back)."""
    return {
        "id": faiss_id,
        "chunk_id": chunk.id,
        "article_id": chunk.article_id,
        "n": chunk.n,
        "start": chunk.start,
        "end": chunk.end,
        "sentences": [list(span) for span in chunk.sentences],
    }


def chunk_from_record(record: dict[str, Any], articles: dict[str, Article]) -> Chunk:
    text = articles[record["article_id"]].text
    start, end = int(record["start"]), int(record["end"])
    return Chunk(
        id=record["chunk_id"],
        article_id=record["article_id"],
        n=int(record["n"]),
        start=start,
        end=end,
        text=text[start:end],
        sentences=tuple((int(s), int(e)) for s, e in record["sentences"]),
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    _fsync(temporary)
    os.replace(temporary, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index directory's writer lock; fail at once if another writer has it."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / LOCK).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexLockedError(
                f"{index_dir} is being written by {holder}; wait for it to finish and try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} (since {time.strftime('%H:%M:%S')})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
