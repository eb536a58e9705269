"""Articles and chunks as tables: a few arrays and strings in memory, the texts on disk.

A loaded index holds no Python object per chunk. :class:`ArticleTable` keeps the article ids
(sorted) and the byte offset of each article's line in ``articles.jsonl``; an article is read
and parsed when it is asked for (with a small cache: one question reads a dozen). A
:class:`ChunkTable` is columns of numbers, memory-mapped from ``.npy`` files: the article
(its position in the article table), ordinal, offsets and the spans of its sentences; a
:class:`~qa.types.Chunk` is built from them, with its text cut from its article, only for the
rows a question returns. At 1M chunks the old lists of ``Chunk`` objects took ~3.5 GB of a
serving process; these take a few MB besides the pages the questions touch.

Files, in a generation folder (see qa/indexing/faiss_store.py)::

    articles.jsonl          one article per line, sorted by id, with its full text
    articles.ids.json       the ids of those lines, in order (a JSON list)
    articles.offsets.npy    int64: where each line starts, in bytes, then the file's size
    chunks/article.npy      int32: the line in articles.jsonl of each chunk's article
    chunks/n.npy            int32: the chunk's ordinal within its article; its id is "<article id>#<n>"
    chunks/start.npy        int64: where the chunk starts and ends in its article's text
    chunks/end.npy
    chunks/sentence_start.npy   int64, one more than the chunks: chunk i's sentences are rows
                            sentence_start[i] to sentence_start[i + 1] of sentence_spans.npy
                            (and of the index's sentences.npy)
    chunks/sentence_spans.npy   int64 (n_sentences, 2): (start, end) of each sentence, in article offsets
"""

from __future__ import annotations

import bisect
import json
import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.indexing.filters import RowFilter
from qa.indexing.manifest import Manifest
from qa.types import Article, Chunk, Filter

ARTICLES = "articles.jsonl"
ARTICLE_IDS = "articles.ids.json"
ARTICLE_OFFSETS = "articles.offsets.npy"
ARTICLE_FILES = (ARTICLES, ARTICLE_IDS, ARTICLE_OFFSETS)
CHUNK_COLUMNS = ("article", "n", "start", "end", "sentence_start", "sentence_spans")
COLUMN_TYPES = {"article": np.int32, "n": np.int32}  # the others are int64
CACHED_ARTICLES = 128  # articles kept parsed: one question reads a dozen (up to 500k characters each)


def load_array(path: Path) -> np.ndarray:
    """A ``.npy`` file, memory-mapped and read-only, never unpickled."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def chunk_id(article_id: str, n: int) -> str:
    return f"{article_id}#{n}"


class RowReader:
    """Rows of a 2-D array; of one memory-mapped from a ``.npy`` file, read with ``os.pread``.

    Why not through the mapping: a page fault maps the pages around the one it needs too, and
    mapped pages count in the process's RSS until it unmaps them. Re-scoring ~200 scattered
    1.5 KB rows of vectors.npy per question left 1.3 GB of it mapped after 30 questions at 1M
    chunks. Read with pread, the rows pass through the page cache, which the kernel shares and
    reclaims, and the process keeps only the copy it asked for."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self._descriptor = None
        self._offset = 0  # of the array's data in its file (a memmap's .offset)
        if isinstance(array, np.memmap) and array.filename and array.ndim == 2 and array.flags.c_contiguous:
            # opened now, with the mapping: a writer may remove the generation later
            self._descriptor = os.open(array.filename, os.O_RDONLY)
            self._offset = array.offset
            weakref.finalize(self, os.close, self._descriptor)
            self._row_bytes = array.dtype.itemsize * array.shape[1]

    def span(self, first: int, last: int) -> np.ndarray:
        """Rows first..last (a copy)."""
        last = min(last, len(self.array))
        if self._descriptor is None or last <= first:
            return np.array(self.array[first:last])
        data = os.pread(self._descriptor, (last - first) * self._row_bytes, self._offset + first * self._row_bytes)
        return np.frombuffer(data, dtype=self.array.dtype).reshape(last - first, self.array.shape[1])

    def take(self, wanted: Sequence[int] | np.ndarray) -> np.ndarray:
        """The given rows, in that order (a copy); runs of consecutive rows are read at once."""
        rows = np.asarray(wanted, dtype=np.int64)
        if self._descriptor is None:
            return np.array(self.array[rows])
        if not len(rows):
            return np.zeros((0, self.array.shape[1]), dtype=self.array.dtype)
        if rows.min() < 0 or rows.max() >= len(self.array):
            raise IndexError(f"rows outside 0..{len(self.array) - 1}")
        starts = np.concatenate([[0], np.flatnonzero(np.diff(rows) != 1) + 1])
        lengths = np.diff(np.concatenate([starts, [len(rows)]]))
        size, base = self._row_bytes, self._offset
        data = b"".join([os.pread(self._descriptor, n * size, base + first * size)
                         for first, n in zip(rows[starts].tolist(), lengths.tolist())])
        return np.frombuffer(data, dtype=self.array.dtype).reshape(len(rows), self.array.shape[1])


