"""Resident memory of one process answering questions from several threads, without Gradio.

    python benchmarks/thread_memory.py --index-dir /tmp/rel-bbc --threads 16 [--questions 600]
        [--model-thread] [--lock-model]

Loads the index and the model, asks one warm-up question, then lets --threads threads share
--questions questions (the load script's title questions, seed 1) and prints the process's
RSS every 50 answers. --lock-model serialises the model calls with a lock; --model-thread makes
every model call on one dedicated thread (both embedders now do that themselves: qa-torch_0,
qa-onnx_N). Used to find where the load test's memory growth comes from (docs/RELIABILITY.md,
"Load"); run with MALLOC_ARENA_MAX=2 to see glibc's share.
"""

from __future__ import annotations

import argparse
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from load import make_questions, rss_mb  # this folder: run as python benchmarks/thread_memory.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--lock-model", action="store_true")
    parser.add_argument("--model-thread", action="store_true")
    args = parser.parse_args()

    from qa.config import settings_from_env
    from qa.search.searcher import open_searcher

    searcher = open_searcher(settings_from_env().with_(index_dir=args.index_dir))
    searcher.ask("warm up", 5)
    encode = searcher.embedder.encode
    if args.lock_model:
        lock = threading.Lock()

        def locked(texts, **options):
            with lock:
                return encode(texts, **options)

        searcher.embedder.encode = locked
    if args.model_thread:
        model_thread = ThreadPoolExecutor(1)
        searcher.embedder.encode = lambda texts, **options: model_thread.submit(encode, texts, **options).result()
    questions = iter(make_questions(args.index_dir, args.questions, 1))
    taken = threading.Lock()
    answered = [0]
    print(f"after warm-up: {rss_mb(os.getpid()):.0f} MB", flush=True)

    def user() -> None:
        while True:
            with taken:
                question = next(questions, None)
            if question is None:
                return
            searcher.ask(question, 5)
            with taken:
                answered[0] += 1
                if answered[0] % 50 == 0:
                    print(f"{answered[0]} answered: {rss_mb(os.getpid()):.0f} MB", flush=True)

    threads = [threading.Thread(target=user) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"end: {rss_mb(os.getpid()):.0f} MB", flush=True)


if __name__ == "__main__":
    main()
