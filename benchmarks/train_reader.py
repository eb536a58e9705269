"""Train the reader (qa/search/reader.safetensors) on the SQuAD tuning half.

The reader is all-MiniLM-L6-v2 run as a cross-encoder over (question, sentence) pairs, with a
LoRA adapter (rank 8, alpha 16, on every linear layer; peft) and a linear head over the mean of
the tokens, trained with binary cross-entropy. Its examples come from qa itself: every
question of the first 24 SQuAD articles is asked (hybrid, 20 passages, the shipped re-rank),
and the sentences of the first five passages are the candidates. Sentences holding a gold
answer are the positives (at most two a question); the four best-scored other sentences and
three more drawn at random are the negatives.

Re-worded (WordNet) and mined (BBC News) training questions were tried and left out
(docs/EVALUATION.md); their code is in the history at commit 8985231.

The questions are shuffled (seed 0): the first --train train the reader; the rest are held out,
read by the int8 ONNX export qa will use, and choose how the reader combines with the re-rank:
the weight of a passage's best logit beside its re-rank score, and the weight of the sentence
score beside the logit for the answer, each fitted listwise (tune_rerank.fit). The last 24
articles stay untouched for reporting (`qa eval --squad ... --articles last`). Beside the
combination, the held-out questions measure how often the reader alone picks a sentence with
the answer. --measure ADAPTER prints these for an existing adapter without training.

    pip install -e ".[train]"            # peft
    qa eval --squad ../shared/datasets/squad-v1.1-dev/dev-v1.1.json.zip --index-dir /tmp/ev-squad \
        --articles first                  # builds the index once
    python benchmarks/train_reader.py --index-dir /tmp/ev-squad --write

About 27 minutes of training for 4,000 questions on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-v1.1-dev" / "dev-v1.1.json.zip"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_rerank import fit  # noqa: E402  (the listwise fit, shared)

LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["query", "key", "value", "dense"]}


def collect(store, searcher, questions, depth: int, passages: int) -> list[dict]:
    """Per question: the first ``passages`` passages after the re-rank (score, gold) and their
    sentences (passage position, text, score, gold)."""
    from tqdm import tqdm

    from qa.eval.gold import chunk_span, gold_occurrences, holds_gold

    cases = []
    for question in tqdm(questions, desc="retrieving", file=sys.stderr, mininterval=5):
        gold = gold_occurrences(question, store.articles)
        retrieval = searcher.retrieve(question.question, depth)
        hits = retrieval.hits
        ranked = searcher.rerank_hits(question.question, retrieval, hits)
        reranked, order, sentences = ranked.hits, ranked.order, ranked.sentences
        position = {old: new for new, old in enumerate(order[:passages])}
        cases.append({
            "question": retrieval.query,
            "passages": [
                {"score": hit.score, "gold": holds_gold(chunk_span(hit.chunk), gold)} for hit in reranked[:passages]
            ],
            "sentences": [
                {"p": position[s.passage], "text": s.text, "score": s.score,
                 "gold": holds_gold((hits[s.passage].chunk.article_id, s.start, s.end), gold)}
                for s in sentences if s.passage in position
            ],
        })
    return cases


def reader_alone(cases: list[dict], logits: list[np.ndarray]) -> float:
    """Share of the cases whose best-read sentence (by logit alone) holds a gold answer."""
    return float(np.mean([c["sentences"][int(np.argmax(v))]["gold"] if len(v) else 0.0 for c, v in zip(cases, logits)]))


def training_pairs(cases: list[dict], rng: random.Random) -> list[tuple[str, str, float]]:
    """Up to two positives and seven negatives (four hardest, three at random) per question."""
    pairs = []
    for case in cases:
        positives = [s for s in case["sentences"] if s["gold"]]
        negatives = sorted((s for s in case["sentences"] if not s["gold"]), key=lambda s: -s["score"])
        chosen = negatives[:4] + rng.sample(negatives[4:], min(3, len(negatives[4:])))
        pairs += [(case["question"], s["text"], 1.0) for s in positives[:2]]
        pairs += [(case["question"], s["text"], 0.0) for s in chosen]
    rng.shuffle(pairs)
    return pairs


def train(model_dir: Path, pairs, batch: int, lr: float):
    """The LoRA-adapted model and head after one epoch over ``pairs``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = get_peft_model(AutoModel.from_pretrained(str(model_dir), local_files_only=True), LoraConfig(**LORA))
    head = torch.nn.Linear(model.config.hidden_size, 1)
    adapted = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        [{"params": adapted, "lr": lr}, {"params": head.parameters(), "lr": 2 * lr}], weight_decay=0.01
    )
    steps = math.ceil(len(pairs) / batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda i: min(1.0, (i + 1) / 50) * max(0.0, 1 - i / steps))
    loss_of = torch.nn.BCEWithLogitsLoss()
    model.train()
    started, running = time.time(), 0.0
    for step in range(steps):
        part = pairs[step * batch : (step + 1) * batch]
        encoded = tokenizer([p[0] for p in part], [p[1] for p in part], return_tensors="pt", padding=True,
                            truncation="only_second", max_length=128)
        hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        logits = head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)
        loss = loss_of(logits, torch.tensor([p[2] for p in part]))
        loss.backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        running = 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            print(f"  step {step + 1}/{steps}, loss {running / (1 - 0.98 ** (step + 1)):.4f},"
                  f" {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return model, head


def adapter_tensors(model, head) -> dict[str, np.ndarray]:
    """peft's LoRA matrices renamed for qa.search.reader (``<weight name>.lora_A`` / ``.lora_B``), and the head."""
    from qa.search.reader import LORA_A, LORA_B

    tensors = {}
    for name, tensor in model.state_dict().items():
        for part, suffix in ((".lora_A.default.weight", LORA_A), (".lora_B.default.weight", LORA_B)):
            if name.endswith(part):
                base = name.removeprefix("base_model.model.").removesuffix(part) + ".weight"
                tensors[base + suffix] = tensor.detach().numpy()
    tensors["head.weight"] = head.weight.detach().numpy()
    tensors["head.bias"] = head.bias.detach().numpy()
    return tensors


def combine(cases: list[dict], logits: list[np.ndarray], answer_passages: int) -> tuple[float, float]:
    """(passage_weight, sentence_weight), each the ratio of two coefficients fitted listwise."""
    matrices, golds = [], []
    for case, values in zip(cases, logits):
        best = best_logits(case, values)
        gold = np.array([p["gold"] for p in case["passages"]], dtype=float)
        if gold.any() and not gold.all():
            matrices.append(np.array([[p["score"], b] for p, b in zip(case["passages"], best)]))
            golds.append(gold)
    a, b = fit(matrices, golds, 1e-4)
    if a <= 0:
        raise SystemExit(
            f"the re-rank score got weight {a:.4f} beside the reader: the reader replaces it, not refines it"
        )
    passage_weight = b / a
    matrices, golds = [], []
    for case, values in zip(cases, logits):
        order = ordered(case, values, passage_weight)
        shown = {p for p in order[:answer_passages]}
        rows = [(s, v) for s, v in zip(case["sentences"], values) if s["p"] in shown]
        gold = np.array([s["gold"] for s, _ in rows], dtype=float)
        if gold.any() and not gold.all():
            matrices.append(np.array([[v, s["score"]] for s, v in rows]))
            golds.append(gold)
    a, b = fit(matrices, golds, 1e-4)
    if a <= 0:
        raise SystemExit(f"the reader's logit got weight {a:.4f} for the answer sentence: it does not help")
    return passage_weight, b / a


def best_logits(case: dict, values: np.ndarray) -> list[float]:
    """Each passage's best sentence logit (-20, far below any seen, for one with no sentence)."""
    return [max((v for s, v in zip(case["sentences"], values) if s["p"] == i), default=-20.0)
            for i in range(len(case["passages"]))]


def ordered(case: dict, values: np.ndarray, passage_weight: float) -> list[int]:
    """The passages' positions by re-rank score + passage_weight x best logit."""
    best = best_logits(case, values)
    totals = [p["score"] + passage_weight * b for p, b in zip(case["passages"], best)]
    return sorted(range(len(totals)), key=lambda i: (-totals[i], i))


def measure(cases, logits, passage_weight: float, sentence_weight: float, answer_passages: int) -> tuple[float, float]:
    """(hit@1, answer accuracy) of the combination on ``cases``."""
    first = correct = 0
    for case, values in zip(cases, logits):
        order = ordered(case, values, passage_weight)
        first += case["passages"][order[0]]["gold"]
        shown = set(order[:answer_passages])
        rows = [(s, v) for s, v in zip(case["sentences"], values) if s["p"] in shown]
        if rows:
            correct += max(rows, key=lambda r: r[1] + sentence_weight * r[0]["score"])[0]["gold"]
    return first / len(cases), correct / len(cases)


def held_out_figures(reader, held_out: list[dict], answer_passages: int) -> dict:
    """The reader on the held-out questions: the combination weights fitted there, and what they
    give; printed, and returned (rounded to 4 places) for the adapter's metadata."""
    def read(cases: list[dict]) -> list[np.ndarray]:
        return [reader.logits(case["question"], [s["text"] for s in case["sentences"]]) for case in cases]

    logits = read(held_out)
    passage_weight, sentence_weight = combine(held_out, logits, answer_passages)
    before = measure(held_out, [np.zeros(len(c["sentences"])) for c in held_out], 0.0, 1e6, answer_passages)
    after = measure(held_out, logits, passage_weight, sentence_weight, answer_passages)
    alone = reader_alone(held_out, logits)
    print(f"held-out tuning questions ({len(held_out)}): hit@1 {before[0]:.3f} -> {after[0]:.3f},"
          f" answer accuracy {before[1]:.3f} -> {after[1]:.3f}")
    print(f"the reader alone picks a gold sentence: {alone:.3f} of held-out questions")
    print(f"passage_weight {passage_weight:.4f}, sentence_weight {sentence_weight:.4f}")
    return {
        "passage_weight": passage_weight, "sentence_weight": sentence_weight,
        "hit_at_1": [round(before[0], 4), round(after[0], 4)],
        "answer_accuracy": [round(before[1], 4), round(after[1], 4)],
        "reader_alone": round(alone, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--index-dir", type=Path, required=True, help="a SQuAD index built by qa eval --squad")
    parser.add_argument("--train", type=int, default=4000, help="questions that train (the rest choose the weights)")
    parser.add_argument(
        "--questions", type=int, default=None, help="use a seeded sample of the tuning half (a trial run)"
    )
    parser.add_argument("--passages", type=int, default=5, help="passages read, from the first after the re-rank")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--measure", type=Path, metavar="ADAPTER",
                        help="train nothing: print the held-out figures of this adapter"
                             " (e.g. qa/search/reader.safetensors)")
    parser.add_argument("--write", action="store_true", help="write qa/search/reader.safetensors")
    args = parser.parse_args()

    import torch

    from qa.config import settings_from_env
    from qa.embed.model import model_fingerprint
    from qa.eval.datasets import load_squad, squad_questions
    from qa.eval.indexes import CachingEmbedder, default_embedder, prime
    from qa.eval.questions import sample_questions
    from qa.indexing.faiss_store import FaissStore
    from qa.search.reader import ADAPTER, Reader
    from qa.search.searcher import Searcher

    torch.set_num_threads(2)
    settings = settings_from_env()
    model_dir = settings.resolved_model_dir()
    store = FaissStore.load(args.index_dir)
    questions = sample_questions(squad_questions(load_squad(args.squad), "first"), args.questions)
    searcher = Searcher(store, CachingEmbedder(default_embedder(settings)), settings.search, abstain=False)
    prime(searcher, [question.question for question in questions], progress=True)
    cases = collect(store, searcher, questions, 20, args.passages)
    rng = random.Random(0)
    order = list(range(len(cases)))
    rng.shuffle(order)
    held_out = [cases[i] for i in order[args.train :]]
    if args.measure:
        with tempfile.TemporaryDirectory() as folder:
            held_out_figures(Reader(model_dir, Path(folder) / "cache", args.measure, threads=2), held_out,
                             settings.search.answer_passages)
        return 0
    training = [cases[i] for i in order[: args.train]]
    pairs = training_pairs(training, rng)
    print(f"{len(training)} questions train ({len(pairs)} pairs), {len(held_out)} are held out", file=sys.stderr)
    started = time.time()
    model, head = train(model_dir, pairs, args.batch, args.lr)
    minutes = (time.time() - started) / 60
    tensors = adapter_tensors(model, head)
    metadata = {
        "model": model_fingerprint(model_dir),  # qa.search.reader uses the adapter only on this model
        "scale": str(LORA["lora_alpha"] / LORA["r"]),
        "lora": json.dumps(LORA),
        "combine": json.dumps({"passages": args.passages, "passage_weight": 1.0, "sentence_weight": 3.0}),
    }
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / "reader.safetensors"
        write_adapter(trial, tensors, metadata)
        figures = held_out_figures(Reader(model_dir, Path(folder) / "cache", trial, threads=2), held_out,
                                   settings.search.answer_passages)
    print(f"trained in {minutes:.1f} min")
    if args.write:
        metadata["combine"] = json.dumps({
            "passages": args.passages, "passage_weight": round(figures["passage_weight"], 4),
            "sentence_weight": round(figures["sentence_weight"], 4),
        })
        metadata["fit"] = json.dumps({
            "command": "python " + " ".join(sys.argv),
            "date": date.today().isoformat(),
            "data": "SQuAD v1.1 dev, questions of the first 24 articles, top 5 passages after the re-rank",
            "train_questions": len(training), "pairs": len(pairs), "held_out": len(held_out),
            **{f"held_out_{name}": value for name, value in figures.items() if "weight" not in name},
            "minutes": round(minutes, 1),
        })
        write_adapter(ADAPTER, tensors, metadata)
        print(f"wrote {ADAPTER}")
    return 0


def write_adapter(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write the adapter (float16: the merge is done in float32, the int8 export is coarser)."""
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(array, dtype=np.float16) for name, array in tensors.items()},
              str(path), metadata=metadata)


if __name__ == "__main__":
    sys.exit(main())

