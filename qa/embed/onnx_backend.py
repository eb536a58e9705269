"""all-MiniLM-L6-v2 on ONNX Runtime, fp32 or int8: the default backend (docs/BENCHMARKS.md).

Why: on a small CPU embedding is nearly all of ingestion, and the query path should not pay
for ``import sentence_transformers``. This backend needs only ``onnxruntime``, ``tokenizers``
and numpy at run time; the model is exported once (qa.embed.export).

Pipeline, identical to sentence-transformers' for this model (modules.json: Transformer ->
Pooling(mean) -> Normalize): the model's own tokenizer, truncated to ``max_seq_length`` (256),
the transformer's last hidden state, the mean over the tokens the attention mask keeps ([CLS]
and [SEP] included), L2 normalisation.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from qa.embed.export import cpu_count, ensure_onnx_model
from qa.embed.model import model_window
from qa.embed.protocol import l2_normalize


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session: texts to token embeddings, pooled as the model says."""

    def __init__(
        self, model_dir: Path, model_path: Path, *, batch_size: int = 32, threads: int = 1, workers: int = 1
    ) -> None:
        """``threads``: ONNX Runtime intra-op threads of one run. One, and one run per core at a
        time (``workers``), wastes least (docs/BENCHMARKS.md, "Figures behind the code").

        Every run happens on the encoder's own ``workers`` threads (``qa-onnx_N``, started on
        first use and kept), whichever thread asks: a question starts no threads of its own
        (each made a pool of new ones before), and however many questions arrive at once, at
        most ``workers`` runs are in the session (docs/RELIABILITY.md, "Load")."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.max_tokens = model_window(model_dir)
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json pads and truncates to 128; sentence-transformers reads 256 and pads
        # each batch to its longest text: do the same (padding is ours, per batch)
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The threads every run happens on (made on first use, then kept)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="qa-onnx")
            return self._pool

    def close(self) -> None:
        """Stop the encoder's threads (a later run starts them again)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], list]]:
        """(positions, encodings) in batches of texts of similar length, longest first, so
        padding is minimal (the same order sentence-transformers uses)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: (-len(encodings[i].ids), i))
        for first in range(0, len(order), self.batch_size):
            positions = order[first : first + self.batch_size]
            yield positions, [encodings[i] for i in positions]

    def runs(self, texts: Sequence[str]) -> Iterator[tuple[list[int], list, np.ndarray, np.ndarray]]:
        """(positions, encodings, hidden, mask) of every batch, in :meth:`batches` order, each
        run on the encoder's threads, up to ``workers`` at once (ONNX Runtime runs
        concurrently and releases the GIL). At most 2 x workers results wait, so memory
        stays bounded."""
        pool = self.pool
        pending: deque = deque()
        try:
            for positions, encodings in self.batches(texts):
                pending.append((positions, encodings, pool.submit(self.token_embeddings, encodings)))
                if len(pending) >= 2 * self.workers:
                    positions, encodings, future = pending.popleft()
                    yield (positions, encodings, *future.result())
            while pending:
                positions, encodings, future = pending.popleft()
                yield (positions, encodings, *future.result())
        finally:
            for _, _, future in pending:  # the caller stopped early (an error, a closed generator)
                future.cancel()

    def token_embeddings(self, encodings: list) -> tuple[np.ndarray, np.ndarray]:
        """(last hidden state, attention mask) of a batch, padded to its longest text."""
        length = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return hidden, mask


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the kept tokens' embeddings, L2-normalised (sentence-transformers' Pooling with
    pooling_mode_mean_tokens, then Normalize)."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    return l2_normalize(pooled)


class OnnxEmbedder:
    """The :class:`qa.embed.protocol.Embedder` protocol on ONNX Runtime, fp32 or int8.

    fp32 gives sentence-transformers' vectors up to float rounding, so it shares the torch
    backend's fingerprint: an index built with either can be queried with the other. int8
    vectors differ slightly, so its fingerprint differs and an index is always queried with the
    backend that built it (the agreement: docs/BENCHMARKS.md, "Embedding backends").
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        quantized: bool,
        cache_dir: Path,
        batch_size: int = 32,
        threads: int = 1,
        workers: int | None = None,
    ) -> None:
        """``threads`` intra-op threads per run and ``workers`` concurrent runs (default: one
        per core; see :class:`OnnxEncoder`)."""
        from qa.embed.model import model_dim, model_fingerprint, model_name

        self.model_dir = Path(model_dir)
        self.quantized = quantized
        self.backend = "onnx-int8" if quantized else "onnx"
        self.cache_dir = Path(cache_dir)
        self.batch_size = batch_size
        self.threads = threads
        self.workers = workers or cpu_count()
        base = model_fingerprint(self.model_dir)
        self.base_fingerprint = base
        self.fingerprint = f"{base}-int8" if quantized else base
        self.name = f"{model_name(self.model_dir)} ({self.backend})"
        self.max_tokens = model_window(self.model_dir)
        self._dim = model_dim(self.model_dir)
        self._encoder: OnnxEncoder | None = None
        self._loading = threading.Lock()  # two first questions at once load the model once

    @property
    def encoder(self) -> OnnxEncoder:
        """Exports (first use only) and loads the model on first need."""
        with self._loading:
            if self._encoder is None:
                path = self.model_file()
                # Dynamic int8 quantisation scales a run's activations by the range of the whole
                # run (DynamicQuantizeLinear), so a text batched with others would get a vector
                # that depends on them: a Ray batch, an incremental run or a fresh build would
                # disagree. int8 runs each text alone, which is as fast here
                # (docs/BENCHMARKS.md, "Figures behind the code"); fp32 keeps its batches.
                batch_size = 1 if self.quantized else self.batch_size
                self._encoder = OnnxEncoder(
                    self.model_dir, path, batch_size=batch_size, threads=self.threads, workers=self.workers
                )
        return self._encoder

    def model_file(self) -> Path:
        """The ONNX file this embedder runs: the cached export, made on first use."""
        return ensure_onnx_model(self.model_dir, self.cache_dir, self.base_fingerprint, quantized=self.quantized)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(["dimension"]).shape[1])
        return self._dim

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """One L2-normalised float32 row per text, in the order given."""
        vectors, _ = self._run(texts, None, progress)
        return vectors

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], *, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``encode(texts)``, plus for each text one L2-normalised vector per character span
        ``(start, end)`` of it: the mean of the final-layer token embeddings inside the span
        ("late chunking", :func:`qa.embed.protocol.pool_spans`, as the torch backend does)."""
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} lists of spans")
        vectors, per_text = self._run(texts, spans, progress)
        return vectors, per_text

    def _run(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]] | None, progress: bool
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        from qa.embed.protocol import pool_spans

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        encoder = self.encoder
        vectors = np.zeros((len(texts), 0), dtype=np.float32)
        per_text: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(texts) if spans is not None else []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="text")
        for positions, encodings, hidden, mask in encoder.runs(texts):
            pooled = mean_pool(hidden, mask)
            if vectors.shape[1] == 0:
                vectors = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            vectors[positions] = pooled
            if spans is not None:
                for row, (position, encoding) in enumerate(zip(positions, encodings)):
                    tokens = hidden[row, : len(encoding.ids)]  # without the batch's padding
                    per_text[position] = pool_spans(tokens, encoding.offsets, spans[position])
            if bar is not None:
                bar.update(len(positions))
        if bar is not None:
            bar.close()
        return vectors, per_text
