"""Latency of one ask in a running process (what the chat pays per question).

    python benchmarks/ask_latency.py --index-dir /tmp/m-bbc [--repeat 2]

Loads the index and the model, makes one warm-up ask, then times Searcher.ask(question, 5) over
ten news questions (each --repeat times) and, alone, the question's encoding and the FAISS and
BM25 searches. Prints p50 and
p95 in milliseconds. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from qa.eval.bench import QUESTIONS  # the same ten news questions `qa bench` asks


def percentiles(seconds: list[float]) -> str:
    return f"p50 {np.percentile(seconds, 50) * 1000:.2f} ms, p95 {np.percentile(seconds, 95) * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from qa.config import settings_from_env
    from qa.search.searcher import open_searcher

    started = time.perf_counter()
    searcher = open_searcher(settings_from_env().with_(index_dir=args.index_dir))
    searcher.ask("warm up", 5)
    print(f"load and first ask: {time.perf_counter() - started:.2f} s")
    asks, encode, dense, keyword = [], [], [], []
    for question in QUESTIONS * args.repeat:
        started = time.perf_counter()
        searcher.ask(question, 5)
        asks.append(time.perf_counter() - started)
        started = time.perf_counter()
        vector = searcher.embedder.encode([question])
        encode.append(time.perf_counter() - started)
        started = time.perf_counter()
        searcher.store.search(vector, 100)
        dense.append(time.perf_counter() - started)
        started = time.perf_counter()
        searcher.store.search_keyword(question, 100)
        keyword.append(time.perf_counter() - started)
    print(f"ask ({len(asks)} asks, {len(searcher.store)} chunks): {percentiles(asks)}")
    print(f"encoding the question alone: {percentiles(encode)}")
    print(f"FAISS search alone, 100 candidates: {percentiles(dense)}")
    print(f"BM25 search alone, 100 candidates: {percentiles(keyword)}")


if __name__ == "__main__":
    main()
