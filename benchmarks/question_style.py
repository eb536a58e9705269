"""How much of the no-answer signal lies in the question alone, set by set.

Abstention reads the reader's logit for the answer sentence (qa/search/abstain.json). The reader
learnt "no answer" partly from near misses written to a few patterns (the article names a
minister, the question asks for the deputy; an age, a fee or a first time the article never
gives: benchmarks/data/README.md). If a set's near misses share that wording, they can be told
from its answerable questions without reading any sentence, and what abstention catches there
overstates what it catches on near misses worded otherwise. For each set, ROC AUC of answerable
against unanswerable questions (0.5: no better than chance) for:

- ``answer sentence``: the reader's logit for the answer sentence qa chose (Signals.reader): the
  signal abstention uses;
- ``question alone``: the reader's logit for the question read with an empty sentence;
- ``question words``: a bag of the question's words (logistic regression), fitted on the second
  round of questions written over SQuAD v1.0 train paragraphs (rw-1441 to rw-2880, no reader's
  training data; on that set itself the figure is in-sample).

Sets, each asked once with the shipped searcher: SQuAD 2.0 dev's five held-back tuning articles
(crowd-written near misses, --squad2-index, qa eval --squad's index), the written second round
over its paragraphs (--written-index, as benchmarks/calibrate_abstention.py --written indexes
it), the BBC News tuning sets, the blind set and the near-miss pairs (eval/bbc-nearmiss.jsonl,
whose near misses are minimal edits of its answerable questions; --bbc-index, qa index of the BBC
corpus) and the seed set (--seeds-index). The two report sets are measured, never tuned on:
nothing here chooses anything.

    python benchmarks/question_style.py --squad2-index DIR --written-index DIR --bbc-index DIR --seeds-index DIR
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import question_sets  # noqa: E402


def auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """ROC AUC of ``scores`` for telling the True labels (answerable) from the False ones."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([int(label) for label in labels], list(scores)))


def question_words(texts: Sequence[str], labels: Sequence[bool]):
    """A bag-of-words logistic model of the question alone (answerable: True); returns the
    function giving its score (higher: more answerable) to other questions."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(lowercase=True, binary=True, min_df=3)
    model = LogisticRegression(C=0.3, max_iter=3000, class_weight="balanced")
    model.fit(vectorizer.fit_transform(texts), [int(label) for label in labels])
    return lambda others: model.decision_function(vectorizer.transform(list(others)))


def read(searcher, questions: Sequence[tuple[str, Sequence[str], bool]]) -> list[tuple[bool, float, float]]:
    """Per question (text, history, answerable): (answerable, the reader's logit for the answer
    sentence, its logit for the question with an empty sentence). Abstention is off so every
    question gets its answer sentence."""
    from tqdm import tqdm

    from qa.text.conversation import contextualize

    searcher.abstainer = None
    rows = []
    for text, history, answerable in tqdm(questions, desc="asking", file=sys.stderr):
        signals = searcher.ask(text, 5, history=list(history)).signals
        alone = float(searcher.reader.logits(contextualize(text, list(history)), [""])[0])
        rows.append((answerable, signals.reader if signals is not None else 0.0, alone))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for corpus in ("squad2", "written", "bbc", "seeds"):  # the sets' indexes (module docstring)
        parser.add_argument(f"--{corpus}-index", type=Path, required=True)
    args = parser.parse_args(argv)

    sets = question_sets({"squad2": args.squad2_index, "written": args.written_index, "bbc": args.bbc_index,
                          "seeds": args.seeds_index}, blind=True)
    if sets["SQuAD 2.0 held-back"][0].reader is None:
        print("the reader is needed", file=sys.stderr)
        return 1
    written = sets["written round 2"][1]
    words = question_words([text for text, _, _ in written], [answerable for _, _, answerable in written])
    print("ROC AUC, answerable against unanswerable questions (0.5: chance); question words fitted on"
          " written round 2 (in-sample there)")
    print("| set | answerable | unanswerable | answer sentence | question alone | question words |")
    print("|---|--:|--:|--:|--:|--:|")
    for name, (searcher, questions) in sets.items():
        labels, read_answer, read_alone = zip(*read(searcher, questions))
        figures = (auc(labels, read_answer), auc(labels, read_alone), auc(labels, words([q for q, _, _ in questions])))
        cells = [name, str(sum(labels)), str(len(labels) - sum(labels)), *(f"{figure:.3f}" for figure in figures)]
        print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
