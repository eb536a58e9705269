"""all-MiniLM-L6-v2 on ONNX Runtime: exported locally from the shipped weights, optionally int8.

Why: on a 2-core CPU embedding is nearly all of ingestion, and the query path should not pay
13 s of ``import sentence_transformers``. This backend needs only ``onnxruntime``,
``tokenizers`` and numpy at run time. torch and transformers are imported once, to export the
model the first time it is needed; the result is cached.

Pipeline, identical to sentence-transformers' for this model (modules.json: Transformer ->
Pooling(mean) -> Normalize): the model's own tokenizer, truncated to ``max_seq_length`` (256),
the transformer's last hidden state, the mean over the tokens the attention mask keeps ([CLS]
and [SEP] included), L2 normalisation.

Cache layout (``QA_CACHE_DIR``, default ``~/.cache/qa``)::

    onnx/<model fingerprint>-v<EXPORT_VERSION>/
      model-fp32.onnx      torch.onnx.export of the transformer (last_hidden_state)
      model-int8.onnx      the same, MatMul weights quantised to int8 (dynamic, per channel)

Each file is written to a temporary name and renamed into place, so a crash or a concurrent
export never leaves a half-written model where a reader looks.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunk import model_window
from qa.errors import ConfigError

EXPORT_VERSION = 1  # bump when the export or quantisation recipe changes: old caches are ignored
OPSET = 17
# Dynamic int8 of the MatMul weights, one scale per output channel, 7-bit range. Measured
# (docs/BENCHMARKS.md): per-tensor scales drift too far from fp32 (mean cosine ~0.94);
# quantising the embedding Gather as well costs agreement and gains no speed.
QUANTIZE_OPTIONS: dict[str, Any] = {"per_channel": True, "reduce_range": True, "op_types": ("MatMul",)}


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def export_dir(cache_dir: Path, fingerprint: str) -> Path:
    return Path(cache_dir) / "onnx" / f"{fingerprint}-v{EXPORT_VERSION}"


def ensure_onnx_model(model_dir: Path, cache_dir: Path, fingerprint: str, *, quantized: bool) -> Path:
    """The path of the exported (and, if asked, quantised) model; made on first use."""
    folder = export_dir(cache_dir, fingerprint)
    fp32 = made_once(folder / "model-fp32.onnx", lambda temporary: export_onnx(model_dir, temporary))
    if not quantized:
        return fp32
    return made_once(folder / "model-int8.onnx", lambda temporary: quantize(fp32, temporary, **QUANTIZE_OPTIONS))


def made_once(target: Path, make: Callable[[Path], None]) -> Path:
    """``target``; the first time, ``make`` writes it to a temporary file beside it, which is
    then published atomically, so a crash never leaves a half-written file at ``target``."""
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with temporary_path(target.parent, target.suffix) as temporary:
            make(temporary)
            publish(temporary, target)
    return target


class temporary_path:
    """A temporary file name in ``folder`` (same file system, so ``os.replace`` is atomic),
    removed on the way out unless it was renamed."""

    def __init__(self, folder: Path, suffix: str) -> None:
        self.folder, self.suffix = folder, suffix

    def __enter__(self) -> Path:
        descriptor, name = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=self.suffix)
        os.close(descriptor)
        self.path = Path(name)
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def publish(temporary: Path, target: Path) -> None:
    """Rename a finished file into place (atomic), readable by all like any cache file."""
    temporary.chmod(0o644)
    os.replace(temporary, target)


def load_for_export(model_dir: Path, hint: str = "install them") -> tuple[Any, Any]:
    """(torch, the model of ``model_dir`` in eval mode) for an ONNX export; ConfigError, with
    ``hint``, when torch or transformers is missing. Eager attention: a plain MatMul/Softmax
    graph that ONNX Runtime fuses, with the mask always applied (SDPA's tracing shortcuts can
    drop a mask that was all ones when traced)."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as error:  # pragma: no cover - torch comes with sentence-transformers
        raise ConfigError(f"exporting the model to ONNX needs torch and transformers ({error}); {hint}") from error

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
    model.eval()
    return torch, model


def example_batch(torch):
    """(input_ids, attention_mask): two texts of 16 tokens, the second padded after 9, so that
    tracing sees the masked case."""
    ids = torch.full((2, 16), 1000, dtype=torch.int64)
    mask = torch.ones((2, 16), dtype=torch.int64)
    mask[1, 9:] = 0
    return ids, mask


def trace(module, inputs: dict, output: str, output_axes: dict[int, str], target: Path) -> None:
    """Export ``module`` called on ``inputs`` (name -> batch x sequence int64 tensor, both axes
    dynamic) to ONNX at ``target``, with one output named ``output``."""
    import torch

    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about constant Python values: checked by tests
        # The TorchScript exporter (dynamo=False): the dynamo one needs onnxscript and gives
        # the same graph for this model, slower.
        torch.onnx.export(
            module, tuple(inputs.values()), str(target),
            input_names=list(inputs), output_names=[output],
            dynamic_axes={**{name: axes for name in inputs}, output: output_axes},
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )


