"""The article and chunk tables (qa/indexing/table.py): chunks built on demand from columns equal the
chunks as chunked and as the old per-chunk records gave them; lookups by id; what a loaded
table keeps in memory; and writers that would break the id invariant are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from corpora import ARTICLES, CHUNKING

from qa.indexing.faiss_store import FaissStore
from qa.indexing.manifest import Manifest
from qa.indexing.ray_engine import chunk_from_record, chunk_record
from qa.indexing.table import ArticleTable, ChunkTable, IndexRows, RowReader
from qa.ingest.chunk import Chunker
from qa.ingest.corpus import read_corpus
from qa.types import Article, Chunk

# non-ASCII text and ids: articles.jsonl offsets are bytes, chunk offsets characters
ARTICLES_WITH_ACCENTS = {
    **ARTICLES,
    "zürich.txt": "Café reopens\n\nThe café on Seestraße reopened. Crème brûlée is back. ☕ Queues formed.",
}


@pytest.fixture
def chunked(corpus_dir: Path, counter) -> tuple[list[Article], list[Chunk]]:
    for name, text in ARTICLES_WITH_ACCENTS.items():
        (corpus_dir / name).write_text(text, encoding="utf-8")
    articles = sorted(read_corpus([corpus_dir]).articles, key=lambda a: a.id)
    chunker = Chunker(counter, CHUNKING)
    return articles, [chunk for article in articles for chunk in chunker.chunk(article)]


@pytest.fixture
def saved(chunked, tmp_path: Path) -> Path:
    """The chunked articles as an index on disk (FakeEmbedder vectors)."""
    articles, chunks = chunked
    embedder = FakeEmbedder()
    manifest = Manifest(model=embedder.name, model_fingerprint=embedder.fingerprint, dim=embedder.dim, chunking={})
    texts = {article.id: article.text for article in articles}
    sentences = np.concatenate([embedder.encode([texts[c.article_id][s:e] for s, e in c.sentences]) for c in chunks])
    vectors = embedder.encode([chunk.text for chunk in chunks])
    store = FaissStore.build(manifest, articles, chunks, np.arange(len(chunks)), vectors, sentences)
    store.save(tmp_path / "index")
    return tmp_path / "index"


def test_chunks_built_from_the_loaded_columns_equal_the_chunker_s_and_the_old_records(chunked, saved) -> None:
    articles, chunks = chunked
    store = FaissStore.load(saved)
    by_id = {article.id: article for article in articles}
    old_way = [chunk_from_record(chunk_record(chunk, row), by_id) for row, chunk in enumerate(chunks)]

    assert len(chunks) > len(articles) == 4  # several chunks per article: offsets matter
    assert list(store.chunks) == chunks == old_way
    assert store.chunks[-1] == chunks[-1] and store.chunks[1:3] == chunks[1:3]
    assert store.chunks[len(chunks) - 1].article_id == "zürich.txt"
    with pytest.raises(IndexError):
        store.chunks[len(chunks)]


def test_a_loaded_table_is_arrays_and_ids_only(saved) -> None:
    store = FaissStore.load(saved)
    for name in ("article", "n", "start", "end", "sentence_start", "sentence_spans"):
        assert isinstance(getattr(store.chunks, name), np.memmap), name
    assert isinstance(store.ids, np.ndarray) and store.ids.dtype == np.int64
    assert store.articles.ids == ["chess.md", "harbour.txt", "orchard.txt", "zürich.txt"]
    assert store.chunks.sentence_start[0] == 0
    assert store.chunks.n_sentences == len(store.sentence_matrix)


def test_sentence_rows_follow_the_chunks(chunked, saved) -> None:
    _, chunks = chunked
    store = FaissStore.load(saved)
    first = sum(len(chunk.sentences) for chunk in chunks[:2])
    rows = store.chunks.sentence_rows(2)
    assert rows == (first, first + len(chunks[2].sentences))
    np.testing.assert_array_equal(store.sentence_vectors(chunks[2]), store.sentence_matrix[rows[0] : rows[1]])
    np.testing.assert_array_equal(store.sentence_rows([2, 0]), np.concatenate(
        [store.sentence_matrix[rows[0] : rows[1]], store.sentence_matrix[: len(chunks[0].sentences)]]))


def test_row_of_finds_every_chunk_and_nothing_else(chunked, saved) -> None:
    _, chunks = chunked
    store = FaissStore.load(saved)
    assert [store.chunks.row_of(chunk.id) for chunk in chunks] == list(range(len(chunks)))
    for unknown in ("nowhere.txt#0", "harbour.txt#99", "harbour.txt#x", "harbour.txt", ""):
        assert store.chunks.row_of(unknown) is None, unknown


def test_articles_are_read_on_demand_and_equal_the_corpus(chunked, saved) -> None:
    articles, _ = chunked
    store = FaissStore.load(saved)
    assert store.articles == {article.id: article for article in articles}
    assert list(store.articles) == sorted(a.id for a in articles)
    zurich = store.articles["zürich.txt"]
    assert (zurich.title, zurich.text) == ("Café reopens", ARTICLES_WITH_ACCENTS["zürich.txt"])
    assert store.articles.position("harbour.txt") == 1 and "harbour.txt" in store.articles
    assert "nowhere.txt" not in store.articles and 3 not in store.articles
    assert store.articles.get("nowhere.txt") is None
    with pytest.raises(KeyError):
        store.articles["nowhere.txt"]


def test_a_loaded_store_outlives_its_generation_folder(chunked, saved) -> None:
    """A writer removes the old generation while a reader still serves it: the article file
    stays open, as the memory-mapped arrays stay mapped."""
    _, chunks = chunked
    store = FaissStore.load(saved)
    shutil.rmtree(saved / store.manifest.generation)
    store.articles._read.cache_clear()  # what loading read is read again, from the removed file
    assert list(store.chunks) == chunks


def test_rows_of_ids_that_do_not_grow_with_the_rows() -> None:
    article = Article(id="a", title="A", text="one. two. three.", sha256="0")
    chunks = [Chunk(id=f"a#{n}", article_id="a", n=n, start=0, end=4, text="one.", sentences=((0, 4),))
              for n in range(3)]
    manifest = Manifest(model="m", model_fingerprint="m", dim=2, chunking={})
    rows = IndexRows(manifest, [article], chunks, np.array([7, 3, 10]), np.zeros((3, 2), np.float16))
    np.testing.assert_array_equal(rows.rows_of(np.array([10, 3, 7, 4, -1, 11])), [2, 1, 0, -1, -1, -1])
    np.testing.assert_array_equal(rows.rows_of(np.array([[7], [10]])), [[0], [2]])  # any shape
    growing = IndexRows(manifest, [article], chunks, np.array([0, 1, 5]), np.zeros((3, 2), np.float16))
    np.testing.assert_array_equal(growing.rows_of(np.array([5, 1, 0, 2])), [2, 1, 0, -1])


def test_chunks_that_break_the_id_invariant_are_refused() -> None:
    articles = ArticleTable.of([Article(id="a", title="A", text="one.", sha256="0")])
    chunk = Chunk(id="a#0", article_id="a", n=0, start=0, end=4, text="one.", sentences=((0, 4),))
    assert list(ChunkTable.of([chunk], articles)) == [chunk]
    with pytest.raises(ValueError, match="a chunk's id must be 'a#0'"):
        ChunkTable.of([Chunk(**{**chunk.__dict__, "id": "a#0~copy"})], articles)
    with pytest.raises(ValueError, match="belongs to no article of the index"):
        ChunkTable.of([Chunk(**{**chunk.__dict__, "id": "b#0", "article_id": "b"})], articles)
    with pytest.raises(ValueError, match="two articles with the same id"):
        ArticleTable.of([Article(id="a", title="", text="", sha256="0")] * 2)


def test_row_reader_reads_what_indexing_the_mapped_array_gives(tmp_path: Path) -> None:
    matrix = np.arange(40, dtype=np.float16).reshape(10, 4)
    np.save(tmp_path / "m.npy", matrix, allow_pickle=False)
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r", allow_pickle=False)
    for reader in (RowReader(mapped), RowReader(matrix)):  # pread, and plain indexing in memory
        np.testing.assert_array_equal(reader.span(2, 5), matrix[2:5])
        np.testing.assert_array_equal(reader.span(8, 99), matrix[8:])
        rows = [0, 1, 2, 5, 9, 3]  # runs 0-2, 5, 9, 3
        np.testing.assert_array_equal(reader.take(rows), matrix[rows])
        assert reader.take([]).shape == (0, 4) and reader.span(4, 4).shape == (0, 4)
        assert reader.take(rows).dtype == np.float16
