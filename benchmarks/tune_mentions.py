"""Measure the numbers check (qa/search/mentions.py): qa abstains when the question gives a
number that none of the three passages competing for the answer mentions; and the same check
with names (capitalised words) too, which is not shipped.

Tuning data only: every question (answerable and unanswerable) of the five SQuAD 2.0 dev
tuning-half articles that the reader never trained on (benchmarks/reader_data.squad2_split:
Computational_complexity_theory, Victoria_(Australia), Oxygen, Amazon_rainforest,
Packet_switching), over the corpus of all 35 SQuAD 2.0 articles (qa eval --squad's index). Each
question is asked once with the shipped searcher (re-rank, reader, abstention); the first three
passages' terms are kept, and qa's whole abstention decision is replayed with each variant of the
check in place of the shipped one: off, names and numbers matched exactly, with a name's first
N letters enough, numbers only, names only, and anywhere in the articles of the three passages
rather than in the passages. For each: unanswerable questions caught, answerable refused.

    python benchmarks/tune_mentions.py [--index-dir DIR] [--sample N]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import held_back_questions, shipped_searcher  # noqa: E402
from reader_data import SQUAD2_DEV  # noqa: E402

# (label, prefix letters that match a name (0: exactly), names count, numbers count, where: the
# three passages, or the whole articles they are from)
VARIANTS = (
    ("names and numbers, exact", 0, True, True, "passages"),
    ("names and numbers, a name's first 4 letters", 4, True, True, "passages"),
    ("names and numbers, a name's first 5 letters", 5, True, True, "passages"),
    ("names and numbers, a name's first 6 letters", 6, True, True, "passages"),
    ("numbers only (shipped)", 4, False, True, "passages"),
    ("names only, first 4 letters", 4, True, False, "passages"),
    ("names and numbers, first 4 letters, anywhere in the passages' articles", 4, True, True, "articles"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=SQUAD2_DEV)
    parser.add_argument("--index-dir", type=Path, default=Path(".qa-eval/dev-v2.0"))
    parser.add_argument("--sample", type=int, help="a fixed sample of N of those questions (qa eval's --sample)")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from qa.eval.datasets import load_squad
    from qa.search.mentions import has_digit, unmentioned
    from qa.text.terms import analyze

    squad = load_squad(args.squad)
    questions = held_back_questions(squad, args.sample)
    store, searcher = shipped_searcher(squad.corpus, args.squad, args.index_dir)
    abstainer = searcher.abstainer
    if searcher.reader is None or abstainer is None:
        print("the reader and the abstention model are needed", file=sys.stderr)
        return 1
    passages = searcher.settings.answer_passages
    asked = []
    for question in tqdm(questions, desc="asking", file=sys.stderr, mininterval=5):
        result = searcher.ask(question.question, max(5, passages))
        first = result.hits[:passages]
        terms = {
            "passages": set().union(*(analyze(hit.chunk.text) for hit in first)),
            "articles": set().union(*(analyze(store.articles[hit.chunk.article_id].text) for hit in first)),
        }
        asked.append((question, result.signals, terms))

    n_answerable = sum(q.answerable for q in questions)
    n_unanswerable = len(questions) - n_answerable
    print(f"{len(questions)} questions of the five held-back tuning articles ({n_answerable} answerable)")
    print("| check | unanswerable caught | answerable refused |")
    print("|---|--:|--:|")
    for label, prefix, names, numbers, where in (("off", 0, False, False, "passages"), *VARIANTS):
        caught = refused = 0
        for question, signals, terms in asked:
            if signals is None:  # no passage at all: qa abstains whatever the check says
                abstained = True
            else:
                words = unmentioned(question.question, terms[where], names=True, prefix=prefix)
                count = sum(numbers if has_digit(word) else names for word in words)
                abstained = abstainer.abstains(replace(signals, unmentioned=float(count)))
            refused += question.answerable and abstained
            caught += not question.answerable and abstained
        print(f"| {label} | {caught / n_unanswerable:.3f} | {refused / n_answerable:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
