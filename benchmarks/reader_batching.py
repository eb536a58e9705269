"""The reader's batching, measured: ask latency with the reader's pairs run in length order,
8 a run (qa.search.reader.BATCH), against one run padded to the longest pair.

    python benchmarks/reader_batching.py --index-dir DIR --questions FILE.jsonl [--n 150] [--rounds 2]

FILE.jsonl holds {"question": ...} lines (as `qa ask --questions` reads). Both settings are timed
in one process, interleaved, each over the same questions (Searcher.ask(q, 5)); prints the mean
milliseconds per question of each round. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import qa.search.reader as reader
    from qa.config import settings_from_env
    from qa.search.searcher import open_searcher

    searcher = open_searcher(settings_from_env().with_(index_dir=args.index_dir))
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.n]
    searcher.ask(questions[0], 5)  # warm up
    shipped = reader.BATCH
    results: dict[str, list[float]] = {f"runs of {shipped} by length": [], "one run padded to the longest": []}
    for _ in range(args.rounds):
        for label, batch in zip(results, (shipped, 10**6)):
            reader.BATCH = batch
            started = time.perf_counter()
            for question in questions:
                searcher.ask(question, 5)
            results[label].append(round((time.perf_counter() - started) / len(questions) * 1000, 1))
    reader.BATCH = shipped
    print(json.dumps({"questions": len(questions), "ms_per_question": results}, indent=1))


if __name__ == "__main__":
    main()
