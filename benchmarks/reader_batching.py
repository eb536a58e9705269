"""The reader's batching, measured: what an ONNX run costs beyond the token positions it reads,
and ask latency with the pairs split into runs by length (qa.search.reader.length_runs) at
several run costs.

    python benchmarks/reader_batching.py --index-dir DIR --questions FILE.jsonl [--n 150] [--rounds 2]

FILE.jsonl holds {"question": ...} lines (as `qa ask --questions` reads). First the reader's
session alone: runs of 1 to 8 rows of one length (24 to 96 tokens), each timed --repeat times,
and a least-squares fit of milliseconds = a x runs + b x positions; a / b is the run's cost in
positions, what RUN_COST should be. Then Searcher.ask(q, 5) over the same questions, interleaved
in one process, at each --run-costs value (a huge one: every question's pairs in one run); prints
the mean milliseconds per question of each round and the padded positions read per question.
Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def run_cost_fit(session, repeat: int) -> dict[str, float]:
    """Fit ms = a + b x positions over runs of rows x length; a / b in positions."""
    shapes = [(rows, length) for rows in (1, 2, 4, 8) for length in (24, 48, 96)]
    times, positions = [], []
    for rows, length in shapes:
        feed = {name: np.ones((rows, length), dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids")}
        session.run(None, feed)  # warm this shape
        for _ in range(repeat):
            started = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - started) * 1000)
            positions.append(rows * length)
    design = np.column_stack([np.ones(len(positions)), positions])
    (per_run, per_position), *_ = np.linalg.lstsq(design, np.asarray(times), rcond=None)
    return {"ms_per_run": round(float(per_run), 3), "ms_per_position": round(float(per_position), 4),
            "run_cost_in_positions": round(float(per_run / per_position), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20, help="timings of each shape in the fit")
    parser.add_argument("--run-costs", default="0,20,40,80,1000000")
    args = parser.parse_args()

    import qa.search.reader as reader
    from qa.config import settings_from_env
    from qa.search.searcher import open_searcher

    searcher = open_searcher(settings_from_env().with_(index_dir=args.index_dir))
    if searcher.reader is None:
        raise SystemExit("the reader is off (QA_READER=0, or another model): nothing to measure")
    session = searcher.reader.session
    fit = run_cost_fit(session, args.repeat)
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.n]
    searcher.ask(questions[0], 5)  # warm up

    positions = 0
    run = session.run

    def counted(names, feed):
        nonlocal positions
        positions += feed["input_ids"].size
        return run(names, feed)

    session.run = counted
    shipped = reader.RUN_COST
    costs = [float(cost) for cost in args.run_costs.split(",")]
    results: dict[str, list[float]] = {f"run cost {cost:g}": [] for cost in costs}
    padded: dict[str, float] = {}
    for _ in range(args.rounds):
        for label, cost in zip(results, costs):
            reader.RUN_COST = cost
            positions = 0
            started = time.perf_counter()
            for question in questions:
                searcher.ask(question, 5)
            results[label].append(round((time.perf_counter() - started) / len(questions) * 1000, 1))
            padded[label] = round(positions / len(questions), 1)
    reader.RUN_COST = shipped
    session.run = run
    print(json.dumps({"session_alone": fit, "questions": len(questions), "ms_per_question": results,
                      "positions_per_question": padded}, indent=1))


if __name__ == "__main__":
    main()
