"""The reader: all-MiniLM-L6-v2 reading the question and a sentence together.

The bi-encoder sees the question and a sentence apart; the reader runs the same transformer
over both at once, as a cross-encoder, and gives a logit that the sentence answers the
question. It is the shipped model's own weights plus a low-rank adapter (LoRA, rank 8, on
every linear layer) and a linear head over the mean of the tokens, trained on SQuAD tuning-half
questions by benchmarks/train_reader.py. ``reader.safetensors`` beside this file holds only the
adapter and head (0.7 MB, float16), with the command, data and the two weights that combine the reader
with the re-rank, chosen on tuning questions held out of its training, in its metadata.

On first use the adapter is merged into the model's weights (W + scale * B A), exported to ONNX
and quantised to int8 like the embedder (qa.embed.onnx_backend), and cached; asking then needs
neither torch nor a download. Safetensors holds tensors only: nothing is unpickled.

How it is used (qa.search.searcher): the sentences of the first passages after the re-rank are read;
each of those passages gains ``passage_weight`` x its best sentence's logit, and the answer is
the sentence with the best logit + ``sentence_weight`` x its score (qa.search.answer.SentenceWeights).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.errors import ConfigError
from qa.search.answer import ScoredSentence
from qa.types import Hit

ADAPTER = Path(__file__).with_name("reader.safetensors")
EXPORT_VERSION = 1
MAX_TOKENS = 128  # question + sentence, as trained
LORA_A, LORA_B = ".lora_A", ".lora_B"


@dataclass(frozen=True)
class ReaderWeights:
    """How the reader's logits combine with the re-rank (chosen by benchmarks/train_reader.py)."""

    passages: int = 5  # passages whose sentences are read, from the first after the re-rank
    passage_weight: float = 1.0  # passage score += this x its best sentence's logit
    sentence_weight: float = 3.0  # answer = best of logit + this x sentence score

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> ReaderWeights:
        combine = json.loads(metadata["combine"])
        return cls(int(combine["passages"]), float(combine["passage_weight"]), float(combine["sentence_weight"]))


def adapter_fingerprint(path: Path = ADAPTER) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def adapter_metadata(path: Path = ADAPTER) -> dict[str, str]:
    """The metadata of an adapter file (its header only; no tensor is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return dict(handle.metadata() or {})


def read_adapter(path: Path = ADAPTER) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of an adapter file, the tensors as float32 numpy arrays."""
    from safetensors.numpy import load_file

    return {name: array.astype(np.float32) for name, array in load_file(str(path)).items()}, adapter_metadata(path)


