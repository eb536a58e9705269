"""Build or refresh an index from the corpus, embedding only what is new or changed.

Unchanged articles keep their chunks, FAISS ids and stored vectors; changed and new articles
are chunked and embedded; articles no longer in the corpus are dropped. The result equals a
full rebuild (same chunks, same vectors up to float rounding), which the tests check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.embed.protocol import Embedder
from qa.errors import IndexMismatchError, IndexMissingError, QAError
from qa.indexing.engine import Engine, LocalEngine
from qa.indexing.faults import checkpoint
from qa.indexing.generations import remove_stale_generations, write_lock
from qa.indexing.manifest import Manifest, read_manifest
from qa.indexing.protocol import Store, StoreUpdate
from qa.indexing.stores import open_store, parse_store, write_store
from qa.ingest.corpus import Corpus, read_corpus
from qa.ingest.owners import owners_of
from qa.types import Article, Chunk, Rejected


@dataclass
class CorpusDiff:
    """How the corpus differs from what an index holds (by article id and content hash)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


@dataclass
class IndexReport:
    """What `qa index` did."""

    diff: CorpusDiff
    rejected: list[Rejected]
    n_articles: int
    n_chunks: int
    embedded: int  # chunks embedded in this run
    seconds: float
    written: bool  # False when the index was already up to date
    rebuild_reason: str | None = None
    warnings: list[Rejected] = field(default_factory=list)  # kept, but something was wrong (a date)


def diff_corpus(articles: list[Article], indexed: dict[str, dict]) -> CorpusDiff:
    diff = CorpusDiff()
    current = {article.id: article for article in articles}
    for article_id, article in current.items():
        if article_id not in indexed:
            diff.added.append(article_id)
        elif indexed[article_id].get("sha256") != article.sha256:
            diff.changed.append(article_id)
        else:
            diff.unchanged.append(article_id)
    diff.removed = sorted(set(indexed) - set(current))
    return diff


def corpus_status(settings: Settings) -> tuple[Manifest, CorpusDiff, list[Rejected]]:
    """The index's manifest and how the corpus it was built from has changed since."""
    manifest = read_manifest(settings.index_dir)
    roots = [Path(root) for root in manifest.corpus] or list(settings.corpus)
    corpus = read_corpus(roots, settings.limits, owners_of(manifest.articles))
    return manifest, diff_corpus(corpus.articles, manifest.articles), corpus.rejected


def incompatibility(manifest: Manifest, embedder: Embedder, settings: Settings) -> str | None:
    """Why an existing index's vectors cannot be reused with these settings, if they cannot."""
    if manifest.model_fingerprint != embedder.fingerprint:
        return f"the model changed (index: {manifest.model}, now: {embedder.name})"
    if manifest.dim != embedder.dim:
        return f"the vector dimension changed ({manifest.dim} -> {embedder.dim})"
    if manifest.chunking != settings.chunking.to_json():
        return f"the chunking settings changed ({manifest.chunking} -> {settings.chunking.to_json()})"
    return None


