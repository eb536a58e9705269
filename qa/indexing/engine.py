"""Ingestion engines: what turns corpus files into articles, and articles into chunks and their
vectors.

The indexer decides *which* articles need chunking and embedding (new or changed ones, by
content hash) and keeps everything else; an engine only does the work. :class:`LocalEngine`
runs in this process; :class:`qa.indexing.ray_engine.RayEngine` runs the same parsers, chunker and model
on a Ray cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.config import IngestLimits, Settings
from qa.embed.protocol import Embedder, Span
from qa.ingest.chunk import Chunker, TokenCounter
from qa.ingest.corpus import Corpus, read_corpus
from qa.types import Article, Chunk

Sentences = list[np.ndarray]  # per chunk: one L2-normalised row per sentence of it (qa.embed.protocol.pool_spans)


class Engine(Protocol):
    """Corpus folders in, articles out (:func:`qa.ingest.corpus.read_corpus`'s outcome); then articles in,
    their chunks (by article id), one vector per chunk and the vectors of each chunk's sentences
    out."""

    def read_corpus(
        self, roots: Iterable[Path], limits: IngestLimits, *, progress: bool = False,
        owners: Mapping[str, str] | None = None,
    ) -> Corpus:
        """The articles under the roots and the files skipped, exactly as
        :func:`qa.ingest.corpus.read_corpus` gives them (``owners``: the indexed ids' files)."""
        ...

    def chunk_and_embed(
        self, articles: Sequence[Article], *, progress: bool = False
    ) -> tuple[dict[str, list[Chunk]], np.ndarray, Sentences]:
        """Chunks of each article, and the vectors of all chunks and of their sentences: the
        chunks of ``articles[0]`` first, each article's in order."""
        ...


def embedded_texts(chunker: Chunker, article: Article, chunks: Sequence[Chunk]) -> tuple[list[str], list[list[Span]]]:
    """What is embedded for each chunk, and its sentences as offsets in that text."""
    texts, spans = [], []
    for chunk in chunks:
        texts.append(chunker.embedded(article, chunk))
        shift = len(texts[-1]) - len(chunk.text) - chunk.start  # the title prefix
        spans.append([(start + shift, end + shift) for start, end in chunk.sentences])
    return texts, spans


class LocalEngine:
    """Parsing, chunking and embedding in this process, with the given embedder."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.chunker = Chunker(TokenCounter(settings.resolved_model_dir()), settings.chunking)
        self.embedder = embedder

    def read_corpus(
        self, roots: Iterable[Path], limits: IngestLimits, *, progress: bool = False,
        owners: Mapping[str, str] | None = None,
    ) -> Corpus:
        return read_corpus(roots, limits, owners)

    def chunk_and_embed(
        self, articles: Sequence[Article], *, progress: bool = False
    ) -> tuple[dict[str, list[Chunk]], np.ndarray, Sentences]:
        chunks: dict[str, list[Chunk]] = {}
        texts: list[str] = []
        spans: list[list[Span]] = []
        for article in articles:
            chunks[article.id] = self.chunker.chunk(article)
            article_texts, article_spans = embedded_texts(self.chunker, article, chunks[article.id])
            texts += article_texts
            spans += article_spans
        vectors, sentences = self.embedder.encode_spans(texts, spans, progress=progress and len(texts) > 64)
        return chunks, vectors, sentences