class ArticleTable(Mapping[str, Article]):
    """Articles by id, in id order: in memory (a build), or read from ``articles.jsonl`` when
    asked for (a loaded index, which keeps only the ids and line offsets)."""

    def __init__(self, ids: Sequence[str], read: Callable[[int], Article]) -> None:
        """Use :meth:`of` or :meth:`load`; ``ids`` sorted, ``read(i)`` the article ``ids[i]``."""
        self.ids = list(ids)
        self._read = read

    @classmethod
    def of(cls, articles: Iterable[Article] | ArticleTable) -> ArticleTable:
        """A table of these articles (the same table if it is one already)."""
        if isinstance(articles, ArticleTable):
            return articles
        ordered = sorted(articles, key=lambda article: article.id)
        ids = [article.id for article in ordered]
        if len(set(ids)) != len(ids):
            raise ValueError("two articles with the same id")
        return cls(ids, ordered.__getitem__)

    @classmethod
    def load(cls, folder: Path) -> ArticleTable:
        """The articles of a generation folder, read from disk when asked for; the file stays
        open, so a writer removing the generation meanwhile does not take it away."""
        ids = json.loads((folder / ARTICLE_IDS).read_text(encoding="utf-8"))
        offsets = np.asarray(load_array(folder / ARTICLE_OFFSETS), dtype=np.int64)
        if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ValueError(f"{ARTICLE_IDS} is not a list of ids")
        if any(a >= b for a, b in zip(ids, ids[1:])):
            raise ValueError(f"{ARTICLE_IDS} is not sorted")
        descriptor = os.open(folder / ARTICLES, os.O_RDONLY)
        size = os.fstat(descriptor).st_size
        if offsets.shape != (len(ids) + 1,) or (len(ids) and (offsets[0] != 0 or np.any(np.diff(offsets) <= 0))) \
                or offsets[-1] != size:
            os.close(descriptor)
            raise ValueError(f"{ARTICLE_OFFSETS} does not match {ARTICLES} and {ARTICLE_IDS}")

        def read(i: int) -> Article:
            line = os.pread(descriptor, int(offsets[i + 1] - offsets[i]), int(offsets[i]))
            article = Article(**json.loads(line))
            if article.id != ids[i]:
                raise ValueError(
                    f"line {i + 1} of {folder / ARTICLES} is {article.id!r}, {ARTICLE_IDS} says {ids[i]!r}"
                )
            return article

        table = cls(ids, lru_cache(maxsize=CACHED_ARTICLES)(read))
        weakref.finalize(table, os.close, descriptor)
        if ids:  # a cheap look at both ends, so that a mix-up shows at load, not at a question
            table.at(0), table.at(len(ids) - 1)
        return table

    def save(self, folder: Path) -> None:
        """Write articles.jsonl, its ids and its line offsets into ``folder``."""
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        with (folder / ARTICLES).open("wb") as out:
            for i in range(len(self)):
                line = (json.dumps(asdict(self.at(i)), ensure_ascii=False) + "\n").encode("utf-8")
                out.write(line)
                offsets[i + 1] = offsets[i] + len(line)
        (folder / ARTICLE_IDS).write_text(json.dumps(self.ids, ensure_ascii=False) + "\n", encoding="utf-8")
        np.save(folder / ARTICLE_OFFSETS, offsets, allow_pickle=False)

    def position(self, article_id: str) -> int:
        """The article's line; KeyError if there is none."""
        i = bisect.bisect_left(self.ids, article_id) if isinstance(article_id, str) else len(self.ids)
        if i == len(self.ids) or self.ids[i] != article_id:
            raise KeyError(article_id)
        return i

    def at(self, position: int) -> Article:
        return self._read(position)

    def __getitem__(self, article_id: str) -> Article:
        return self._read(self.position(article_id))

    def __contains__(self, article_id: object) -> bool:
        try:
            self.position(article_id)  # type: ignore[arg-type]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


