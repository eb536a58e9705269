"""Choose READ_SENTENCES (qa/search/reader.py): how many of the first passages' sentences the
reader reads per question. Reading is most of an ask's time, and the sentences the re-rank's own
sentence score puts lowest seldom answer, so each sentence left unread saves ~5 ms on 2 cores.

Tuning data only: the answerable questions of the five SQuAD 2.0 dev tuning-half articles that
the reader never trained on (benchmarks/reader_data.squad2_split: Computational_complexity_theory,
Victoria_(Australia), Oxygen, Amazon_rainforest, Packet_switching), over the corpus of all 35
SQuAD 2.0 articles (qa eval --squad's index). Each question is asked once per budget with the
shipped searcher (re-rank, reader, abstention); the reader's readings are cached per (question,
sentence), so every budget sees the same logits and only the choice of what is read changes. For
each budget: the answer sentence right (not refused and holding a gold span), refused, hit@1, the
sentences and tokens read per question. The budget kept is the one with the most answer sentences
right, the smallest on a tie (v2b and v3 readers: 8), within the time a question may take (issue
16: 70 ms in one `qa ask --questions` process over the SQuAD 2.0 corpus): with reader v13 the
figures rose up to 16 sentences, which costs about 76 ms; 12 (about 60 ms) would fit, but from
11 on the issue's own "Who heads Iran's military?" marks another sentence than the seed article's
lede (tests/test_reader.py), so 10 was kept.

    python benchmarks/tune_reading.py --index-dir DIR [--sample N] [--budgets 0,8,10,12,14,16]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asking import held_back_questions, shipped_searcher  # noqa: E402
from reader_data import SQUAD2_DEV  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=SQUAD2_DEV)
    parser.add_argument("--index-dir", type=Path, default=Path(".qa-eval/dev-v2.0"))
    parser.add_argument("--sample", type=int, help="a fixed sample of N of those questions (qa eval's --sample)")
    parser.add_argument("--budgets", default="0,6,8,10,12,14,16", help="sentences read per question; 0: all")
    args = parser.parse_args(argv)

    from qa.eval.datasets import load_squad
    from qa.eval.gold import answer_span, chunk_span, gold_occurrences, holds_gold
    from qa.search.reader import reader_text

    squad = load_squad(args.squad)
    store, searcher = shipped_searcher(squad.corpus, args.squad, args.index_dir)
    reader = searcher.reader
    if reader is None:
        print("the reader is needed", file=sys.stderr)
        return 1
    questions = held_back_questions(squad, args.sample, answerable=True)

    cache: dict[tuple[str, str | None, str], tuple[float, object]] = {}
    read_now = reader.read
    counted: list[tuple[int, int]] = []  # (sentences, tokens) of each read

    def cached_read(question, sentences, titles=()):
        pairs = list(zip(titles or [None] * len(sentences), sentences, strict=True))
        missing = [pair for pair in pairs if (question, *pair) not in cache]
        if missing:
            logits, spans = read_now(question, [s for _, s in missing], [t for t, _ in missing])
            cache.update({(question, *pair): (float(x), span) for pair, x, span in zip(missing, logits, spans)})
        read = [reader_text(s, t if reader.titled else None)[0] for t, s in pairs]
        tokens = sum(len(reader.tokenizer.encode(question, text).ids) for text in read)
        counted.append((len(sentences), tokens))
        readings = [cache[question, *pair] for pair in pairs]
        return np.array([logit for logit, _ in readings], dtype=np.float32), [span for _, span in readings]

    reader.read = cached_read  # type: ignore[method-assign]
    shipped = reader.weights
    budgets = [int(b) for b in args.budgets.split(",")]
    print(f"{len(questions)} answerable questions of the held-back tuning articles")
    print("| sentences read at most | answer sentence right | refused | hit@1 | sentences read | tokens read |")
    print("|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for budget in budgets:
        reader.weights = replace(shipped, sentences=budget)
        counted.clear()
        right = refused = first = 0
        for question in questions:
            result = searcher.ask(question.question, 5)
            gold = gold_occurrences(question, store.articles)
            refused += result.abstained
            right += (not result.abstained and result.answer is not None
                      and holds_gold(answer_span(result.answer), gold))
            first += bool(result.hits) and holds_gold(chunk_span(result.hits[0].chunk), gold)
        n = len(questions)
        sentences, tokens = np.mean(counted, axis=0) if counted else (0.0, 0.0)
        rows[budget] = right / n
        print(f"| {budget or 'all'} | {right / n:.3f} | {refused / n:.3f} | {first / n:.3f}"
              f" | {sentences:.1f} | {tokens:.0f} |", flush=True)
    best = max(rows.values())
    print(f"chosen READ_SENTENCES = {min((b for b in budgets if rows[b] == best), key=lambda b: b or 10**9)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
