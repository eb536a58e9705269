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


THESAURUS = {
    "city": ["metropolis", "urban center"],
    "visit": ["call on", "visiting"],  # "visiting" shares the stem visit: never chosen
    "prime_minister": ["premier", "PM"],
    "prime": ["bloom"],
    "minister": ["pastor"],
}


def thesaurus(word: str) -> list[str]:
    return THESAURUS.get(word.lower(), [])


def test_paraphrase_swaps_only_the_words_the_answer_sentence_shares() -> None:
    from reword import paraphrase

    from qa.keyword import analyze

    shared = set(analyze("The delegation visited the city of Karachi and met the prime minister."))
    question = "Which city did Baqeri visit before meeting the prime minister?"
    out = paraphrase(question, shared, random.Random(0), rate=1.0, thesaurus=thesaurus)
    assert out.startswith("Which ") and "Baqeri" in out  # capitalised words are kept
    assert out.split()[1] in ("metropolis", "urban")  # city, shared, is swapped
    assert "call on" in out  # "visiting" shares the stem: not a choice
    assert "meeting" in out  # shared stem "meet", but no synonym known: kept
    assert out.endswith(("the premier?", "the PM?"))  # two words WordNet knows together: one swap
    assert paraphrase(question, shared, random.Random(0), rate=0.0, thesaurus=thesaurus) == question
    assert paraphrase(question, set(), random.Random(0), rate=1.0, thesaurus=thesaurus) == question


def test_reworded_changes_only_the_questions_of_a_share_of_cases() -> None:
    from train_reader import reworded

    gold = case([1.0], 0, [(0, 1.0, True)])
    gold["question"], gold["sentences"][0]["text"] = "which city?", "The city."
    no_gold = case([1.0], None, [(0, 1.0, False)])
    out = reworded([gold, no_gold] * 20, 1.0, random.Random(0), thesaurus)
    questions = {c["question"] for c in out[::2]}
    # each word is swapped with probability 0.8: most, not all, of the 20 are re-worded
    assert questions == {"which city?", "which metropolis?", "which urban center?"}
    assert all(c["sentences"] == gold["sentences"] and c["passages"] == gold["passages"] for c in out[::2])
    assert out[1::2] == [no_gold] * 20  # no gold sentence, nothing to avoid: unchanged
    assert reworded([gold], 0.0, random.Random(0), thesaurus) == [gold]


def opposite(word: str) -> list[str]:
    return {"begin": ["end"], "large": ["small"]}.get(word, [])


def test_contradict_changes_one_shared_detail_to_something_the_sentence_does_not_say() -> None:
    from reword import contradict

    from qa.keyword import analyze

    sentence = "Baqeri's first visit to Pakistan began in 2021 in Karachi, the largest city."
    shared = set(analyze(sentence))
    seen = set()
    for seed in range(40):
        out = contradict(
            "When did Baqeri's first visit to Pakistan begin?",
            shared,
            ["Karachi", "Iran"],
            random.Random(seed),
            opposite=opposite,
        )
        seen.add(out)
    # "first": another ordinal; "Pakistan": another name, never one the sentence holds (Karachi);
    # "begin" is not shared ("began" stems apart), so it stays; "Baqeri" opens no sentence but
    # is a name the question and sentence share: swapped too ("Iran's").
    assert "When did Baqeri's first visit to Iran begin?" in seen
    assert "When did Iran's first visit to Pakistan begin?" in seen
    assert any(o and o.startswith("When did Baqeri's second visit") for o in seen)
    assert all(o and "Karachi" not in o and o.count(" ") == 7 for o in seen)  # one word changed
    # numbers in digits are left alone; "won" has no antonym here: nothing to change
    assert contradict("Who won in 2021?", set(analyze("They won in 2021.")), [], random.Random(0),
                      opposite=opposite) is None
    assert contradict("What is large?", {"larg"}, [], random.Random(0), opposite=opposite) == "What is small?"
    assert contradict("Who spoke?", set(analyze("Nobody spoke.")), [], random.Random(0), opposite=opposite) is None


def test_contradictions_pair_the_changed_question_with_its_answer_sentence() -> None:
    from train_reader import contradictions

    c = case([1.0], 0, [(0, 1.0, True), (0, 0.5, False)])
    c["question"] = "Which city hosted the second summit?"
    c["sentences"][0]["text"] = "The second summit was held in the city of Lahore."
    c["sentences"][1]["text"] = "Delegates flew in from Tehran."
    pairs = contradictions([c] * 10, 1.0, random.Random(0), opposite=opposite)
    assert len(pairs) == 10 and all(label == 0.0 and text == c["sentences"][0]["text"] for _, text, label in pairs)
    assert {question for question, _, _ in pairs} <= {
        f"Which city hosted the {ordinal} summit?" for ordinal in
        "first third fourth fifth sixth seventh eighth ninth tenth last".split()
    }
    assert contradictions([case([1.0], None, [(0, 1.0, False)])], 1.0, random.Random(0), opposite=opposite) == []


class OverlapReader:
    """A stand-in reader: the logit is the number of the question's words in the sentence."""

    def logits(self, question: str, sentences: list[str]) -> np.ndarray:
        words = set(question.lower().rstrip("?").split())
        return np.array([len(words & set(s.lower().rstrip(".").split())) for s in sentences], dtype=float)


def test_the_held_out_diagnostics_count_what_they_say() -> None:
    from train_reader import detail_sensitivity, reader_alone

    c = case([1.0, 0.5], 0, [(0, 0.0, True), (1, 0.0, False)])
    c["question"] = "who held the second summit"
    c["sentences"][0]["text"] = "Iran held the second summit."
    c["sentences"][1]["text"] = "It rained."
    other = case([1.0], 0, [(0, 0.0, False), (0, 0.0, True)])
    other["sentences"][0]["text"], other["sentences"][1]["text"] = "q q.", "nothing."
    reader = OverlapReader()
    logits = [reader.logits(x["question"], [s["text"] for s in x["sentences"]]) for x in (c, other)]
    assert reader_alone([c, other], logits) == 0.5  # the first picks its gold sentence, the second not
    # "second" -> another ordinal: one shared word fewer, a lower logit, every time
    assert detail_sensitivity(reader, [c] * 5, random.Random(0), opposite=opposite) == 1.0
