"""The reader: all-MiniLM-L6-v2 reading the question and a sentence together.

The bi-encoder sees the question and a sentence apart; the reader runs the same transformer over
both at once, as a cross-encoder, and gives a logit that the sentence answers the question, and
where in the sentence the exact answer lies. An adapter whose metadata says "context": "title"
reads each sentence after its article's title (:func:`reader_text`). It is the shipped model's
own weights plus a low-rank adapter (LoRA, rank 8, on every linear layer), a linear head over
the mean of the tokens (the "this sentence answers" logit; low: no answer here) and a span head
over each token (start and end logits, SQuAD style), trained on SQuAD v1.0 train, near misses
made from it, questions written over its paragraphs in other words (benchmarks/data) and SQuAD
2.0's tuning-half unanswerable questions by benchmarks/train_reader.py.
``reader.safetensors`` beside this file holds only the adapter and heads (float16), with the
command, data, the two weights that combine the reader with the re-rank and the span threshold,
chosen on SQuAD v1.1 dev tuning questions, in its metadata.

The best span of a sentence lies inside the sentence's own tokens, starts at or before it ends,
is at most ``MAX_SPAN_TOKENS`` tokens long, and scores start + end logit; its character offsets
come from the tokenizer's offset mapping. One ONNX run gives a question's logits and spans.

On first use the adapter is merged into the model's weights (W + scale * B A), exported to ONNX
and quantised to int8 like the embedder (qa.embed.onnx_backend), and cached; asking then needs
neither torch nor a download. Safetensors holds tensors only: nothing is unpickled.

How it is used (qa.search.searcher): the sentences of the first passages after the re-rank are read,
at most READ_SENTENCES of them (the best by the re-rank's sentence score);
each of those passages gains ``passage_weight`` x its best sentence's logit, and the answer is
the sentence with the best logit + ``sentence_weight`` x its score + ``answer_passage_weight`` x
its passage's re-rank score + ``answer_reading_weight`` x its passage's best logit
(qa.search.answer.best_sentence).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.errors import ConfigError
from qa.search.answer import STEER_PASSAGES, ScoredSentence
from qa.types import Hit, Span

SentenceSpan = tuple[int, int, float]  # (start, end) in the sentence, and start + end logit

ADAPTER = Path(__file__).with_name("reader.safetensors")
EXPORT_VERSION = 2  # 2: the span outputs (a v1 cache holds only the logits)
FORMAT = "2"  # the adapter's "reader" metadata: 2 has the span head
MAX_TOKENS = 128  # question + sentence, as trained
MAX_SPAN_TOKENS = 30
LORA_A, LORA_B = ".lora_A", ".lora_B"
# What one ONNX run costs beyond the token positions it reads, in positions: fitted at 16 and 26
# on 2 cores by benchmarks/reader_batching.py (1.4-2.6 ms a run, 0.09 ms a position). Reader.read
# splits its pairs into runs by length so that positions + RUN_COST x runs is least (length_runs)
RUN_COST = 20
# The most sentences read per question (0: every sentence of the passages read). Reading is most
# of an ask's time (~5 ms a sentence on 2 cores), so the passages' sentences that the re-rank's
# own sentence score puts lowest are left unread; chosen on tuning questions by
# benchmarks/tune_reading.py (docs/EVALUATION.md). With reader v13 every budget up to 16 read
# more answers right (16 costs about 76 ms a question on 2 cores, over issue 16's 70 ms); from 11
# on, "Who heads Iran's military?" no longer marks the seed article's lede, which the issue asks
# for (a sentence read then outscores it), so 10.
READ_SENTENCES = 10
# How much a sentence's passage counts in choosing the answer: after reading, a sentence scores
# logit + sentence_weight x its sentence score + ANSWER_PASSAGE_WEIGHT x its passage's re-rank score
# + ANSWER_READING_WEIGHT x the best logit read in its passage. Without them a sentence of the third
# passage that reads a little better wins over the first passage's, which retrieval prefers. Chosen
# on the tuning sets by benchmarks/tune_answer_choice.py (docs/EVALUATION.md): the best of the
# weights under which "Who heads Iran's military?" still marks the seed article's lede, as issue 16
# asks (those that weigh the re-rank more get up to 0.004 more right on the tuning sets and lose it).
ANSWER_PASSAGE_WEIGHT = 1.0
ANSWER_READING_WEIGHT = 4.0
# A question that asks for a kind of answer ("How old ...?") may be steered to a sentence of that
# kind only if the reader has read it (qa.search.answer.best_sentence). When none of the sentences
# read from the passages it steers among holds that kind, up to this many more that do are read:
# "Anil, 45, has stepped down" shares no word with "What age is the younger of the two Reliance
# brothers?", was left unread, and qa abstained for want of an age.
TYPED_READS = 2
# A reader trained with its sentence's context (the adapter's metadata "context": "title") reads
# "<article title> | <sentence>": "He was born in 1856" answers "When was Tesla born?" only in the
# article on Tesla, and only the title says so. The title is cut to TITLE_CHARS, at a word.
TITLE_CHARS = 80
TITLE_SEPARATOR = " | "


@dataclass(frozen=True)
class ReaderWeights:
    """How the reader's logits combine with the re-rank (chosen by benchmarks/train_reader.py)."""

    passages: int = 5  # passages whose sentences are read, from the first after the re-rank
    passage_weight: float = 1.0  # passage score += this x its best sentence's logit
    sentence_weight: float = 3.0  # answer = best of logit + this x sentence score
    span_threshold: float = math.inf  # the answer's span is shown when its score reaches this
    sentences: int = READ_SENTENCES  # the most sentences read per question (0: all of them)
    answer_passage_weight: float = ANSWER_PASSAGE_WEIGHT  # answer = ... + this x its passage's re-rank score
    answer_reading_weight: float = ANSWER_READING_WEIGHT  # ... + this x its passage's best logit

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> ReaderWeights:
        combine = json.loads(metadata["combine"])
        span = json.loads(metadata.get("span", "{}"))
        return cls(
            int(combine["passages"]), float(combine["passage_weight"]), float(combine["sentence_weight"]),
            float(span.get("threshold", math.inf)),
        )


