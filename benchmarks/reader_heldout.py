"""How the reader does on held-out SQuAD v1.1 dev tuning questions, read through qa's own
retrieval (benchmarks/train_reader.py): the weights that combine it with the re-rank, the span
threshold, and the figures recorded in the adapter's metadata (tuning-half figures, not results).

A case is one question: ``answers`` (its gold texts), the first passages after the re-rank
(``score``, ``gold``) and their sentences (passage position ``p``, ``text``, ``score``, ``gold``).
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_rerank import fit  # noqa: E402  (the listwise fit, shared)

PUNCTUATION = frozenset(string.punctuation)
V1_TRAINED = 4000  # reader version 1 trained on the first 4,000 of its seed-0 shuffle of the tuning questions


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
            "answers": sorted({answer.text for answer in question.answers}),
            "passages": [
                {"score": hit.score, "gold": holds_gold(chunk_span(hit.chunk), gold)} for hit in reranked[:passages]
            ],
            "sentences": [
                {"p": position[s.passage], "text": s.text, "t": hits[s.passage].title, "score": s.score,
                 "gold": holds_gold((hits[s.passage].chunk.article_id, s.start, s.end), gold)}
                for s in sentences if s.passage in position
            ],
        })
    return cases


def reader_alone(cases: list[dict], logits: list[np.ndarray]) -> float:
    """Share of the cases whose best-read sentence (by logit alone) holds a gold answer."""
    return float(np.mean([c["sentences"][int(np.argmax(v))]["gold"] if len(v) else 0.0 for c, v in zip(cases, logits)]))


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


def chosen(case: dict, values: np.ndarray, passage_weight: float, sentence_weight: float,
           answer_passages: int) -> int | None:
    """The index of the answer sentence the combination picks (None when no passage has one)."""
    shown = set(ordered(case, values, passage_weight)[:answer_passages])
    rows = [i for i, s in enumerate(case["sentences"]) if s["p"] in shown]
    return max(rows, key=lambda i: values[i] + sentence_weight * case["sentences"][i]["score"]) if rows else None


def normalize_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, no a/an/the, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact_and_f1(prediction: str, answers: list[str]) -> tuple[float, float]:
    """SQuAD's exact match and token F1 of ``prediction``, the best over the gold ``answers``."""
    best = (0.0, 0.0)
    for answer in answers:
        guess, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
        common = sum((Counter(guess) & Counter(gold)).values())
        f1 = 0.0 if common == 0 else 2 * common / (len(guess) + len(gold))
        best = max(best, (float(guess == gold), f1))
    return best


def span_threshold(scores: list[float], f1s: list[float]) -> float:
    """The span score from which a span is shown: the one maximising the sum of (F1 - 1/2) over
    the spans shown, so a span is shown where spans are more often right than wrong."""
    values = np.asarray(scores, dtype=float)
    order = np.argsort(-values, kind="stable")
    gains = np.cumsum(np.asarray(f1s, dtype=float)[order] - 0.5)
    if not len(gains) or gains.max() <= 0:
        return float("inf")
    return float(values[order][int(np.argmax(gains))])


