"""How benchmarks/train_reader.py picks its examples and combines the reader with the re-rank."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from train_reader import combine, measure, ordered, training_pairs  # noqa: E402


def case(scores, gold_passage, sentences):
    """A question's passages (re-rank scores, which one is gold) and sentences (p, score, gold)."""
    return {
        "question": "q",
        "passages": [{"score": s, "gold": i == gold_passage} for i, s in enumerate(scores)],
        "sentences": [
            {"p": p, "text": f"s{j}", "score": score, "gold": gold} for j, (p, score, gold) in enumerate(sentences)
        ],
    }


def test_training_pairs_take_the_positives_the_hardest_negatives_and_some_at_random() -> None:
    sentences = [(0, 1.0, True), (0, 0.9, True), (0, 0.8, True)] + [(1, 0.1 * i, False) for i in range(10)]
    pairs = training_pairs([case([1.0, 0.5], 0, sentences)], random.Random(0))
    positives = [p for p in pairs if p[2] == 1.0]
    negatives = {p[1] for p in pairs if p[2] == 0.0}
    assert len(positives) == 2  # at most two positives
    assert len(negatives) == 7
    hardest = {f"s{j}" for j in (12, 11, 10, 9)}  # the four best-scored negatives
    assert hardest <= negatives


def test_ordered_adds_the_weighted_best_logit() -> None:
    c = case([2.0, 1.0], 0, [(0, 0.0, False), (1, 0.0, True), (1, 0.0, False)])
    logits = np.array([0.0, 3.0, -1.0])
    assert ordered(c, logits, 0.0) == [0, 1]
    assert ordered(c, logits, 0.5) == [1, 0]  # 1 + 0.5 * 3 > 2 + 0.5 * 0


def test_combine_weighs_two_noisy_signals_and_beats_either_alone() -> None:
    rng = np.random.default_rng(0)
    cases, logits = [], []
    for _ in range(300):  # the re-rank score and the logit each lean towards the gold passage
        gold = int(rng.integers(4))
        scores = rng.random(4) + 0.5 * (np.arange(4) == gold)
        sentences = [(p, float(rng.random()), p == gold and k == 0) for p in range(4) for k in range(2)]
        cases.append(case(scores, gold, sentences))
        logits.append(np.array([rng.normal(1.0 if s[2] else -1.0, 1.0) for s in sentences]))
    passage_weight, sentence_weight = combine(cases, logits, answer_passages=2)
    assert passage_weight > 0
    both = measure(cases, logits, passage_weight, sentence_weight, answer_passages=2)
    score_alone = measure(cases, logits, 0.0, sentence_weight, answer_passages=2)
    logit_alone = measure(cases, logits, 1e6, sentence_weight, answer_passages=2)
    assert both[0] > max(score_alone[0], logit_alone[0])


@pytest.mark.parametrize("weight", [0.0, 2.0])
def test_measure_counts_first_passage_and_answer(weight: float) -> None:
    c = case([2.0, 1.0], 1, [(0, 0.9, False), (1, 0.1, True)])
    logits = np.array([0.0, 1.0])
    hit1, accuracy = measure([c], [logits], weight, 0.0, answer_passages=2)
    assert hit1 == (1.0 if weight == 2.0 else 0.0)  # 1 + 2 * 1 > 2 + 2 * 0
    assert accuracy == 1.0  # the best logit is the gold sentence either way


class OverlapReader:
    """A stand-in reader: the logit is the number of the question's words in the sentence."""

    def logits(self, question: str, sentences: list[str]) -> np.ndarray:
        words = set(question.lower().rstrip("?").split())
        return np.array([len(words & set(s.lower().rstrip(".").split())) for s in sentences], dtype=float)


def test_the_held_out_diagnostics_count_what_they_say() -> None:
    from train_reader import reader_alone

    c = case([1.0, 0.5], 0, [(0, 0.0, True), (1, 0.0, False)])
    c["question"] = "who held the second summit"
    c["sentences"][0]["text"] = "Iran held the second summit."
    c["sentences"][1]["text"] = "It rained."
    other = case([1.0], 0, [(0, 0.0, False), (0, 0.0, True)])
    other["sentences"][0]["text"], other["sentences"][1]["text"] = "q q.", "nothing."
    reader = OverlapReader()
    logits = [reader.logits(x["question"], [s["text"] for s in x["sentences"]]) for x in (c, other)]
    assert reader_alone([c, other], logits) == 0.5  # the first picks its gold sentence, the second not