def reader_text(sentence: str, title: str | None = None) -> tuple[str, int]:
    """What the reader reads for ``sentence`` (the pair's second text), and where the sentence
    starts in it: the sentence alone, or after its article's ``title`` (cut to TITLE_CHARS)."""
    title = " ".join((title or "").split())
    if not title:
        return sentence, 0
    if len(title) > TITLE_CHARS:
        title = title[:TITLE_CHARS].rsplit(" ", 1)[0] or title[:TITLE_CHARS]
    head = title + TITLE_SEPARATOR
    return head + sentence, len(head)


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
    """Export the model with the adapter merged and the heads on top to ONNX: inputs
    ``input_ids``, ``attention_mask``, ``token_type_ids`` (batch x sequence); outputs ``logits``
    (batch), ``start_logits`` and ``end_logits`` (batch x sequence)."""
    from qa.embed.export import OPSET, example_batch, load_for_export

    _, model = load_for_export(model_dir)
    import torch  # there: load_for_export has checked (imported here, so the type checker sees the module)
    adapter, metadata = read_adapter(adapter_path)
    if metadata.get("reader") != FORMAT:
        raise ConfigError(
            f"{adapter_path} is not a version {FORMAT} reader adapter: retrain it (benchmarks/train_reader.py)"
        )
    state = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    merged = merged_state(state, adapter, float(metadata["scale"]))
    model.load_state_dict({name: torch.from_numpy(np.asarray(array)) for name, array in merged.items()})
    head, span = (torch.nn.Linear(adapter[f"{name}.weight"].shape[1], adapter[f"{name}.weight"].shape[0])
                  for name in ("head", "span"))
    for layer, name in ((head, "head"), (span, "span")):
        layer.load_state_dict({part: torch.from_numpy(adapter[f"{name}.{part}"]) for part in ("weight", "bias")})

    class Read(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.head, self.span = model, head, span

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            spans = self.span(hidden)
            return self.head(pooled).squeeze(-1), spans[..., 0], spans[..., 1]

    ids, mask = example_batch(torch)
    types = torch.zeros_like(ids)
    types[:, 8:] = 1  # a question of 8 tokens, then the sentence
    axes = {0: "batch", 1: "sequence"}
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings, as for the embedder (qa.embed.export.trace)
        torch.onnx.export(
            Read(), (ids, mask, types), str(target), input_names=names,
            output_names=["logits", "start_logits", "end_logits"],
            dynamic_axes={**{name: axes for name in names}, "logits": {0: "batch"},
                          "start_logits": axes, "end_logits": axes},
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
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


def to_read(
    sentences: Sequence[ScoredSentence], most: int, *, steer: Collection[int] = (), typed_reads: int = TYPED_READS
) -> list[ScoredSentence]:
    """The sentences worth reading, at most ``most`` of them (0: all), in their given order: the
    best of each passage by the re-rank's sentence score (so every passage read gets a logit,
    even past ``most``), then the best of the others. ``steer``: for a question that asks for a
    kind of answer, the passages the answer type steers among; when none of the sentences taken
    from them holds that kind (``typed``), the best ``typed_reads`` of theirs that do are read too."""
    if most <= 0 or len(sentences) <= most:
        return list(sentences)
    by_score = sorted(range(len(sentences)), key=lambda i: -sentences[i].score)
    taken: dict[int, int] = {}
    for i in by_score:
        taken.setdefault(sentences[i].passage, i)
    keep = set(taken.values())
    for i in by_score:
        if len(keep) >= most:
            break
        keep.add(i)
    if steer and not any(sentences[i].typed and sentences[i].passage in steer for i in keep):
        keep.update([i for i in by_score if sentences[i].typed and sentences[i].passage in steer][:typed_reads])
    return [s for i, s in enumerate(sentences) if i in keep]


class Reader:
    """Logits that sentences answer a question, from the cached int8 ONNX export."""

    def __init__(
        self, model_dir: Path, cache_dir: Path, adapter_path: Path = ADAPTER, *, threads: int | None = None
    ) -> None:
        """``threads``: ONNX Runtime's intra-op threads, by default the cores this process may
        use, at most 4. Unlike the embedder's many texts a run, one question's at most 8 short
        pairs are about three small runs, and their latency is what the chat shows
        (docs/BENCHMARKS.md, "Figures behind the code")."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from qa.embed.export import cpu_count

        metadata = adapter_metadata(adapter_path)
        self.weights = ReaderWeights.from_metadata(metadata)
        self.titled = metadata.get("context") == "title"  # reads a sentence after its article's title
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
        answer_passages: int, *, typed: bool = False,
    ) -> tuple[list[Hit], list[int], list[ScoredSentence]]:
        """Read the sentences of the first passages (``hits`` and ``order`` as
        :func:`qa.search.answer.rerank` gives them; ``sentences`` by the hits' old index): those
        passages re-ordered by score + passage_weight x best logit, and their sentences
        rescored as logit + sentence_weight x score. At least the ``answer_passages`` that
        compete for the answer are read, so the answer is chosen on one scale. Of their
        sentences at most ``weights.sentences`` are read (:func:`to_read`; with ``typed``, the
        question asks for a kind of answer, and a sentence of that kind in the passages the type
        steers among is read too); one left unread is rescored with the lowest logit read, below
        the sentences read, and has no ``reader``."""
        n = min(len(hits), max(self.weights.passages, answer_passages))
        read = set(order[:n])
        steer = set(order[:STEER_PASSAGES]) if typed else set()
        texts = to_read([s for s in sentences if s.passage in read], self.weights.sentences, steer=steer)
        logits, spans = self.read(question, [s.text for s in texts], [hits[s.passage].title for s in texts])
        best: dict[int, float] = {}
        for sentence, logit in zip(texts, logits):
            best[sentence.passage] = max(best.get(sentence.passage, -math.inf), float(logit))
        totals = [hits[i].score + self.weights.passage_weight * best.get(order[i], 0.0) for i in range(n)]
        first = sorted(range(n), key=lambda i: (-totals[i], i))
        ranked = [replace(hits[i], rank=new + 1, score=totals[i]) for new, i in enumerate(first)]
        ranked += [replace(hit, rank=n + j + 1) for j, hit in enumerate(hits[n:])]
        new_order = [order[i] for i in first] + list(order[n:])
        readings = {id(s): reading for s, reading in zip(texts, zip(logits, spans))}
        floor = float(min(logits, default=0.0))
        passage_terms = {
            order[i]: self.weights.answer_passage_weight * hits[i].score
            + self.weights.answer_reading_weight * best.get(order[i], 0.0)
            for i in range(n)
        }
        rescored = [
            self._rescored(s, *readings[id(s)], passage_terms[s.passage]) if id(s) in readings
            else replace(s, score=floor + self.weights.sentence_weight * s.score + passage_terms[s.passage])
            if s.passage in read
            else s
            for s in sentences
        ]
        return ranked, new_order, rescored

    def _rescored(
        self, sentence: ScoredSentence, logit: float, span: SentenceSpan | None, passage_term: float
    ) -> ScoredSentence:
        score = float(logit) + self.weights.sentence_weight * sentence.score + passage_term
        return replace(sentence, score=score, reader=float(logit), span=span)

    def span(self, question: str, sentence: ScoredSentence, title: str | None = None) -> Span | None:
        """The exact answer inside ``sentence`` (article offsets, from its ``start``), or None when
        its score is below the threshold chosen in training. A sentence :meth:`rerank` has read
        carries its span; another is read now (after ``title``, its article's)."""
        found = sentence.span if sentence.reader is not None else self.read(question, [sentence.text], [title])[1][0]
        if found is None or found[2] < self.weights.span_threshold:
            return None
        start, end, score = found
        return Span(sentence.text[start:end], sentence.start + start, sentence.start + end, round(score, 4))

    def logits(self, question: str, sentences: Sequence[str], titles: Sequence[str | None] = ()) -> np.ndarray:
        """One logit per sentence (higher: more likely to answer the question)."""
        return self.read(question, sentences, titles)[0]

    def read(
        self, question: str, sentences: Sequence[str], titles: Sequence[str | None] = ()
    ) -> tuple[np.ndarray, list[SentenceSpan | None]]:
        """One logit per sentence, and its best span: (start, end) character offsets in the
        sentence and its score (None when the cut left none of the sentence's tokens).
        ``titles``: each sentence's article title, read before it by a reader trained so
        (:func:`reader_text`); others ignore them."""
        if not sentences:
            return np.zeros(0, dtype=np.float32), []
        named = list(titles) if self.titled and titles else [None] * len(sentences)
        texts = [reader_text(sentence, title) for sentence, title in zip(sentences, named, strict=True)]
        encodings = self.tokenizer.encode_batch([(question, text) for text, _ in texts])
        logits = np.zeros(len(encodings), dtype=np.float32)
        spans: list[SentenceSpan | None] = [None] * len(encodings)
        # by length, in runs: a run pads to its longest pair, and one run padded to the longest of
        # 8 pairs reads about 1.6 times the tokens there are (docs/BENCHMARKS.md)
        order = sorted(range(len(encodings)), key=lambda row: len(encodings[row].ids))
        for run in length_runs([len(encodings[row].ids) for row in order], RUN_COST):
            rows = [order[i] for i in run]
            length = len(encodings[rows[-1]].ids)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask, types = np.zeros_like(ids), np.zeros_like(ids)
            for i, row in enumerate(rows):
                encoding = encodings[row]
                n = len(encoding.ids)
                ids[i, :n], mask[i, :n], types[i, :n] = encoding.ids, 1, encoding.type_ids
            run_logits, starts, ends = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            for i, row in enumerate(rows):
                logits[row] = run_logits[i]
                spans[row] = best_span(encodings[row], starts[i], ends[i], texts[row][1])
        return logits, spans


def length_runs(lengths: Sequence[int], run_cost: float) -> list[range]:
    """Consecutive runs over ``lengths`` (ascending) whose cost, each run padded to its longest
    (the last) times its rows plus ``run_cost``, is least in all: few runs where the lengths are
    alike, more where one long pair would pad many short ones."""
    best = [0.0] + [math.inf] * len(lengths)  # best[j]: the least cost of the first j
    cut = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for start in range(end):
            cost = best[start] + run_cost + (end - start) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    runs: list[range] = []
    end = len(lengths)
    while end:
        runs.append(range(cut[end], end))
        end = cut[end]
    return runs[::-1]


def best_span(encoding, start_logits: np.ndarray, end_logits: np.ndarray, shift: int = 0) -> SentenceSpan | None:
    """The best (start, end, score) over the sentence's tokens (the pair's second sequence, with
    a non-empty offset, from character ``shift`` on, where the sentence starts after its title):
    start <= end, at most MAX_SPAN_TOKENS long, score = start + end logit; character offsets
    inside the sentence, from the tokenizer's offset mapping."""
    tokens = [t for t, (sequence, (a, b)) in enumerate(zip(encoding.sequence_ids, encoding.offsets))
              if sequence == 1 and b > a and a >= shift]
    if not tokens:
        return None
    first, last = tokens[0], tokens[-1] + 1  # the sentence's tokens are one run
    scores = np.asarray(start_logits[first:last], dtype=np.float64)[:, None] + np.asarray(
        end_logits[first:last], dtype=np.float64
    )[None, :]
    size = last - first
    band = np.triu(np.ones((size, size), dtype=bool)) & ~np.triu(np.ones((size, size), dtype=bool), MAX_SPAN_TOKENS)
    scores[~band] = -np.inf
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return encoding.offsets[first + i][0] - shift, encoding.offsets[first + j][1] - shift, float(scores[i, j])


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