def update_index(
    settings: Settings,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    progress: bool = False,
    corpus: Corpus | None = None,
    engine: Engine | None = None,
) -> IndexReport:
    """Bring the index in ``settings.index_dir`` up to date with ``settings.corpus``.

    ``engine`` reads the corpus, then chunks and embeds the new and changed articles (default:
    in this process); ``settings.store`` moves the index to another store (None keeps the one it is in),
    reusing the vectors it has."""
    started = time.perf_counter()
    with write_lock(settings.index_dir):
        checkpoint("locked")
        try:
            current: Manifest | None = read_manifest(settings.index_dir)
        except QAError:  # no usable manifest: keep every generation, and the index is new
            current = None
        if current is not None:  # what killed writes left
            remove_stale_generations(settings.index_dir, keep=current.generation)
        owners = owners_of(current.articles) if current else {}  # an indexed article keeps its id
        if corpus is None and engine is not None:  # it parses where it runs (Ray: on the cluster)
            corpus = engine.read_corpus(settings.corpus, settings.limits, progress=progress, owners=owners)
        elif corpus is None:
            corpus = read_corpus(settings.corpus, settings.limits, owners)
        previous, reason = None, "requested with --rebuild" if rebuild else None
        if not rebuild:
            try:
                previous = open_store(settings.index_dir)
                reason = incompatibility(previous.manifest, embedder, settings)
            except IndexMissingError:
                reason = None
            except IndexMismatchError as error:
                reason = f"the existing index cannot be used ({error.reason})"  # no advice to rebuild: it does
            if reason:
                previous = None
        indexed = previous.manifest.articles if previous else {}
        diff = diff_corpus(corpus.articles, indexed)
        roots = [str(root) for root in settings.corpus]
        checkpoint("read")
        where = parse_store(settings.store) if settings.store is not None else None
        if where is None:
            where = previous.manifest.store if previous else {}
        if (
            previous is not None
            and diff.empty
            and previous.manifest.corpus == roots
            and previous.manifest.store == where
        ):
            return IndexReport(
                diff, corpus.rejected, len(previous.articles), len(previous), 0,
                time.perf_counter() - started, written=False, warnings=corpus.warnings,
            )

        engine = engine or LocalEngine(settings, embedder)
        articles = sorted(corpus.articles, key=lambda a: a.id)  # the row order of the store
        fresh = {article.id for article in articles} - set(diff.unchanged)
        new_chunks, new_vectors, new_sentences = engine.chunk_and_embed(
            [article for article in articles if article.id in fresh], progress=progress
        )
        checkpoint("embedded")

        next_id = previous.manifest.next_id if previous else 0
        entries: dict[str, dict[str, object]] = {}
        old_rows = _rows_by_article(previous) if previous else {}
        chunks: list[Chunk] = []
        ids: list[int] = []
        is_fresh: list[bool] = []
        kept_rows: list[int] = []
        for article in articles:
            if article.id in fresh:
                article_chunks = new_chunks[article.id]
                ids.extend(range(next_id, next_id + len(article_chunks)))
                next_id += len(article_chunks)
            else:
                assert previous is not None  # an article that is not fresh is in the previous index
                assert previous is not None  # an article that is not fresh is in the previous index
                rows = old_rows[article.id]
                article_chunks = [previous.chunks[row] for row in rows]
                ids.extend(int(previous.ids[row]) for row in rows)
                kept_rows.extend(rows)
            is_fresh.extend([article.id in fresh] * len(article_chunks))
            chunks.extend(article_chunks)
            entries[article.id] = {
                "sha256": article.sha256,
                "n_chunks": len(article_chunks),
                "path": article.path,
            }
        manifest = Manifest(  # the one place a manifest is made; the store adds where it wrote
            model=embedder.name,
            model_fingerprint=embedder.fingerprint,
            backend=embedder.backend,
            dim=embedder.dim,
            chunking=settings.chunking.to_json(),
            corpus=roots,
            next_id=next_id,
            articles=entries,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 3),
            store=where,
        )
        update = StoreUpdate(
            manifest, articles, chunks, np.array(ids, dtype=np.int64), np.array(is_fresh, dtype=bool),
            new_vectors, new_sentences, np.array(kept_rows, dtype=np.int64),
        )
        checkpoint("built")
        store = write_store(settings.index_dir, update, previous)
        return IndexReport(
            diff, corpus.rejected, len(store.articles), len(store), len(new_vectors),
            time.perf_counter() - started, written=True, rebuild_reason=reason, warnings=corpus.warnings,
        )


def _rows_by_article(store: Store) -> dict[str, list[int]]:
    """The rows of each article's chunks, from the chunk table's article column (no chunk is built)."""
    rows: dict[str, list[int]] = {}
    ids = store.articles.ids
    for row, position in enumerate(np.asarray(store.chunks.article).tolist()):
        rows.setdefault(ids[position], []).append(row)
    return rows
