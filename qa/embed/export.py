"""The one-off ONNX export of a sentence-transformers model, and its int8 quantisation, cached
(shared with the reader's export, qa.search.reader). torch and transformers are imported only
here, the first time a model is needed.

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
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qa.errors import ConfigError

EXPORT_VERSION = 1  # bump when the export or quantisation recipe changes: old caches are ignored
OPSET = 17
# Dynamic int8 of the MatMul weights, one scale per output channel, 7-bit range: per-tensor
# scales drift too far from fp32, and quantising the embedding Gather as well costs agreement
# and gains no speed (docs/BENCHMARKS.md, "Embedding backends").
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
