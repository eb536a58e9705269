"""The reader's examples from questions re-written over SQuAD v1.0 train paragraphs
(benchmarks/train_reader.py --extra).

SQuAD's own questions were written with the paragraph in view and copy its words; qa's users ask
in their own words, tersely, about sentences that name their subject as "he" or "the club", and
ask near misses the text cannot answer. ``benchmarks/data/squad-train-rewritten.jsonl`` holds
questions of those kinds, written for 960 paragraphs of SQuAD v1.0 train (drawn with fixed seeds:
benchmarks/data/README.md; training data only, nothing of SQuAD dev or BBC News),
six a paragraph: two paraphrases that share few words with the answer sentence, a terse query, a
when / how-many question, a question about a sentence that names its subject by a pronoun, and a
near-miss question the paragraph does not answer (``answer`` null). Each line:
``{"id", "article": SQuAD title, "paragraph": its index in the article, "kind", "question",
"answer": text copied from the paragraph, or null}``.

Examples (reader_data's format), split by qa's own sentence splitter:

- ``rwpos``: the sentence holding the answer (its first occurrence inside one sentence), with the
  answer's span;
- ``rwpara``: the paragraph's other sentence BM25 ranks highest for the question, and one more at
  random; ``rwbm25``: the two of the article's other paragraphs BM25 ranks highest. A sentence
  holding the answer's text is never a negative;
- ``rwnoans``: for a near-miss question, the paragraph's two sentences BM25 ranks highest, and
  the article's best other one, all label 0. The writers checked that the paragraph does not
  answer it, not the rest of the article, so that third sentence may now and then answer (label
  noise, one example in three of this kind).

    python benchmarks/rewritten_examples.py --out REWRITTEN.jsonl.gz [--first 1440] [--skip 2880]

``--first 1440`` takes the first round's questions only (rw-0001 to rw-1440): what reader
version 11 trained on; ``--skip 2880 --first 4320`` the third round's (rw-2881 to rw-4320), version
13's; ``--skip 4320`` the fourth's (rw-4321 to rw-5760). (``--first`` counts from the file's start.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reader_data import SQUAD_TRAIN, ArticleBM25, load_json, sentences_of  # noqa: E402

from qa.eval.datasets import squad_title  # noqa: E402

QUESTIONS = Path(__file__).with_name("data") / "squad-train-rewritten.jsonl"


def read_questions(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if not {"id", "article", "paragraph", "kind", "question", "answer"} <= row.keys():
            raise SystemExit(f"{path}: {row.get('id', row)} lacks a field")
    return rows


def examples_for(
    question: dict, paragraphs: list[str], bm25: ArticleBM25, title: str, rng: random.Random
) -> list[dict]:
    """The examples of one re-written question (module docstring); [] when its answer is not found
    inside one sentence of its paragraph."""
    import numpy as np

    p, asked, answer = question["paragraph"], question["question"], question["answer"]
    context = paragraphs[p]
    spans = sentences_of(context)
    scores = bm25.scores(asked)
    ranked = [int(i) for i in np.argsort(-scores, kind="stable")]
    first = bm25.paragraph.index(p)

    def example(text: str, label: int, kind: str, span: list[int] | None = None) -> dict:
        return {"q": asked, "s": text, "t": title, "label": label, "a": span, "kind": kind}

    in_paragraph = [i - first for i in ranked if bm25.paragraph[i] == p]
    elsewhere = [i for i in ranked if bm25.paragraph[i] != p]
    if answer is None:
        return ([example(context[slice(*spans[i])], 0, "rwnoans") for i in in_paragraph[:2]]
                + [example(bm25.texts[i], 0, "rwnoans") for i in elsewhere[:1]])
    gold = next((i for i, (s, e) in enumerate(spans) if answer in context[s:e]), None)
    if gold is None:
        return []
    s0, e0 = spans[gold]
    start = context.index(answer, s0)
    rows = [example(context[s0:e0], 1, "rwpos", [start - s0, start - s0 + len(answer)])]
    same = [i for i in in_paragraph if i != gold and answer not in context[slice(*spans[i])]]
    if same:
        picked = [same[0]] + rng.sample(same[1:], min(1, len(same) - 1))
        rows += [example(context[slice(*spans[i])], 0, "rwpara") for i in picked]
    rows += [example(bm25.texts[i], 0, "rwbm25") for i in [i for i in elsewhere if answer not in bm25.texts[i]][:2]]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--train-data", type=Path, default=SQUAD_TRAIN)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, metavar="N", help="only the file's first N questions")
    parser.add_argument("--skip", type=int, default=0, metavar="N", help="leave out the file's first N questions")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    by_title = {article["title"]: article for article in load_json(args.train_data)["data"]}
    questions = read_questions(args.questions)[args.skip : args.first]
    unknown = sorted({q["article"] for q in questions} - by_title.keys())
    if unknown:
        raise SystemExit(f"not articles of {args.train_data}: {', '.join(unknown)}")
    rng = random.Random(args.seed)
    examples, lost = [], []
    indexed: dict[str, ArticleBM25] = {}
    for question in questions:
        article = by_title[question["article"]]
        paragraphs = [para["context"] for para in article["paragraphs"]]
        if question["article"] not in indexed:
            indexed[question["article"]] = ArticleBM25(paragraphs)
        bm25 = indexed[question["article"]]
        made = examples_for(question, paragraphs, bm25, squad_title(question["article"]), rng)
        if not made:
            lost.append(question["id"])
        examples += made
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(example) + "\n" for example in examples)
    kinds = Counter(example["kind"] for example in examples)
    print(json.dumps({"questions": len(questions), "examples": len(examples), "kinds": kinds,
                      "answer_not_in_one_sentence": lost}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
