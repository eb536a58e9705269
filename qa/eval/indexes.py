"""The indexes a benchmark is measured on, built into their own directory, and the searcher
over them with an embedder that encodes each text once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.config import Settings
from qa.embed.protocol import Embedder
from qa.errors import ConfigError
from qa.indexing.manifest import MANIFEST, read_manifest
from qa.indexing.protocol import Store
from qa.indexing.stores import open_store
from qa.ingest.corpus import Corpus

if TYPE_CHECKING:
    from qa.search.searcher import Searcher

Notify = Callable[[str], None]
EVAL_HOME = Path(".qa-eval")  # default parent of the indexes built for BEIR and SQuAD


# -- indexes and the searcher ------------------------------------------------------------------


class CachingEmbedder:
    """An embedder that remembers every text it has encoded. An evaluation asks each question
    in several modes and ranks the same sentences again and again; this encodes each once."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.fingerprint = inner.fingerprint
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def backend(self) -> str:
        return self.inner.backend

    @property
    def base_fingerprint(self) -> str:
        return self.inner.base_fingerprint

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.inner.encode(missing, progress=progress)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[text] for text in texts])

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], *, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Not remembered: an evaluation embeds no corpus through it (the index is built first)."""
        return self.inner.encode_spans(texts, spans, progress=progress)


def prime(searcher: Searcher, queries: Sequence[str], progress: bool = False) -> None:
    """Encode all the queries in one batch before searching: one text at a time costs a few
    hundred ms each on a small CPU, a batch a few tens of ms per text. Only for a searcher
    whose embedder is a :class:`CachingEmbedder`; ``queries`` must be the texts the searcher
    will encode (``qa.text.conversation.contextualize`` of each question)."""
    if isinstance(searcher.embedder, CachingEmbedder):
        searcher.embedder.encode(list(dict.fromkeys(queries)), progress=progress and len(queries) > 64)


def default_embedder(settings: Settings) -> Embedder:
    from qa.embed.backends import make_embedder

    return make_embedder(settings)


def make_searcher(store: Store, settings: Settings, embedder: Embedder) -> Searcher:
    from qa.search.reader import reader_for
    from qa.search.searcher import Searcher

    return Searcher(store, CachingEmbedder(embedder), settings.search, reader=reader_for(settings))


def default_index_dir(dataset: Path) -> Path:
    """Where a benchmark is indexed unless --index-dir says otherwise: .qa-eval/<name>."""
    name = Path(dataset).resolve().name
    for suffix in (".zip", ".gz", ".json", ".jsonl"):
        name = name.removesuffix(suffix)
    return EVAL_HOME / name


def index_benchmark(
    settings: Settings, corpus: Corpus, source: Path, embedder: Embedder, *, progress: bool, notify: Notify
) -> Store:
    """Bring ``settings.index_dir`` up to date with a benchmark corpus read from ``source`` and
    load it. Refuses a directory that holds the index of another corpus, so a news index is never
    overwritten by a benchmark."""
    from qa.indexing.indexer import update_index

    source = Path(source).resolve()
    index_dir = Path(settings.index_dir)
    if (index_dir / MANIFEST).is_file():
        indexed = read_manifest(index_dir).corpus
        if indexed != [str(source)]:
            raise ConfigError(
                f"{index_dir} holds an index of {', '.join(indexed) or 'another corpus'}, not of {source}:"
                " give another --index-dir (or delete that directory)"
            )
    notify(
        f"Indexing {source} ({len(corpus.articles)} documents) into {index_dir}: only what is new or changed"
    )
    report = update_index(settings.with_(corpus=(source,)), embedder, progress=progress, corpus=corpus)
    notify(
        f"{'Indexed' if report.written else 'Up to date:'} {report.n_articles} documents in {report.n_chunks}"
        f" chunks ({report.embedded} embedded, {report.seconds:.1f} s)"
    )
    return open_store(index_dir)


def index_summary(store: Store) -> dict[str, Any]:
    manifest = store.manifest
    return {
        "directory": str(store.directory),
        "articles": manifest.n_articles,
        "chunks": manifest.n_chunks,
        "model": manifest.model,
        "chunking": manifest.chunking,
        "corpus": manifest.corpus,
        "built_at": manifest.built_at,
        "generation": manifest.generation,
    }
