"""What the index and the search need from a model (:class:`Embedder`), and the vector
arithmetic every backend shares: late-chunking span pooling and L2 normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

Span = tuple[int, int]  # character offsets [start, end) within a text


class Embedder(Protocol):
    """What the index and the search need from a model. ``fingerprint`` and ``backend`` go into
    the manifest, so an index is only ever queried with vectors like its own; the Ray engine
    rebuilds the same embedder in its actors from ``backend`` and ``base_fingerprint``."""

    # read-only (properties), so an embedder may compute them
    @property
    def name(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def fingerprint(self) -> str:
        """The vectors' identity: the model's files, and "-int8" when quantised."""
        ...
    @property
    def backend(self) -> str:
        """One of qa.config.BACKENDS ("" for an embedder from outside qa, e.g. a test's)."""
        ...
    @property
    def base_fingerprint(self) -> str:
        """The model directory's fingerprint, whatever the backend."""
        ...

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], *, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """What ``encode`` gives, and for each text one L2-normalised row per character span
        of it: the mean of the span's contextual token embeddings (see :func:`pool_spans`)."""
        ...


def pool_spans(token_embeddings: np.ndarray, offsets: Sequence[Span], spans: Sequence[Span]) -> np.ndarray:
    """One L2-normalised vector per character span: the mean of the final-layer embeddings of
    the tokens that start inside it ("late chunking"). The tokens were read with the whole
    passage around them, so a sentence vector knows its context ("he" is the general), and it
    costs no forward pass beyond the passage's own. A span with no token (cut off, or empty)
    gets the mean of all the text's tokens."""
    pairs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    n = min(len(pairs), len(token_embeddings))
    starts, ends = pairs[:n, 0], pairs[:n, 1]
    real = ends > starts  # special tokens have empty offsets
    tokens = np.asarray(token_embeddings[:n], dtype=np.float32)
    whole = tokens[real].mean(axis=0) if real.any() else tokens.mean(axis=0)
    pooled = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for i, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (starts < end)
        pooled[i] = tokens[inside].mean(axis=0) if inside.any() else whole
    return l2_normalize(pooled)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero), as float32: inner product is then
    cosine, which the FAISS index, fusion and sentence scoring all assume."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)
