"""The SQuAD v1.0 train paragraphs each round of benchmarks/data/squad-train-rewritten.jsonl was
written over (benchmarks/data/README.md, "Paragraphs"), drawn again with the same seeds.

    python benchmarks/draw_rewritten_paragraphs.py --round 3 > round3.json    # what its writers got
    python benchmarks/draw_rewritten_paragraphs.py --check                     # every round against the file

Each round shuffles the articles' order (round one with ``random.Random(23)``; each later round
shuffles round one's order again with its own seed) and takes, in that order, one eligible
paragraph per article (500 to 1,100 characters, at least 4 sentences by qa's splitter) not taken
by an earlier round, drawn with the round's generator, until 240.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reader_data import SQUAD_TRAIN, load_json, sentences_of  # noqa: E402
from rewritten_examples import QUESTIONS, read_questions  # noqa: E402

from qa.eval.datasets import squad_title  # noqa: E402

SEEDS = (23, 2323, 232323, 23232323)  # rounds 1, 2, 3, 4
PER_ROUND = 240


def eligible(context: str) -> bool:
    return 500 <= len(context) <= 1100 and len(sentences_of(context)) >= 4


def draw(articles: list[dict], rounds: int) -> list[list[tuple[str, int]]]:
    """(title, paragraph index) of each of the first ``rounds`` rounds."""
    first_order = list(range(len(articles)))
    taken: set[tuple[str, int]] = set()
    drawn = []
    for number, seed in enumerate(SEEDS[:rounds]):
        rng = random.Random(seed)
        order = list(first_order)
        rng.shuffle(order)
        if number == 0:
            first_order = order
        picked: list[tuple[str, int]] = []
        for a in order:
            title = articles[a]["title"]
            paragraphs = articles[a]["paragraphs"]
            free = [i for i, p in enumerate(paragraphs) if (title, i) not in taken and eligible(p["context"])]
            if free:
                picked.append((title, rng.choice(free)))
                taken.add(picked[-1])
            if len(picked) == PER_ROUND:
                break
        drawn.append(picked)
    return drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--round", type=int, choices=range(1, len(SEEDS) + 1), default=len(SEEDS))
    parser.add_argument("--check", action="store_true", help="compare every round with the committed questions")
    args = parser.parse_args(argv)
    articles = load_json(SQUAD_TRAIN)["data"]
    if args.check:
        rows = read_questions(QUESTIONS)
        written = list(dict.fromkeys((row["article"], row["paragraph"]) for row in rows))
        drawn = [key for picked in draw(articles, len(SEEDS)) for key in picked]
        print("same paragraphs, in order" if written == drawn else "the committed questions differ from the draw")
        return 0 if written == drawn else 1
    by_title = {article["title"]: article for article in articles}
    picked = draw(articles, args.round)[-1]
    json.dump([{"article": title, "paragraph": i, "title": squad_title(title),
                "context": by_title[title]["paragraphs"][i]["context"]} for title, i in picked], sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
