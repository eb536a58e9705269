"""Train the reader (qa/search/reader.safetensors, version 2: answer logit and answer span).

The reader is all-MiniLM-L6-v2 run as a cross-encoder over (question, sentence) pairs, with a
LoRA adapter (rank 8, or --rank; alpha twice the rank; on every linear layer; peft), an answer
head (a linear layer over the mean of the tokens: "this sentence answers", low for no answer) and
a span head (a linear layer over each token: start and end logits, SQuAD style). Loss: binary cross-entropy of the
answer logit over positives and negatives, plus the mean cross-entropy of the answer's first and
last token over the sentence's tokens, for positives only.

Training data (benchmarks/reader_data.py; training data and tuning halves only): a seeded sample
of --sample SQuAD v1.0 train questions, split into sentences by qa's own splitter: the sentence
holding the answer (positive, with its span), two other sentences of the gold paragraph and the
two sentences of the article's other paragraphs BM25 ranks highest for the question (negatives),
an entity-swap near miss for --swap of the questions (label 0), and the unanswerable questions
of 12 of SQuAD 2.0 dev's 17 tuning-half articles with the two most similar sentences of their
paragraph (label 0). The other 5 (Computational_complexity_theory, Victoria_(Australia), Oxygen,
Amazon_rainforest, Packet_switching) are kept untouched for calibrating abstention; the split is
also in the adapter's metadata. Examples are batched by length (less padding).

The run keeps everything in --run-dir: the examples, and a checkpoint every --checkpoint-every
steps (adapter, heads, AdamW state, step, torch RNG: safetensors + JSON, no pickle). --resume
continues from it; --stop-after MINUTES pauses at a checkpoint; --minutes is a time budget: the
learning rate decays linearly to 0 by the last step or by then, whichever comes first (the
machine is shared, so its speed varies), and the run ends there. --export-checkpoint turns the
run's checkpoint, finished or not, into the shipped adapter. A GPU is used when torch sees one.
--init ADAPTER starts from an earlier adapter's LoRA and answer head (the span head starts
fresh): the shipped version 2 starts from version 1 (git show ee6d5df:qa/search/reader.safetensors),
whose answer head already ranks sentences; trained from scratch, the answer logit had not left
the base rate (loss 0.45, reader alone 0.105 on 200 held-out questions) after 200 steps, about
all a session's clock allows on 2 shared cores.

Export: the checkpoint is read, through the int8 ONNX export qa will use, on a seeded sample of
--held-out questions of SQuAD v1.1 dev's first 24 articles asked through qa's own retrieval
(hybrid, 20 passages, the shipped re-rank; the first --passages passages' sentences), which
choose (benchmarks/reader_heldout.py) the weight of a passage's best logit beside its re-rank
score and of the sentence score beside the logit for the answer (each fitted listwise,
tune_rerank.fit), and the span threshold (a span is shown where spans are more often right than
wrong). The figures printed and stored in the metadata (sentence accuracy of the reader alone,
span exact match / F1 with SQuAD's official normalisation, reader time) are tuning-half figures,
not results: the last 24 articles stay untouched for reporting. --measure ADAPTER prints them
for an existing adapter.

    pip install -e ".[train]"            # peft
    qa eval --squad ../shared/datasets/squad-v1.1-dev/dev-v1.1.json.zip --index-dir /tmp/ev-squad \
        --articles first                  # builds the index once
    git show ee6d5df:qa/search/reader.safetensors > /tmp/reader-v1.safetensors
    python benchmarks/train_reader.py --run-dir /tmp/reader-run --sample 6000 \
        --init /tmp/reader-v1.safetensors --minutes 24 --checkpoint-every 50
    python benchmarks/train_reader.py --run-dir /tmp/reader-run --export-checkpoint \
        --index-dir /tmp/ev-squad --write

The shipped adapter, version 13 (2026-12-07, ninth session), reads each sentence after its
article's title (metadata "context": "title"; qa.search.reader.reader_text). It is version 11
trained on for 34.7 minutes with the third round of questions written over SQuAD v1.0 train
paragraphs in other words, tersely, about pronoun subjects, and as near misses
(benchmarks/data/README.md; benchmarks/rewritten_examples.py), three times over, beside a
4,000-question sample of the usual data (another seed); version 11 was version 5 read with titles
(3b530aa) trained the same way on the first round (--first 1440, --seed 9, --lr 0.0003):

    git show 59aa612:qa/search/reader.safetensors > /tmp/reader-v11.safetensors
    python benchmarks/rewritten_examples.py --skip 2880 --first 4320 --out /tmp/rw3.jsonl.gz   # 6,705 examples
    python benchmarks/train_reader.py --run-dir /tmp/run13 --sample 4000 --swap 0.4 --seed 11 --batch 32 \
        --lr 0.0002 --context title --init /tmp/reader-v11.safetensors --extra /tmp/rw3.jsonl.gz \
        --extra /tmp/rw3.jsonl.gz --extra /tmp/rw3.jsonl.gz --minutes 36 --checkpoint-every 100
    python benchmarks/train_reader.py --run-dir /tmp/run13 --export-checkpoint --index-dir DIR --write

1,501 steps of 32 (one epoch). The second round of written questions is kept out of every
reader's training: abstention is calibrated on it (benchmarks/calibrate_abstention.py --written).
The lineage before it: version 1 (SQuAD v1.1 tuning questions), 2 and 2b (SQuAD v1.0 train, the
span head, SQuAD 2.0's tuning-half questions), 3 (70 minutes on a 40,000-question sample), 5 (qa's
own hard negatives, benchmarks/mine_reader_negatives.py), 5 read with titles (not retrained), 11
(the first round of written questions); and, tried and not shipped, 4, 6, 8, 9, 10, 12, 14
(version 13 trained on with the fourth round of written questions), 15 (the same at half the
learning rate, with rounds 1, 3 and 4 once each), a weight average and --rank 32.
docs/EVALUATION.md has the command, data and figures of each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reader_data import SQUAD11_DEV, SQUAD_TRAIN, batches_by_length, collate, read_examples, tokenized, write_examples  # noqa: E402, I001
from reader_heldout import answer_passages, held_out_cases, held_out_figures  # noqa: E402

MAX_LENGTH = 128  # question + sentence tokens, as qa.search.reader reads them
RANK = 8  # the LoRA rank of every shipped version so far


def lora_config(rank: int = RANK) -> dict:
    """peft's LoRA settings at this rank; alpha is twice the rank, so the scale (alpha / rank) is
    the same at any rank and an adapter of lower rank starts a higher one as it was (start_from)."""
    modules = ["query", "key", "value", "dense"]
    return {"r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.05, "target_modules": modules}


def reader_model(model_dir: Path, rank: int = RANK):
    """The encoder with LoRA (peft) of this rank, the answer head over the mean of the tokens, and
    the span head over each token; called, it gives (logits, start_logits, end_logits)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    class ReaderModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            encoder = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
            self.encoder = get_peft_model(encoder, LoraConfig(**lora_config(rank)))
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)
            self.span = torch.nn.Linear(encoder.config.hidden_size, 2)

        def forward(self, ids, mask, types):
            hidden = self.encoder(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            logits = self.head((hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)).squeeze(-1)
            spans = self.span(hidden)
            return logits, spans[..., 0], spans[..., 1]

    return ReaderModel()


def span_loss(start_logits, end_logits, types, mask, starts, ends):
    """Cross-entropy of the answer's first and last token over the sentence's tokens (type 1,
    not the closing [SEP]), for the positives (the others have -100)."""
    import torch

    sentence = (types == 1) & (mask == 1)
    last = mask.sum(1) - 1
    sentence[torch.arange(len(last)), last] = False  # [SEP]
    keep = starts >= 0
    if not keep.any():
        return start_logits.sum() * 0.0
    loss = torch.nn.CrossEntropyLoss()
    s = start_logits.masked_fill(~sentence, -1e4)[keep]
    e = end_logits.masked_fill(~sentence, -1e4)[keep]
    return (loss(s, starts[keep]) + loss(e, ends[keep])) / 2


def trainable(model) -> dict:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, model, optimiser, step: int, info: dict) -> None:
    """Adapter, heads, AdamW state and the data position, as safetensors + JSON (no pickle),
    written beside and then renamed over ``run_dir/checkpoint``."""
    import shutil

    import torch
    from safetensors.torch import save_file

    folder, temporary = run_dir / "checkpoint", run_dir / "checkpoint.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    weights = {name: p.detach().cpu().contiguous() for name, p in trainable(model).items()}
    save_file(weights, str(temporary / "weights.safetensors"))
    state = optimiser.state_dict()
    tensors = {f"{i}.{key}": value.detach().cpu().reshape(-1) if key == "step" else value.detach().cpu().contiguous()
               for i, entry in state["state"].items() for key, value in entry.items()}  # "step": 0-d, stored as 1
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(temporary / "optimizer.safetensors"))
    groups = [{k: v for k, v in group.items()} for group in state["param_groups"]]
    (temporary / "state.json").write_text(json.dumps({**info, "step": step, "param_groups": groups}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    temporary.rename(folder)


def load_checkpoint(run_dir: Path, model, optimiser=None) -> dict:
    """Put a checkpoint back into the model (and optimiser); its state.json."""
    import torch
    from safetensors.torch import load_file

    folder = run_dir / "checkpoint"
    weights = load_file(str(folder / "weights.safetensors"))
    params = trainable(model)
    if set(weights) != set(params):
        raise SystemExit(f"{folder} does not fit this model: {sorted(set(weights) ^ set(params))[:3]}")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    info = json.loads((folder / "state.json").read_text())
    if optimiser is not None:
        tensors = load_file(str(folder / "optimizer.safetensors"))
        torch.set_rng_state(tensors.pop("rng.torch"))
        state: dict = {}
        for key, value in tensors.items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value.reshape(()) if name == "step" else value
        optimiser.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    return info


def checkpoint_rank(run_dir: Path) -> int:
    """The LoRA rank of ``run_dir``'s checkpoint (runs from before --rank have the default)."""
    return json.loads((run_dir / "checkpoint" / "state.json").read_text()).get("rank", RANK)


def start_from(model, adapter: Path) -> None:
    """Load an earlier reader adapter's LoRA matrices and answer head (qa.search.reader's names,
    float16) into the model before training; the span head starts fresh if it has none. An adapter
    of lower rank fills the first ranks (A's first rows, B's first columns); B's other columns stay
    zero as peft starts them, so the model starts exactly where that adapter was."""
    import torch
    from safetensors.numpy import load_file

    from qa.search.reader import LORA_A, LORA_B

    params = trainable(model)
    loaded = 0
    with torch.no_grad():
        for name, array in load_file(str(adapter)).items():
            for suffix, part in ((LORA_A, ".lora_A.default.weight"), (LORA_B, ".lora_B.default.weight")):
                if name.endswith(suffix):
                    name = "encoder.base_model.model." + name.removesuffix(suffix).removesuffix(".weight") + part
            if name not in params:
                raise SystemExit(f"{adapter}: {name} is not a parameter of this reader")
            target = params[name]
            if name.endswith(".lora_A.default.weight"):
                target = target[: array.shape[0]]
            elif name.endswith(".lora_B.default.weight"):
                target = target[:, : array.shape[1]]
            target.copy_(torch.from_numpy(array.astype(np.float32)))
            loaded += 1
    print(f"started from {adapter} ({loaded} tensors)", file=sys.stderr, flush=True)


def train(model_dir: Path, run_dir: Path, args) -> dict:
    """Train from ``run_dir``'s examples (or its checkpoint, with --resume), writing a checkpoint
    every --checkpoint-every steps and at the end; the final state.json."""
    import torch
    from transformers import AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(args.seed)
    examples = read_examples(run_dir)
    titled = json.loads((run_dir / "data.json").read_text()).get("context") == "title"
    rows = tokenized(AutoTokenizer.from_pretrained(str(model_dir)), examples, args.max_length, titled=titled)
    batches = batches_by_length(rows, args.batch, args.seed)
    if args.resume:  # the checkpoint's rank, whatever --rank says
        args.rank = checkpoint_rank(run_dir)
    model = reader_model(model_dir, args.rank).to(device)
    adapted = [p for n, p in trainable(model).items() if "lora" in n]
    heads = [p for n, p in trainable(model).items() if "lora" not in n]
    optimiser = torch.optim.AdamW([{"params": adapted, "lr": args.lr}, {"params": heads, "lr": 2 * args.lr}],
                                  weight_decay=0.01)
    steps = min(len(batches), args.steps) if args.steps else len(batches)
    step, seconds = 0, 0.0
    if args.init and not args.resume:
        start_from(model, args.init)
    if args.resume:
        info = load_checkpoint(run_dir, model, optimiser)
        step, seconds = info["step"], info["seconds"]
        args.minutes = args.minutes if args.minutes is not None else info.get("minutes")
        print(f"resumed at step {step}/{steps}", file=sys.stderr, flush=True)
    info = {"steps": steps, "examples": len(rows), "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "max_length": args.max_length, "device": device, "minutes": args.minutes, "rank": args.rank,
            "init": str(args.init) if args.init else None}
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    started, running, budget = time.time() - seconds, [], 60 * args.minutes if args.minutes else None
    while True:
        elapsed = time.time() - started
        # how far the run is: by steps, or by --minutes when that runs out first (a shared machine)
        progress = max(step / steps, elapsed / budget if budget else 0.0)
        if progress >= 1:
            break
        for group, base in zip(optimiser.param_groups, (args.lr, 2 * args.lr)):
            group["lr"] = base * min(1.0, (step + 1) / 50) * (1 - progress)
        ids, mask, types, labels, starts, ends = collate(rows, batches[step], device)
        logits, start_logits, end_logits = model(ids, mask, types)
        answer, span = bce(logits, labels), span_loss(start_logits, end_logits, types, mask, starts, ends)
        (answer + span).backward()
        optimiser.step()
        optimiser.zero_grad()
        step += 1
        running = (running + [(answer.item(), span.item())])[-100:]
        elapsed = time.time() - started
        if step % 50 == 0:
            a, b = np.mean(running, axis=0)
            print(f"  step {step}/{steps}, answer loss {a:.4f}, span loss {b:.4f}, {elapsed:.0f} s",
                  file=sys.stderr, flush=True)
        pause = args.stop_after is not None and elapsed > 60 * args.stop_after
        if step % args.checkpoint_every == 0 or pause:
            save_checkpoint(run_dir, model, optimiser, step, {**info, "seconds": elapsed, "done": False})
        if pause:
            print(f"paused after {elapsed / 60:.1f} min at step {step}: --resume continues", file=sys.stderr)
            return {**info, "step": step, "seconds": elapsed, "done": False}
    save_checkpoint(run_dir, model, optimiser, step, {**info, "seconds": elapsed, "done": True})
    print(f"done at step {step}/{steps} after {elapsed / 60:.1f} min", file=sys.stderr, flush=True)
    return json.loads((run_dir / "checkpoint" / "state.json").read_text())


def reader_at(model_dir: Path, folder: Path, adapter: Path):
    from qa.search.reader import Reader

    return Reader(model_dir, folder / "cache", adapter, threads=2)


def adapter_tensors(model) -> dict[str, np.ndarray]:
    """peft's LoRA matrices renamed for qa.search.reader (``<weight name>.lora_A`` / ``.lora_B``),
    and the two heads (``head.*``: the answer logit, ``span.*``: start and end)."""
    from qa.search.reader import LORA_A, LORA_B

    tensors = {}
    for name, tensor in model.state_dict().items():
        for part, suffix in ((".lora_A.default.weight", LORA_A), (".lora_B.default.weight", LORA_B)):
            if name.endswith(part):
                base = name.removeprefix("encoder.base_model.model.").removesuffix(part) + ".weight"
                tensors[base + suffix] = tensor.detach().cpu().numpy()
        if name.startswith(("head.", "span.")):
            tensors[name] = tensor.detach().cpu().numpy()
    return tensors


def export(model_dir: Path, args) -> dict:
    """Measure --run-dir's checkpoint on the held-out tuning questions and, with --write (or
    --out), write it as the shipped adapter with the weights, the span threshold and the figures."""
    from qa.embed.model import model_fingerprint
    from qa.search.reader import ADAPTER, FORMAT, MAX_SPAN_TOKENS

    rank = checkpoint_rank(args.run_dir)
    model = reader_model(model_dir, rank)
    info = load_checkpoint(args.run_dir, model)
    data = json.loads((args.run_dir / "data.json").read_text())
    tensors = adapter_tensors(model)
    metadata = {
        "reader": FORMAT,
        "model": model_fingerprint(model_dir),  # qa.search.reader uses the adapter only on this model
        "scale": str(lora_config(rank)["lora_alpha"] / rank),
        "lora": json.dumps(lora_config(rank)),
        "combine": json.dumps({"passages": args.passages, "passage_weight": 1.0, "sentence_weight": 3.0}),
    }
    if data.get("context") == "title":
        metadata["context"] = "title"  # qa.search.reader reads each sentence after its article's title
    cases = held_out_cases(args, unseen_by_v1=bool(info.get("init")))
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / "reader.safetensors"
        write_adapter(trial, tensors, metadata)
        figures = held_out_figures(reader_at(model_dir, Path(folder), trial), cases, answer_passages())
    metadata["combine"] = json.dumps({
        "passages": args.passages, "passage_weight": round(figures["passage_weight"], 4),
        "sentence_weight": round(figures["sentence_weight"], 4),
    })
    metadata["span"] = json.dumps({"threshold": round(figures["span_threshold"], 4), "max_tokens": MAX_SPAN_TOKENS})
    metadata["fit"] = json.dumps({
        "command": f"python benchmarks/train_reader.py --sample {data['squad_train_questions']} --swap"
                   f" {data['swap_share']} --seed {info['seed']} --batch {info['batch']} --lr {info['lr']}"
                   + (f" --terse {data['terse_share']}" if data.get("terse_share") else "")
                   + (f" --other {data['other_per_question']}" if data.get("other_per_question") else "")
                   + (" --context title" if data.get("context") == "title" else "")
                   + (f" --rank {rank}" if rank != RANK else "")
                   + (f" --init {info['init']}" if info.get("init") else "")
                   + "".join(f" --extra {path}" for path in data.get("extra", ()))
                   + (f" --minutes {info['minutes']:g}" if info.get("minutes") else ""),
        "export_command": "python benchmarks/train_reader.py " + " ".join(sys.argv[1:]),
        "date": date.today().isoformat(),
        "data": data,
        "training": {k: v for k, v in info.items() if k != "param_groups"},
        "held_out": f"{len(cases)} questions of SQuAD v1.1 dev's first 24 articles (tuning half)"
                    + (", none of them in reader version 1's training" if info.get("init") else "")
                    + f", top {args.passages} passages after the re-rank; tuning-half figures, not results",
        **{f"held_out_{k}": v for k, v in figures.items() if "weight" not in k and "threshold" not in k},
        "minutes": round(info["seconds"] / 60, 1),
    })
    target = args.out or (ADAPTER if args.write else None)
    if target is not None:
        write_adapter(target, tensors, metadata)
        print(f"wrote {target}")
    return figures


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("reader-run"),
                        help="examples, checkpoint and held-out cases of this run")
    parser.add_argument("--train-data", type=Path, default=None, help="SQuAD v1.0 train (default: ../shared)")
    parser.add_argument("--sample", type=int, default=12000, help="SQuAD v1.0 train questions, a seeded sample")
    parser.add_argument("--swap", type=float, default=0.4, help="share of questions given an entity-swap near miss")
    parser.add_argument("--terse", type=float, default=0.0,
                        help="share of questions also asked tersely, as typed into a search box (reader_data.terse)")
    parser.add_argument("--other", type=int, default=0, metavar="N",
                        help="N sentences of other articles per question as negatives (reader_data: kind other)")
    parser.add_argument("--context", choices=("none", "title"), default="none",
                        help="title: read each sentence after its article's title (qa.search.reader.reader_text)")
    parser.add_argument("--extra", type=Path, action="append", default=[], metavar="EXAMPLES",
                        help="more examples (gzipped JSON lines, benchmarks/mine_reader_negatives.py); repeatable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, default=RANK,
                        help=f"LoRA rank (default {RANK}); --init may be of a lower one")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--max-length", type=int, default=MAX_LENGTH)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (a trial)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="time budget: the learning rate decays to 0 by then and the run ends"
                             " (or at the last step, if sooner)")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--stop-after", type=float, default=None, metavar="MINUTES",
                        help="checkpoint and stop after this long (--resume continues)")
    parser.add_argument("--resume", action="store_true", help="continue from --run-dir's checkpoint")
    parser.add_argument("--init", type=Path, default=None, metavar="ADAPTER",
                        help="start from this adapter's LoRA and answer head (e.g. the version 1 reader)")
    parser.add_argument("--export-checkpoint", action="store_true",
                        help="train nothing: measure --run-dir's checkpoint and (with --write) ship it")
    parser.add_argument("--squad", type=Path, default=SQUAD11_DEV,
                        help="SQuAD v1.1 dev (its first 24 articles choose the weights)")
    parser.add_argument("--index-dir", type=Path, help="a SQuAD index built by qa eval --squad (for the weights)")
    parser.add_argument("--held-out", type=int, default=1500, help="tuning questions that choose the weights")
    parser.add_argument("--passages", type=int, default=5, help="passages read, from the first after the re-rank")
    parser.add_argument("--measure", type=Path, metavar="ADAPTER",
                        help="train nothing: print the held-out figures of this adapter")
    parser.add_argument("--write", action="store_true", help="write qa/search/reader.safetensors")
    parser.add_argument("--out", type=Path, default=None, help="write the adapter here instead")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from qa.config import settings_from_env

    torch.set_num_threads(2)
    model_dir = settings_from_env().resolved_model_dir()
    if args.measure:
        cases = held_out_cases(args)
        with tempfile.TemporaryDirectory() as folder:
            held_out_figures(reader_at(model_dir, Path(folder), args.measure), cases, answer_passages())
        return 0
    if not args.export_checkpoint:
        if not args.resume:
            if args.train_data is None:
                args.train_data = SQUAD_TRAIN
            started = time.time()
            data = write_examples(args.run_dir, args)
            print(f"examples: {data['kinds']} ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
        info = train(model_dir, args.run_dir, args)
        if not info["done"]:
            return 0
        print(f"trained in {info['seconds'] / 60:.1f} min", file=sys.stderr)
        if args.index_dir is None:
            print(f"export: --run-dir {args.run_dir} --export-checkpoint --index-dir DIR --write", file=sys.stderr)
            return 0
    export(model_dir, args)
    return 0


def write_adapter(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write the adapter (float16: the merge is done in float32, the int8 export is coarser)."""
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(array, dtype=np.float16) for name, array in tensors.items()},
              str(path), metadata=metadata)


if __name__ == "__main__":
    sys.exit(main())

