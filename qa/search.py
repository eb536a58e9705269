"""Answer questions from an index: dense retrieval, then the best sentence of the top passage."""

from __future__ import annotations

import numpy as np

from qa.config import Settings
from qa.embed import Embedder, SentenceTransformerEmbedder
from qa.errors import IndexMismatchError
from qa.store import FaissStore, rebuild_hint
from qa.types import Answer, Hit, Result


class Searcher:
    """Questions in, :class:`Result` out, over one loaded index."""

    def __init__(self, store: FaissStore, embedder: Embedder) -> None:
        if store.manifest.model_fingerprint != embedder.fingerprint:
            raise IndexMismatchError(
                f"the index was built with the model {store.manifest.model!r}"
                f" ({store.manifest.model_fingerprint}), but the model in use is {embedder.name!r}"
                f" ({embedder.fingerprint}): {rebuild_hint(store.directory)}"
            )
        self.store = store
        self.embedder = embedder

    def search(self, question: str, k: int = 5) -> list[Hit]:
        """The k passages nearest to the question."""
        return self.search_vector(self.embedder.encode([question])[0], k)

    def search_vector(self, vector: np.ndarray, k: int) -> list[Hit]:
        scores, rows = self.store.search(vector[None, :], k)
        hits = []
        for score, row in zip(scores[0], rows[0]):
            if row < 0:
                continue
            chunk = self.store.chunks[row]
            title = self.store.articles[chunk.article_id].title
            hits.append(Hit(rank=len(hits) + 1, score=float(score), chunk=chunk, title=title))
        return hits

    def ask(self, question: str, k: int = 5) -> Result:
        """The top k passages and the sentence of the first one that best matches the question."""
        vector = self.embedder.encode([question])[0]
        hits = self.search_vector(vector, k)
        answer = self.best_sentence(vector, hits[0]) if hits else None
        return Result(question=question, answer=answer, hits=tuple(hits), abstained=False)

    def best_sentence(self, question_vector: np.ndarray, hit: Hit) -> Answer:
        chunk = hit.chunk
        article = self.store.articles[chunk.article_id]
        sentences = [article.text[start:end] for start, end in chunk.sentences]
        scores = self.embedder.encode(sentences) @ question_vector
        best = int(np.argmax(scores))
        start, end = chunk.sentences[best]
        return Answer(
            text=sentences[best],
            chunk_id=chunk.id,
            article_id=chunk.article_id,
            start=start,
            end=end,
            score=float(scores[best]),
        )


def open_searcher(settings: Settings, embedder: Embedder | None = None) -> Searcher:
    """Load the index named by the settings, with the settings' model unless one is given."""
    store = FaissStore.load(settings.index_dir)
    if embedder is None:
        embedder = SentenceTransformerEmbedder(settings.resolved_model_dir(), settings.batch_size)
    return Searcher(store, embedder)

