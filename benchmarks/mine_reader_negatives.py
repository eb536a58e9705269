"""Mine the reader's hard examples from qa's own answers over SQuAD v1.0 train
(benchmarks/train_reader.py --extra).

The reader's negatives (benchmarks/reader_data.py) are sentences of the gold paragraph and the
article's sentences BM25 ranks highest; what it gets wrong in qa is different: on the tuning
half, most wrong answer sentences were read and outscored the gold one (docs/EVALUATION.md). So
here qa itself answers training questions: a seeded sample of --articles SQuAD v1.0 train
articles is indexed as a corpus (as qa eval --squad does), and each of their questions that no
shipped reader trained on (TRAINED: the samples of versions 2, 3 and 5; and MINED: the articles
of earlier runs of this script, unless it is one of them again) is asked with the shipped
searcher; version 5's mined file was made before its own sample, seed 3, was added to TRAINED.
Of the sentences read in the passages that compete for the answer, those that rank above the
gold sentence and do not hold the answer's words, at most --per-question of them, become
negatives ("mined", label 0) beside the gold sentence
("minedpos", label 1, with the answer's span), when the gold sentence is among them. Questions
whose gold sentence ranks first add nothing.

Training data only: nothing of SQuAD dev is read. Examples as reader_data's, gzipped JSON lines.

    python benchmarks/mine_reader_negatives.py --index-dir DIR --articles 60 --out mined.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import capture_choices, shipped_searcher  # noqa: E402
from reader_data import SQUAD_TRAIN, load_json, sampled_questions  # noqa: E402

# (sample, seed) of the samples earlier readers trained on: v2, v3 and version 5 (beside what this
# mined with --seed 0, 60 articles).
TRAINED = ((6000, 0), (40000, 1), (5000, 3))
# (articles, seed) of the runs of this script a shipped reader trained on: their articles are left out.
MINED = ((60, 0),)


def aligned(data: list[dict]) -> list[dict]:
    """SQuAD articles with only the answers found at their answer_start (a few of v1.0 train's
    are not, and qa eval's reader refuses such a file), and only the questions left an answer."""
    kept = []
    for article in data:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            qas = [{**qa, "answers": answers} for qa in paragraph["qas"] if (answers := [
                answer for answer in qa["answers"]
                if context[answer["answer_start"]: answer["answer_start"] + len(answer["text"])] == answer["text"]
            ])]
            paragraphs.append({**paragraph, "qas": qas})
        kept.append({**article, "paragraphs": paragraphs})
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-data", type=Path, default=SQUAD_TRAIN)
    parser.add_argument("--index-dir", type=Path, required=True, help="where the articles' index is built")
    parser.add_argument("--articles", type=int, default=60, help="SQuAD v1.0 train articles, a seeded sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-question", type=int, default=2, help="the most negatives a question gives")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from qa.eval.datasets import convert_squad
    from qa.eval.gold import gold_occurrences, holds_gold
    from qa.ingest.corpus import Corpus
    from qa.search.answer import SentenceWeights

    data = load_json(args.train_data)["data"]
    seen = {data[a]["paragraphs"][p]["qas"][q]["id"]
            for sample, seed in TRAINED for a, p, q in sampled_questions(data, sample, random.Random(seed))}
    squad = convert_squad({"data": aligned(data)}, args.train_data.name)
    mined = {a for articles, seed in MINED for a in random.Random(seed).sample(squad.article_ids, articles)}
    if (args.articles, args.seed) in MINED:
        mined = set()  # reproducing a mined run
    unmined = [a for a in squad.article_ids if a not in mined]
    chosen = set(random.Random(args.seed).sample(unmined, args.articles))
    questions = [q for q in squad.questions if squad.article_of[q.id] in chosen and q.id not in seen]
    corpus = Corpus([article for article in squad.corpus.articles if article.id in chosen])
    store, searcher = shipped_searcher(corpus, args.train_data, args.index_dir, progress=True)
    if searcher.reader is None:
        print("the shipped reader is needed", file=sys.stderr)
        return 1
    captured = capture_choices()
    examples, counts = [], {"questions": len(questions), "gold_first": 0, "gold_below": 0, "gold_unread": 0}
    for question in tqdm(questions, desc="asking", file=sys.stderr, mininterval=10):
        captured.clear()
        result = searcher.ask(question.question, 5)
        if not captured or not result.hits:  # nothing retrieved, so no answer was chosen
            counts["gold_unread"] += 1
            continue
        order, n = captured["order"], captured["n"]
        article_of = {old: hit.chunk.article_id for old, hit in zip(order, result.hits)}
        rank_of = {old: new for new, old in enumerate(order)}
        gold = gold_occurrences(question, store.articles)
        read = sorted(
            (s for s in captured["sentences"] if s.reader is not None and rank_of[s.passage] < n),
            key=lambda s: -(s.score + SentenceWeights().rank / (rank_of[s.passage] + 1)),  # as best_sentence
        )
        holds = [holds_gold((article_of[s.passage], s.start, s.end), gold) for s in read]
        if True not in holds:
            counts["gold_unread"] += 1
            continue
        first_gold = holds.index(True)
        if first_gold == 0:
            counts["gold_first"] += 1
            continue
        counts["gold_below"] += 1
        sentence = read[first_gold]
        article = article_of[sentence.passage]
        span = next((s, e) for a, s, e in gold if a == article and sentence.start <= s and e <= sentence.end)
        examples.append({"q": question.question, "s": sentence.text, "t": store.articles[article].title, "label": 1,
                         "a": [span[0] - sentence.start, span[1] - sentence.start], "kind": "minedpos"})
        # a sentence that holds the answer's words elsewhere may answer too: not a negative
        answer = " ".join(store.articles[article].text[span[0]:span[1]].lower().split())
        above = [s for s in read[:first_gold] if answer not in " ".join(s.text.lower().split())]
        examples += [{"q": question.question, "s": s.text, "t": store.articles[article_of[s.passage]].title,
                      "label": 0, "a": None, "kind": "mined"} for s in above[: args.per_question]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example) + "\n")
    print(json.dumps({**counts, "examples": len(examples), "articles": sorted(chosen)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