class ChunkTable(Sequence[Chunk]):
    """Chunks in row order, as columns (see the module docstring); ``table[row]`` builds the
    :class:`~qa.types.Chunk`, with its text cut from its article."""

    def __init__(self, articles: ArticleTable, columns: Mapping[str, np.ndarray]) -> None:
        """Use :meth:`of` or :meth:`load`; ``columns`` has every name of CHUNK_COLUMNS."""
        self.articles = articles
        self.article = columns["article"]
        self.n = columns["n"]
        self.start = columns["start"]
        self.end = columns["end"]
        self.sentence_start = columns["sentence_start"]
        self.sentence_spans = columns["sentence_spans"]
        self._by_key: tuple[np.ndarray, np.ndarray] | None = None  # built on the first row_of

    @classmethod
    def of(cls, chunks: Sequence[Chunk] | ChunkTable, articles: ArticleTable) -> ChunkTable:
        """A table of these chunks over ``articles`` (the same table if it is one over them)."""
        if isinstance(chunks, ChunkTable) and chunks.articles is articles:
            return chunks
        rows = len(chunks)
        columns: dict[str, np.ndarray] = {
            name: np.zeros(rows, dtype=COLUMN_TYPES.get(name, np.int64)) for name in CHUNK_COLUMNS[:4]
        }
        counts = np.zeros(rows, dtype=np.int64)
        spans: list[tuple[int, int]] = []
        for row, chunk in enumerate(chunks):
            if chunk.id != chunk_id(chunk.article_id, chunk.n):
                raise ValueError(f"chunk {chunk.id!r} of {chunk.article_id!r}: a chunk's id must be"
                                 f" {chunk_id(chunk.article_id, chunk.n)!r} (the article id, '#', its ordinal)")
            try:
                columns["article"][row] = articles.position(chunk.article_id)
            except KeyError:
                raise ValueError(f"chunk {chunk.id!r} belongs to no article of the index") from None
            columns["n"][row], columns["start"][row], columns["end"][row] = chunk.n, chunk.start, chunk.end
            counts[row] = len(chunk.sentences)
            spans.extend(chunk.sentences)
        columns["sentence_start"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        columns["sentence_spans"] = np.array(spans, dtype=np.int64).reshape(len(spans), 2)
        return cls(articles, columns)

    @classmethod
    def load(cls, folder: Path, articles: ArticleTable) -> ChunkTable:
        """The columns in ``folder``, memory-mapped."""
        return cls(articles, {name: load_array(folder / f"{name}.npy") for name in CHUNK_COLUMNS})

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in CHUNK_COLUMNS:
            data = np.ascontiguousarray(getattr(self, name), dtype=COLUMN_TYPES.get(name, np.int64))
            np.save(folder / f"{name}.npy", data, allow_pickle=False)

    def problems(self) -> list[str]:
        """What is inconsistent in the columns (shapes, types, references), in words."""
        rows = len(self.article)
        problems = [
            f"chunks/{name}.npy has shape {getattr(self, name).shape}, expected ({rows},)"
            for name in CHUNK_COLUMNS[1:4] if getattr(self, name).shape != (rows,)
        ]
        for name in CHUNK_COLUMNS:
            if getattr(self, name).dtype != COLUMN_TYPES.get(name, np.int64):
                problems.append(f"chunks/{name}.npy holds {getattr(self, name).dtype}")
        starts, spans = self.sentence_start, self.sentence_spans
        if starts.shape != (rows + 1,) or starts[0] != 0 or np.any(np.diff(starts) < 0) \
                or spans.shape != (int(starts[-1]), 2):
            problems.append(f"chunks/sentence_start.npy does not fit {rows} chunks of chunks/sentence_spans.npy"
                            f" {spans.shape}")
        if rows and (int(self.article.min()) < 0 or int(self.article.max()) >= len(self.articles)):
            problems.append(f"chunks/article.npy names articles outside 0..{len(self.articles) - 1}")
        return problems

    @property
    def n_sentences(self) -> int:
        return int(self.sentence_start[-1])

    def sentence_rows(self, row: int) -> tuple[int, int]:
        """The first and past-the-last sentence row of a chunk."""
        return int(self.sentence_start[row]), int(self.sentence_start[row + 1])

    def row_of(self, chunk_id_: str) -> int | None:
        """The row of the chunk with this id, or None."""
        article_id, _, n = chunk_id_.rpartition("#")
        if article_id not in self.articles or not n.isdigit():
            return None
        if self._by_key is None:  # rows sorted by (article, n), searched by binary search
            keys = (np.asarray(self.article, dtype=np.int64) << 32) | np.asarray(self.n, dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            self._by_key = keys[order], order
        keys, order = self._by_key
        key = (self.articles.position(article_id) << 32) | int(n)
        i = int(np.searchsorted(keys, key))
        return int(order[i]) if i < len(keys) and keys[i] == key else None

    def __len__(self) -> int:
        return len(self.article)

    def __getitem__(self, row):  # int -> Chunk, slice -> list[Chunk]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"chunk row {row} of {len(self)}")
        article = self.articles.at(int(self.article[row]))
        start, end = int(self.start[row]), int(self.end[row])
        first, last = self.sentence_rows(row)
        n = int(self.n[row])
        return Chunk(
            id=chunk_id(article.id, n), article_id=article.id, n=n, start=start, end=end,
            text=article.text[start:end], sentences=tuple(map(tuple, self.sentence_spans[first:last].tolist())),
        )


class IndexRows:
    """What every store keeps: the manifest, the articles (by id) and chunks (in row order) as
    tables (qa.indexing.table), the id of each row's chunk (FAISS id / Milvus primary key) and the vectors
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
        self._row_filter: RowFilter | None = None
        self._sentences = RowReader(sentence_vectors)  # a question's rows, not mapped in for good
        # id -> row by binary search, over the ids themselves while they grow with the rows (a
        # first build), else over a sorted copy; a dict of 1M ids would take ~100 MB
        growing = bool(np.all(self.ids[1:] > self.ids[:-1]))
        self._id_order = None if growing else np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids if growing else self.ids[self._id_order]

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def row_filter(self) -> RowFilter:
        """Every article's date and source, to resolve filters (qa.indexing.filters); read from
        the article table on first use, once per loaded store."""
        if self._row_filter is None:
            articles = self.articles
            self._row_filter = RowFilter.of(
                (articles.at(i) for i in range(len(articles))), np.asarray(self.chunks.article)
            )
        return self._row_filter

    def kept_rows(self, where: Filter) -> np.ndarray | None:
        """The sorted rows the filter keeps; None for the empty filter (every row)."""
        return self.row_filter.rows(where) if where else None

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
