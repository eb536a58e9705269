"""Choose READER_ANSWERS (qa/search/answer.py): the reader logit above which a sentence of the
kind a typed question asks for ("how many", "when", "how old", ...) counts as answering, so that
it is preferred over a better-scored sentence without that kind of answer (the type steers; it
does not veto).

Tuning data only: the typed questions of SQuAD 2.0 dev's 17 articles that lie among SQuAD v1.1
dev's first 24 (answerable and unanswerable), over the corpus of all 35 SQuAD 2.0 articles.
Each question is asked once with the shipped searcher (re-rank, reader, abstention); its scored
sentences are kept, and the choice and qa's whole abstention decision are replayed for every
threshold. The threshold kept is the one under which the most answerable questions get an answer
sentence that holds a gold span: the shipped READER_ANSWERS when it is among those, else the
highest of them. (With reader v3 every threshold gets the same 0.821 right, so -3.5 stays:
each higher one refuses more answerable questions.) The share of unanswerable
questions caught is printed beside it but is not the criterion: steering turns type-check
abstentions into answers, and abstention is to come from reading (issue 16, items 3 and 4), not
from the type check.

    python benchmarks/tune_type_steering.py [--index-dir DIR] [--squad FILE] [--sample N]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQUAD2 = ROOT.parent / "shared" / "datasets" / "squad-v2.0-dev" / "dev-v2.0.json.gz"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import capture_choices, shipped_searcher  # noqa: E402

THRESHOLDS = [None, *(x / 2 for x in range(2, -11, -1))]  # None: no steering (the behaviour before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=SQUAD2)
    parser.add_argument("--index-dir", type=Path, default=Path(".qa-eval/dev-v2.0"))
    parser.add_argument("--sample", type=int, help="a fixed sample of N of those questions (qa eval's --sample)")
    args = parser.parse_args(argv)

    from qa.eval.datasets import load_squad, squad_questions
    from qa.eval.gold import gold_occurrences, holds_gold
    from qa.eval.questions import sample_questions
    from qa.search.answer import READER_ANSWERS, best_sentence
    from qa.search.answer_type import expected_type

    squad = load_squad(args.squad)
    typed = [q for q in squad_questions(squad, "first") if expected_type(q.question) is not None]
    questions = sample_questions(typed, args.sample)
    store, searcher = shipped_searcher(squad.corpus, args.squad, args.index_dir)
    abstainer = searcher.abstainer
    if searcher.reader is None or abstainer is None:
        print("the reader and the abstention model are needed", file=sys.stderr)
        return 1
    captured = capture_choices()
    asked = []
    for number, question in enumerate(questions, start=1):
        result = searcher.ask(question.question, 10)
        hit_of = {old: hit for old, hit in zip(captured["order"], result.hits)}
        asked.append((question, result.signals, dict(captured), hit_of))
        if number % 100 == 0:
            print(f"{number}/{len(questions)} asked", file=sys.stderr)

    print(f"{len(questions)} of the {len(typed)} typed questions of the tuning half"
          f" ({sum(q.answerable for q in questions)} answerable)")
    print("| threshold | answerable right | answerable refused | unanswerable caught | balanced |")
    print("|---|---:|---:|---:|---:|")
    tied: dict[int, list[float]] = {}  # answerable right: the thresholds that give it
    for threshold in THRESHOLDS:
        right = refused = caught = 0
        for question, signals, seen, hit_of in asked:
            chosen = best_sentence(seen["sentences"], seen["order"], seen["n"], answering=threshold)
            if chosen is None or signals is None:
                abstained, holds = True, False
            else:
                changed = replace(
                    signals, sentence=chosen.cosine, typed=float(chosen.typed), answer_coverage=chosen.coverage,
                    reader=chosen.reader if chosen.reader is not None else 0.0,
                )
                abstained = abstainer.abstains(changed)
                article = hit_of[chosen.passage].chunk.article_id
                holds = holds_gold((article, chosen.start, chosen.end), gold_occurrences(question, store.articles))
            if question.answerable:
                right += not abstained and holds
                refused += abstained
            else:
                caught += abstained
        n_answerable = sum(q.answerable for q in questions)
        n_unanswerable = len(questions) - n_answerable
        balanced = (right / n_answerable + caught / n_unanswerable) / 2
        print(f"| {threshold} | {right / n_answerable:.3f} | {refused / n_answerable:.3f}"
              f" | {caught / n_unanswerable:.3f} | {balanced:.4f} |")
        if threshold is not None:
            tied.setdefault(right, []).append(threshold)
    best = tied[max(tied)]
    print(f"chosen READER_ANSWERS = {READER_ANSWERS if READER_ANSWERS in best else max(best)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
