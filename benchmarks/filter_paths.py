"""Which way a filtered dense search should go on the IVF index: FAISS with an ID selector, or the
exact product over the kept rows' vectors (qa.indexing.faiss_store.FaissStore._search_kept).

Builds an IVF-SQ8 store of N seeded clustered vectors (384 dimensions, like all-MiniLM-L6-v2's),
saves and loads it as `qa ask` would (memory-mapped, exact vectors read with pread), and times
the dense leg for filters keeping a share of the rows, both ways, plus how many of the k it
returns and their recall against exact search over the kept rows. Prints a Markdown table.

    python benchmarks/filter_paths.py --size 100000 --queries 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import qa.indexing.faiss_store as faiss_store
from qa.indexing.faiss_store import FaissStore
from qa.indexing.keyword import KeywordIndex
from qa.indexing.manifest import Manifest
from qa.types import Article, Chunk, Filter

DIM = 384
SHARES = (0.001, 0.01, 0.05, 0.2, 0.5)


def clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, 200, n)] + 0.8 * rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(n: int, folder: Path) -> FaissStore:
    """n one-chunk articles; article i's source is "s{j}" for the share bucket it falls in."""
    rng = np.random.default_rng(1)
    draw = rng.random(n)
    articles, chunks = [], []
    for i in range(n):
        source = next((f"s{share}" for share in SHARES if draw[i] < share), "other")
        articles.append(Article(id=f"a{i:07d}", title="", text="x", sha256="", source=source))
        chunks.append(Chunk(id=f"a{i:07d}#0", article_id=f"a{i:07d}", n=0, start=0, end=1, text="x",
                            sentences=((0, 1),)))
    vectors = clustered(n)
    manifest = Manifest(model="synthetic", model_fingerprint="s", dim=DIM, chunking={})
    store = FaissStore.build(manifest, articles, chunks, np.arange(n, dtype=np.int64), vectors,
                             vectors.astype(np.float16), index_type="ivf-sq8", keyword=KeywordIndex.build(["x"] * n))
    store.save(folder)
    return FaissStore.load(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("-k", type=int, default=100, help="rows asked of the dense leg (qa asks for 100)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        store = build(args.size, Path(work) / "index")
        queries = clustered(args.queries, seed=7)
        exact_vectors = store.vectors()
        import faiss

        ivf = faiss.downcast_index(store.index.index)
        print(f"{args.size} vectors, IVF-SQ8, {ivf.nlist} lists, {ivf.nprobe} probed; dense leg asked for k={args.k};"
              f" {args.queries} queries; ms per query (median)\n")
        times, recall = [], []
        for query in queries:  # the unfiltered search, for reference
            truth = np.argsort(-(exact_vectors @ query))[: args.k]
            started = time.perf_counter()
            _, rows = store.search(query[None, :], args.k)
            times.append(time.perf_counter() - started)
            recall.append(len(set(rows[0].tolist()) & set(truth.tolist())) / args.k)
        print(f"Unfiltered: {1000 * float(np.median(times)):.2f} ms, recall@{args.k} {float(np.mean(recall)):.3f}\n")
        print("| kept share | kept rows | exact over kept: ms, k returned, recall | ID selector: ms, k returned,"
              " recall | chosen |")
        print("|---|---:|---|---|---|")
        for share in SHARES:
            where = Filter(sources=tuple(f"s{s}" for s in SHARES if s <= share))
            kept = store.kept_rows(where)
            results = {}
            for way, margin in (("exact", 10**12), ("selector", 0)):
                faiss_store.FILTER_SELECTOR_MARGIN = margin
                times, returned, recall = [], [], []
                for query in queries:
                    truth = kept[np.argsort(-(exact_vectors[kept] @ query))[: args.k]]
                    started = time.perf_counter()
                    _, rows = store.search(query[None, :], args.k, where)
                    times.append(time.perf_counter() - started)
                    found = rows[0][rows[0] >= 0]
                    returned.append(len(found))
                    recall.append(len(set(found.tolist()) & set(truth.tolist())) / max(1, len(truth)))
                results[way] = (1000 * float(np.median(times)), min(returned), float(np.mean(recall)))
            faiss_store.FILTER_SELECTOR_MARGIN = 4
            fetch = min(len(kept), faiss_store.ANN_OVERFETCH * args.k)
            chosen = "exact" if len(kept) * ivf.nprobe / ivf.nlist < faiss_store.FILTER_SELECTOR_MARGIN * fetch \
                else "selector"
            cells = [f"{ms:.2f} ms, {k_min}, {rec:.3f}" for ms, k_min, rec in (results["exact"], results["selector"])]
            print(f"| {share:.1%} | {len(kept)} | {cells[0]} | {cells[1]} | {chosen} |")


if __name__ == "__main__":
    main()
