"""Indexes of any size for `qa bench`'s latency runs: the first N chunks of a real index, or, beyond
its size, perturbed copies of it (copy c of chunk i: chunk i's text as a new article, its vector
plus seeded Gaussian noise, re-normalised; the BM25 index that of the copied texts). Written
block by block, so that 1M vectors never sit in memory twice. An article without a date or source
gets made-up ones (:func:`with_bench_metadata`: one of 100 outlets, a day of 2023-2024), so that a
filter keeping 1 % of the index exists at every size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from qa.embed.protocol import l2_normalize
from qa.indexing.keyword import tiled_bm25

NOISE = 0.02  # per-dimension noise of a perturbed copy: ~0.4 in norm, cosine ~0.93 to its source
BENCH_OUTLETS = 100  # made-up sources "Outlet 00" .. "Outlet 99": one of them is ~1 % of the articles


def with_bench_metadata(article):
    """The article with a made-up source and date where it has none, from a hash of its id
    (stable from run to run): one of :data:`BENCH_OUTLETS` outlets, a day of 2023-2024."""
    import datetime
    import zlib

    if article.date and article.source:
        return article
    h = zlib.crc32(article.id.encode("utf-8"))
    day = datetime.date(2023, 1, 1) + datetime.timedelta(days=(h // BENCH_OUTLETS) % 731)
    return replace(article, source=article.source or f"Outlet {h % BENCH_OUTLETS:02d}",
                   date=article.date or day.isoformat())


def write_subset(base, size: int, target: Path) -> None:
    """The first ``size`` chunks of the base index (real texts and vectors), as an index."""
    from qa.indexing.faiss_store import FaissStore

    chunks = base.chunks[:size]
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk.article_id] = counts.get(chunk.article_id, 0) + 1
    articles = [with_bench_metadata(base.articles[article_id]) for article_id in sorted(counts)]
    # the manifest lists the articles as that of a real index would (its size is part of what is measured)
    entries = {
        article_id: {**base.manifest.articles.get(article_id, {}), "n_chunks": n} for article_id, n in counts.items()
    }
    manifest = replace(base.manifest, articles=entries, files={})
    sentences = base.sentence_rows(list(range(size)))
    store = FaissStore.build(manifest, articles, chunks, base.ids[:size], base.vectors()[:size], sentences)
    store.save(target)


def write_copies(base, size: int, target: Path) -> None:
    """An index of ``size`` chunks: the base's chunks, then perturbed copies of them (see the
    module docstring), written block by block so that 1M vectors never sit in memory twice.
    The chunk table is the base's columns, repeated, pointing at the copied articles: no
    ``Chunk`` object is made."""
    from qa.indexing.faiss_store import FaissStore
    from qa.indexing.keyword import KeywordIndex
    from qa.indexing.table import ArticleTable, ChunkTable

    m = len(base)
    copies = -(-size // m)
    rows = [min(m, size - c * m) for c in range(copies)]  # chunks of each copy (the last may be partial)
    table = base.chunks
    source = base.vectors()
    originals = [base.articles.at(i) for i in range(len(base.articles))]
    counts = [np.bincount(np.asarray(table.article[:n]), minlength=len(originals)) for n in rows]

    def name(i: int, c: int) -> str:
        return originals[i].id if c == 0 else f"{originals[i].id}~{c}"

    articles = ArticleTable.of(
        with_bench_metadata(replace(originals[i], id=name(i, c)))
        for c in range(copies) for i in np.flatnonzero(counts[c]).tolist()
    )
    position = np.full((copies, len(originals)), -1, dtype=np.int32)
    for c in range(copies):
        for i in np.flatnonzero(counts[c]).tolist():
            position[c, i] = articles.position(name(i, c))
    per_chunk = np.diff(np.asarray(table.sentence_start))
    columns = {
        "article": np.concatenate([position[c][np.asarray(table.article[:n])] for c, n in enumerate(rows)]),
        "n": np.concatenate([table.n[:n] for n in rows]),
        "start": np.concatenate([table.start[:n] for n in rows]),
        "end": np.concatenate([table.end[:n] for n in rows]),
        "sentence_start": np.concatenate([[0], np.cumsum(np.concatenate([per_chunk[:n] for n in rows]))]),
        "sentence_spans": np.concatenate([table.sentence_spans[: table.sentence_start[n]] for n in rows]),
    }
    chunks = ChunkTable(articles, columns)
    scratch = target.parent / (target.name + ".vectors.npy")
    vectors = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32, shape=(size, base.dim))
    rng = np.random.default_rng(0)
    for c, n in enumerate(rows):
        block = source[:n].copy()
        if c:
            block = l2_normalize(block + rng.standard_normal(block.shape, dtype=np.float32) * NOISE)
        vectors[c * m : c * m + n] = block
    vectors.flush()
    # sentence vectors: copy c's are chunk i's own (float16, as stored), also block by block
    sentence_scratch = target.parent / (target.name + ".sentences.npy")
    sentences = np.lib.format.open_memmap(sentence_scratch, mode="w+", dtype=np.float16,
                                          shape=(chunks.n_sentences, base.dim))
    cursor = 0
    for n in rows:
        block = np.asarray(base.sentence_matrix[: int(table.sentence_start[n])])
        sentences[cursor : cursor + len(block)] = block
        cursor += len(block)
    sentences.flush()
    keyword = KeywordIndex(tiled_bm25(base.keyword.retriever, m, size), size)
    entries = {
        name(i, c): {**base.manifest.articles.get(originals[i].id, {}), "n_chunks": int(counts[c][i])}
        for c in range(copies) for i in np.flatnonzero(counts[c]).tolist()
    }  # as a real index's manifest would list them (loading it is part of what is measured)
    manifest = replace(base.manifest, articles=entries, files={})
    store = FaissStore.build(manifest, articles, chunks, np.arange(size, dtype=np.int64), vectors, sentences,
                             keyword=keyword)
    store.save(target)
    del store, vectors, sentences
    scratch.unlink()
    sentence_scratch.unlink()