def held_out_figures(reader, held_out: list[dict], answer_passages: int) -> dict:
    """The reader on the held-out tuning questions: the combination weights and the span
    threshold chosen there, and what they give; printed, and returned for the metadata."""
    started = time.perf_counter()
    read = [reader.read(case["question"], [s["text"] for s in case["sentences"]],
                        [s.get("t") for s in case["sentences"]]) for case in held_out]
    ms = 1000 * (time.perf_counter() - started) / len(held_out)
    logits = [values for values, _ in read]
    passage_weight, sentence_weight = combine(held_out, logits, answer_passages)
    before = measure(held_out, [np.zeros(len(c["sentences"])) for c in held_out], 0.0, 1e6, answer_passages)
    after = measure(held_out, logits, passage_weight, sentence_weight, answer_passages)
    alone = reader_alone(held_out, logits)
    scores, em, f1, right = [], [], [], []
    for case, (values, spans) in zip(held_out, read):
        index = chosen(case, values, passage_weight, sentence_weight, answer_passages)
        span = spans[index] if index is not None else None
        e, f = exact_and_f1(case["sentences"][index]["text"][span[0] : span[1]], case["answers"]) if span else (0, 0)
        scores.append(span[2] if span else -np.inf)
        em.append(e)
        f1.append(f)
        right.append(bool(index is not None and case["sentences"][index]["gold"]))
    threshold = span_threshold(scores, f1)
    em, f1, right = np.asarray(em, dtype=float), np.asarray(f1, dtype=float), np.asarray(right)
    shown = np.asarray(scores) >= threshold

    def pair(mask) -> list[float]:
        return [round(float(em[mask].mean()), 4), round(float(f1[mask].mean()), 4)] if mask.any() else [0.0, 0.0]

    figures = {
        "passage_weight": passage_weight, "sentence_weight": sentence_weight, "span_threshold": threshold,
        "hit_at_1": [round(before[0], 4), round(after[0], 4)],
        "answer_accuracy": [round(before[1], 4), round(after[1], 4)],
        "reader_alone": round(alone, 4),
        "span_em_f1_always_shown": pair(np.ones(len(em), dtype=bool)),
        "span_em_f1_right_sentence": pair(right),
        "span_shown": round(float(shown.mean()), 4),
        "span_em_f1_at_threshold": [round(float((em * shown).mean()), 4), round(float((f1 * shown).mean()), 4)],
        "span_em_f1_when_shown": pair(shown),
        "reader_ms_per_question": round(ms, 1),
    }
    print(f"held-out tuning questions ({len(held_out)}; tuning-half figures, not results):"
          f" hit@1 {before[0]:.3f} -> {after[0]:.3f}, answer accuracy {before[1]:.3f} -> {after[1]:.3f}")
    print(f"the reader alone picks a gold sentence: {alone:.3f} of held-out questions")
    print(f"passage_weight {passage_weight:.4f}, sentence_weight {sentence_weight:.4f}, span threshold {threshold:.3f}")
    for name, value in figures.items():
        if name.startswith("span_") or name.startswith("reader_ms"):
            print(f"{name}: {value}")
    return figures


def held_out_cases(args, unseen_by_v1: bool = False) -> list[dict]:
    """The held-out tuning questions read through qa's retrieval (a seeded sample of --held-out
    questions of SQuAD v1.1 dev's first 24 articles), cached in --run-dir. ``unseen_by_v1``:
    only those reader version 1 held out of its training too (the 1,696 it did not train on:
    its seed-0 shuffle of the 5,696 questions, past the first 4,000), for a reader that starts
    from version 1 (--init)."""
    from qa.eval.datasets import load_squad, squad_questions
    from qa.eval.questions import sample_questions

    everything = squad_questions(load_squad(args.squad), "first")
    questions = sample_questions(everything, args.held_out)
    cache = args.run_dir / f"held-out-{args.held_out}-{args.passages}.json"
    cases = json.loads(cache.read_text()) if cache.is_file() else []
    if not cases or not all("t" in s for case in cases for s in case["sentences"]):  # or cached without titles
        cases = collect_cases(args, questions)
        args.run_dir.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(cases))
    if not unseen_by_v1:
        return cases
    order = list(range(len(everything)))
    random.Random(0).shuffle(order)
    unseen = {everything[i].id for i in order[V1_TRAINED:]}
    return [case for case, question in zip(cases, questions) if question.id in unseen]


def collect_cases(args, questions) -> list[dict]:
    if args.index_dir is None:
        raise SystemExit("--index-dir is needed: a SQuAD index built by qa eval --squad ... --articles first")
    from qa.config import settings_from_env
    from qa.eval.indexes import CachingEmbedder, default_embedder, prime
    from qa.indexing.faiss_store import FaissStore
    from qa.search.searcher import Searcher

    settings = settings_from_env()
    store = FaissStore.load(args.index_dir)
    searcher = Searcher(store, CachingEmbedder(default_embedder(settings)), settings.search, abstain=False)
    prime(searcher, [question.question for question in questions], progress=True)
    return collect(store, searcher, questions, 20, args.passages)


def answer_passages() -> int:
    from qa.config import settings_from_env

    return settings_from_env().search.answer_passages


