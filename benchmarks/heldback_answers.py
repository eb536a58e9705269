"""Answers end to end on the held-back tuning articles: the figures that choose a reader.

Tuning data only: every question (answerable and unanswerable) of the five SQuAD 2.0 dev
tuning-half articles that no reader trained on (benchmarks/reader_data.squad2_split:
Computational_complexity_theory, Victoria_(Australia), Oxygen, Amazon_rainforest,
Packet_switching), asked with the shipped searcher (re-rank, reader, abstention) over the corpus
of all 35 SQuAD 2.0 articles (qa eval --squad's index), and scored as qa eval scores: the answer
sentence right (not refused and holding a gold answer), answerable refused, unanswerable caught,
and SQuAD's official EM / F1 over the answerable questions (the span when shown, else the
sentence, "" when refused). --reader ADAPTER reads with another adapter (a candidate from
benchmarks/train_reader.py --out) and its combine weights instead of the shipped one. --terse asks
each question as typed into a search box (reader_data.terse, seeded by the question's id).

    python benchmarks/heldback_answers.py --index-dir DIR [--reader ADAPTER] [--sample N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import held_back_questions, shipped_searcher  # noqa: E402
from reader_data import SQUAD2_DEV, terse  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=SQUAD2_DEV)
    parser.add_argument("--index-dir", type=Path, default=Path(".qa-eval/dev-v2.0"))
    parser.add_argument("--reader", type=Path, metavar="ADAPTER", help="read with this adapter (default: shipped)")
    parser.add_argument("--sample", type=int, help="a fixed sample of N of those questions (qa eval's --sample)")
    parser.add_argument("--out", type=Path, help="each question's outcome, as JSON lines")
    parser.add_argument("--terse", action="store_true",
                        help="ask each question tersely, as typed into a search box (reader_data.terse)")
    args = parser.parse_args(argv)

    import numpy as np
    from tqdm import tqdm

    from qa.eval.answers import official_scores, prediction
    from qa.eval.datasets import load_squad
    from qa.eval.gold import answer_span, gold_occurrences, holds_gold
    from qa.search.reader import ADAPTER

    squad = load_squad(args.squad)
    store, searcher = shipped_searcher(squad.corpus, args.squad, args.index_dir, adapter=args.reader)
    if searcher.reader is None:
        print("the reader is needed", file=sys.stderr)
        return 1
    questions = held_back_questions(squad, args.sample)
    rows = []
    for question in tqdm(questions, desc="asking", file=sys.stderr, mininterval=10):
        asked = terse(question.question, random.Random(question.id)) if args.terse else question.question
        result = searcher.ask(asked, 5)
        predicted, is_span = prediction(result)
        row = {"id": question.id, "question": asked, "answerable": question.answerable,
               "abstained": result.abstained, "prediction": predicted, "span": is_span}
        if question.answerable:
            gold = gold_occurrences(question, store.articles)
            row["right"] = (not result.abstained and result.answer is not None
                            and holds_gold(answer_span(result.answer), gold))
            row["exact"], row["f1"] = official_scores([a.text for a in question.answers], predicted)
        rows.append(row)
    if args.out:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    answerable = [row for row in rows if row["answerable"]]
    unanswerable = [row for row in rows if not row["answerable"]]

    def mean(values) -> float:
        return float(np.mean(values)) if values else float("nan")

    asked = "; asked tersely" if args.terse else ""
    print(f"reader: {args.reader or ADAPTER}{asked}; {len(answerable)} answerable and {len(unanswerable)}"
          " unanswerable questions of the held-back tuning articles")
    print("| answer sentence right | answerable refused | unanswerable caught | HasAns EM | HasAns F1 |")
    print("|--:|--:|--:|--:|--:|")
    print(f"| {mean([r['right'] for r in answerable]):.3f} | {mean([r['abstained'] for r in answerable]):.3f}"
          f" | {mean([r['abstained'] for r in unanswerable]):.3f} | {mean([r['exact'] for r in answerable]):.3f}"
          f" | {mean([r['f1'] for r in answerable]):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