def merged_state(state: dict[str, np.ndarray], adapter: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    """The model's weights with every adapted ``W`` replaced by ``W + scale * B @ A``; the
    adapter names each of its pairs ``<weight name>.lora_A`` / ``.lora_B``."""
    merged = dict(state)
    for name in adapter:
        if not name.endswith(LORA_A):
            continue
        weight = name[: -len(LORA_A)]
        if weight not in state:
            raise ConfigError(f"the reader adapter changes {weight}, which the model does not have")
        delta = scale * adapter[weight + LORA_B] @ adapter[name]
        if delta.shape != state[weight].shape:
            raise ConfigError(f"the reader adapter's {weight} is {delta.shape}, the model's {state[weight].shape}")
        merged[weight] = state[weight] + delta
    return merged


def export_reader(model_dir: Path, adapter_path: Path, target: Path) -> None:
    """Export the model with the adapter merged and the head on top to ONNX: inputs
    ``input_ids``, ``attention_mask``, ``token_type_ids`` (batch x sequence), output ``logits``
    (batch)."""
    from qa.embed.export import example_batch, load_for_export, trace

    _, model = load_for_export(model_dir)
    import torch  # there: load_for_export has checked (imported here, so the type checker sees the module)
    adapter, metadata = read_adapter(adapter_path)
    state = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    merged = merged_state(state, adapter, float(metadata["scale"]))
    model.load_state_dict({name: torch.from_numpy(np.asarray(array)) for name, array in merged.items()})
    head = torch.nn.Linear(adapter["head.weight"].shape[1], 1)
    head.load_state_dict(
        {"weight": torch.from_numpy(adapter["head.weight"]), "bias": torch.from_numpy(adapter["head.bias"])}
    )

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.head = model, head

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(pooled).squeeze(-1)

    ids, mask = example_batch(torch)
    types = torch.zeros_like(ids)
    types[:, 8:] = 1  # a question of 8 tokens, then the sentence
    trace(
        Logits(), {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, "logits", {0: "batch"}, target
    )


def ensure_reader_model(model_dir: Path, cache_dir: Path, adapter_path: Path = ADAPTER) -> Path:
    """The int8 ONNX reader for this model and adapter, exported on first use and cached."""
    from qa.embed.export import QUANTIZE_OPTIONS, made_once, quantize, temporary_path

    def make(target: Path) -> None:
        with temporary_path(target.parent, ".onnx") as fp32:
            export_reader(model_dir, adapter_path, fp32)
            quantize(fp32, target, **QUANTIZE_OPTIONS)

    folder = Path(cache_dir) / "onnx" / f"reader-{adapter_fingerprint(adapter_path)}-v{EXPORT_VERSION}"
    return made_once(folder / "model-int8.onnx", make)


class Reader:
    """Logits that sentences answer a question, from the cached int8 ONNX export."""

    def __init__(
        self, model_dir: Path, cache_dir: Path, adapter_path: Path = ADAPTER, *, threads: int | None = None
    ) -> None:
        """``threads``: ONNX Runtime's intra-op threads, by default the cores this process may
        use, at most 4. Unlike the embedder's many texts a run, one question's ~25 short pairs
        are one run, and its latency is what the chat shows (docs/BENCHMARKS.md, "Figures behind the code")."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from qa.embed.export import cpu_count

        self.weights = ReaderWeights.from_metadata(adapter_metadata(adapter_path))
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()
        # the longer of the two is cut first: the sentence, unless the question is very long
        # (cutting only the sentence fails outright when the question alone fills the window)
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads if threads is not None else min(4, cpu_count()))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        path = ensure_reader_model(Path(model_dir), Path(cache_dir), adapter_path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def rerank(
        self, question: str, hits: Sequence[Hit], order: Sequence[int], sentences: Sequence[ScoredSentence],
        answer_passages: int,
    ) -> tuple[list[Hit], list[int], list[ScoredSentence]]:
        """Read the sentences of the first passages (``hits`` and ``order`` as
        :func:`qa.search.answer.rerank` gives them; ``sentences`` by the hits' old index): those
        passages re-ordered by score + passage_weight x best logit, and their sentences
        rescored as logit + sentence_weight x score. At least the ``answer_passages`` that
        compete for the answer are read, so the answer is chosen on one scale."""
        n = min(len(hits), max(self.weights.passages, answer_passages))
        read = set(order[:n])
        texts = [s for s in sentences if s.passage in read]
        logits = self.logits(question, [s.text for s in texts])
        best: dict[int, float] = {}
        for sentence, logit in zip(texts, logits):
            best[sentence.passage] = max(best.get(sentence.passage, -math.inf), float(logit))
        totals = [hits[i].score + self.weights.passage_weight * best.get(order[i], 0.0) for i in range(n)]
        first = sorted(range(n), key=lambda i: (-totals[i], i))
        ranked = [replace(hits[i], rank=new + 1, score=totals[i]) for new, i in enumerate(first)]
        ranked += [replace(hit, rank=n + j + 1) for j, hit in enumerate(hits[n:])]
        new_order = [order[i] for i in first] + list(order[n:])
        read_logits = iter(float(logit) for logit in logits)  # in the order of the read sentences
        rescored = [self._rescored(s, next(read_logits)) if s.passage in read else s for s in sentences]
        return ranked, new_order, rescored

    def _rescored(self, sentence: ScoredSentence, logit: float) -> ScoredSentence:
        return replace(sentence, score=logit + self.weights.sentence_weight * sentence.score, reader=logit)

    def logits(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One logit per sentence (higher: more likely to answer the question)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        encodings = self.tokenizer.encode_batch([(question, sentence) for sentence in sentences])
        length = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask, types = np.zeros_like(ids), np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = encoding.ids, 1, encoding.type_ids
        (logits,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        return np.asarray(logits, dtype=np.float32).reshape(-1)


def reader_for(settings: Settings) -> Reader | None:
    """The shipped reader for these settings; None when they turn it off, or when the model in
    use is not the one the adapter was trained on (it would read nonsense)."""
    if not settings.search.reader or not ADAPTER.is_file():
        return None
    return _shipped_reader(settings.resolved_model_dir(), settings.cache_dir)


@lru_cache(maxsize=2)
def _shipped_reader(model_dir: Path, cache_dir: Path) -> Reader | None:
    from qa.embed.model import model_fingerprint

    if adapter_metadata(ADAPTER).get("model") != model_fingerprint(model_dir):
        return None
    return Reader(model_dir, cache_dir)