def export_onnx(model_dir: Path, target: Path) -> None:
    """Export the transformer of a sentence-transformers model directory to ONNX.

    Inputs ``input_ids`` and ``attention_mask`` (int64, batch x sequence, both dynamic);
    output ``last_hidden_state``. token_type_ids are all zero for one-segment input, so they
    are made inside the graph rather than fed.
    """
    _, model = load_for_export(model_dir, "install them, or use QA_BACKEND=torch")
    import torch  # there: load_for_export has checked (imported here, so the type checker sees the module)

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state

    ids, mask = example_batch(torch)
    trace(
        LastHiddenState(model), {"input_ids": ids, "attention_mask": mask}, "last_hidden_state",
        {0: "batch", 1: "sequence"}, target,
    )


def fuse(source: Path, target: Path, model_dir: Path) -> None:
    """ONNX Runtime's transformer optimiser: embedding + LayerNorm, attention, bias + GELU and
    skip + LayerNorm each become one fused operator. Done offline because the runtime's own
    fusions no longer match once MatMuls are quantised."""
    import json

    from onnxruntime.transformers import optimizer

    config = json.loads((Path(model_dir) / "config.json").read_text())
    model = optimizer.optimize_model(
        str(source), model_type="bert", num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]), opt_level=1,
    )
    model.save_model_to_file(str(target))


def quantize(
    source: Path, target: Path, *, per_channel: bool, reduce_range: bool, op_types: Sequence[str] | None
) -> None:
    """Dynamic int8 quantisation of ``source`` into ``target`` (weights int8, activations
    quantised at run time)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source), str(target), weight_type=QuantType.QInt8, per_channel=per_channel,
        reduce_range=reduce_range, op_types_to_quantize=list(op_types) if op_types else None,
        # shape inference cannot type the outputs of fused (com.microsoft) operators
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session: texts to token embeddings, pooled as the model says."""

    def __init__(
        self, model_dir: Path, model_path: Path, *, batch_size: int = 32, threads: int = 1, workers: int = 1
    ) -> None:
        """``threads``: ONNX Runtime intra-op threads of one run. One, and one run per core at a
        time (``workers``), wastes least: measured on 2 cores, int8, 192 BBC passages, two
        intra-op threads cost 18.7 ms of CPU per passage for the throughput one thread gives
        at 11.5 ms, and two concurrent one-thread runs give 1.6x that throughput.

        Every run happens on the encoder's own ``workers`` threads (``qa-onnx_N``, started on
        first use and kept), whichever thread asks: a question starts no threads of its own
        (each made a pool of new ones before), and however many questions arrive at once, at
        most ``workers`` runs are in the session (docs/RELIABILITY.md, "Load")."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.max_tokens = model_window(model_dir)
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)
        self.length_sorted = True  # False only to measure what sorting buys
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
        order = list(range(len(texts)))
        if self.length_sorted:
            order.sort(key=lambda i: (-len(encodings[i].ids), i))
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
    return normalize(pooled)


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


class OnnxEmbedder:
    """The :class:`qa.embed.Embedder` protocol on ONNX Runtime, fp32 or int8.

    fp32 gives sentence-transformers' vectors up to float rounding (measured max |cos - 1| <
    1e-6), so it shares the torch backend's fingerprint: an index built with either can be
    queried with the other. int8 vectors differ (mean cosine ~0.99 to fp32), so its
    fingerprint differs and an index is always queried with the backend that built it.
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
        model_path: Path | None = None,
    ) -> None:
        """``threads`` intra-op threads per run and ``workers`` concurrent runs (default: one
        per core; see :class:`OnnxEncoder`). ``model_path`` runs that ONNX file instead of the
        cached export (benchmarks use it to compare quantisation recipes)."""
        from qa.embed import model_dim, model_fingerprint, model_name

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
        self.model_path = model_path
        self._encoder: OnnxEncoder | None = None
        self._loading = threading.Lock()  # two first questions at once load the model once

    @property
    def encoder(self) -> OnnxEncoder:
        """Exports (first use only) and loads the model on first need."""
        with self._loading:
            if self._encoder is None:
                path = self.model_path or ensure_onnx_model(
                    self.model_dir, self.cache_dir, self.base_fingerprint, quantized=self.quantized
                )
                # Dynamic int8 quantisation scales a run's activations by the range of the whole
                # run (DynamicQuantizeLinear), so a text batched with others would get a vector
                # that depends on them: a Ray batch, an incremental run or a fresh build would
                # disagree (min cosine 0.982 measured on BBC). int8 runs each text alone, which
                # measured as fast here (docs/BENCHMARKS.md); fp32 keeps its batches.
                batch_size = 1 if self.quantized else self.batch_size
                self._encoder = OnnxEncoder(
                    self.model_dir, path, batch_size=batch_size, threads=self.threads, workers=self.workers
                )
        return self._encoder

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
        ("late chunking", :func:`qa.embed.pool_spans`, as the torch backend does)."""
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} lists of spans")
        vectors, per_text = self._run(texts, spans, progress)
        return vectors, per_text

    def _run(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]] | None, progress: bool
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        from qa.embed import pool_spans

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
