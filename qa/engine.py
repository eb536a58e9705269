"""Ingestion engines: what turns articles into chunks and their vectors.

The indexer decides *which* articles need it (new or changed ones, by content hash) and keeps
everything else; an engine only does the work. :class:`LocalEngine` runs in this process;
:class:`qa.ray_engine.RayEngine` runs the same chunker and model on a Ray cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from qa.chunk import Chunker, TokenCounter
from qa.config import Settings
from qa.embed import Embedder
from qa.types import Article, Chunk


class Engine(Protocol):
    """Articles in; their chunks (by article id) and one vector per chunk out."""

    def chunk_and_embed(
        self, articles: Sequence[Article], *, progress: bool = False
    ) -> tuple[dict[str, list[Chunk]], np.ndarray]:
        """Chunks of each article, and the vectors of all chunks: the chunks of
        ``articles[0]`` first, each article's in order (L2-normalised float32 rows)."""
        ...


class LocalEngine:
    """Chunking and embedding in this process, with the given embedder."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.chunker = Chunker(TokenCounter(settings.resolved_model_dir()), settings.chunking)
        self.embedder = embedder

    def chunk_and_embed(
        self, articles: Sequence[Article], *, progress: bool = False
    ) -> tuple[dict[str, list[Chunk]], np.ndarray]:
        chunks: dict[str, list[Chunk]] = {}
        texts: list[str] = []
        for article in articles:
            chunks[article.id] = self.chunker.chunk(article)
            texts.extend(self.chunker.embedded(article, chunk) for chunk in chunks[article.id])
        return chunks, self.embedder.encode(texts, progress=progress and len(texts) > 64)
