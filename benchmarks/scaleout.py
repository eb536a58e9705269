"""The figures of docs/SCALE-OUT.md: Ray engine against the local engine, Milvus Lite against FAISS.

    python benchmarks/scaleout.py engines CORPUS_DIR... --work DIR [--out benchmarks/results/scaleout-engines.json]
    python benchmarks/scaleout.py stores --index-dir DIR [--sizes 10000 100000]
                                         [--out benchmarks/results/scaleout-stores.json]
    python benchmarks/scaleout.py parse CORPUS_DIR... [--html 200] [--ray]
                                        [--out benchmarks/results/scaleout-parse.json]

``engines`` indexes the corpus twice from scratch into DIR/local and DIR/ray (kept, for ``stores``),
once with the local engine and once with the Ray engine on a local Ray instance (127.0.0.1, one actor per CPU, one
torch thread each), and reports wall time, chunks per second, the time of parsing alone (the Ray engine's
parse stage timed once more with Ray already up), the largest vector difference and
whether the chunks are identical; plus the peak memory of one process holding the model (what
one Ray actor needs). ``stores`` takes the vectors and chunk texts of an existing FAISS index and
grows them to each size with perturbed copies (each copy of a vector gets Gaussian noise, sigma
0.02 per component, and is normalised again; texts are reused), writes a FAISS store and a Milvus
Lite store of that size, and times dense top-100, BM25 top-100 and Milvus hybrid_search for
real questions (embedded once), after one warm-up each. Times are wall-clock medians and 95th
percentiles; run it on a quiet machine for figures to compare. ``parse`` times, in this process,
what the Ray engine's driver does per file (list and read the bytes) against what it sends to the
cluster (parse them), on the corpus and on the first ``--html`` of its articles written as simple
HTML pages (title, nav, paragraphs, footer), so extraction with trafilatura is timed too; with
``--ray``, also the Ray engine's whole read_corpus on a local Ray instance, once with the workers
cold and once warm, and whether it gave the local articles and report.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from ask_latency import QUESTIONS  # noqa: E402  (run as a script: benchmarks/ is on the path)

NOISE = 0.02
SEED = 0


def timed(function, repeat: int = 3) -> dict[str, float]:
    """Median and p95 in ms of ``function()`` over QUESTIONS x repeat calls (it takes the index)."""
    function(0)  # warm-up
    seconds = []
    for _ in range(repeat):
        for i in range(len(QUESTIONS)):
            started = time.perf_counter()
            function(i)
            seconds.append(time.perf_counter() - started)
    return {"p50_ms": round(float(np.percentile(seconds, 50)) * 1000, 2),
            "p95_ms": round(float(np.percentile(seconds, 95)) * 1000, 2)}


def engines(corpus: list[Path], work: Path) -> dict:
    from qa.config import settings_from_env
    from qa.embed.backends import make_embedder
    from qa.indexing.faiss_store import FaissStore
    from qa.indexing.indexer import update_index
    from qa.indexing.ray_engine import RayEngine
    from qa.ingest.corpus import read_corpus

    base = Path(work)
    for name in ("local", "ray", "ray-tmp"):
        shutil.rmtree(base / name, ignore_errors=True)
    settings = settings_from_env().with_(corpus=tuple(corpus))
    embedder = make_embedder(settings)  # the default backend (QA_BACKEND to choose another)
    results = {"corpus": [str(path) for path in corpus], "cpus": os.cpu_count(), "backend": embedder.backend}
    local = settings.with_(index_dir=base / "local")
    started = time.perf_counter()
    report = update_index(local, embedder, progress=False)
    results["local"] = {"seconds": round(time.perf_counter() - started, 1), "chunks": report.n_chunks,
                        "articles": report.n_articles}
    started = time.perf_counter()
    read_corpus(local.corpus, local.limits)
    results["local"]["parse_seconds"] = round(time.perf_counter() - started, 2)
    results["encoder_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    remote = settings.with_(index_dir=base / "ray")
    engine = RayEngine(remote, embedder, temp_dir=base / "ray-tmp")
    started = time.perf_counter()
    try:
        report = update_index(remote, embedder, progress=False, engine=engine)
        results["ray"] = {"seconds": round(time.perf_counter() - started, 1), "chunks": report.n_chunks,
                          "actors": engine.actors}
        started = time.perf_counter()  # the parse stage alone, Ray already up
        engine.read_corpus(remote.corpus, remote.limits)
        results["ray"]["parse_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        engine.close()
    for name in ("local", "ray"):
        results[name]["chunks_per_second"] = round(results[name]["chunks"] / results[name]["seconds"], 1)
    a, b = FaissStore.load(local.index_dir), FaissStore.load(remote.index_dir)
    results["identical_chunks"] = list(a.chunks) == list(b.chunks)
    results["max_vector_difference"] = float(np.abs(a.vectors() - b.vectors()).max())
    # int8 scales activations per batch, and Ray batches differently: compare by cosine too
    results["min_vector_cosine"] = float(np.sum(a.vectors() * b.vectors(), axis=1).min())
    results["chunk_chars_mean"] = round(float(np.mean([len(chunk.text) for chunk in a.chunks])), 1)
    results["faiss_index_dir_mb"] = round(
        sum(p.stat().st_size for p in (base / "local").rglob("*") if p.is_file()) / 1e6, 1)
    shutil.rmtree(base / "ray-tmp", ignore_errors=True)
    return results


def parse(corpus: list[Path], html_pages: int, ray: bool) -> dict:
    import html

    from qa.config import IngestLimits, settings_from_env
    from qa.embed.backends import make_embedder
    from qa.indexing.ray_engine import RayEngine
    from qa.ingest.corpus import list_corpus, load_file, parse_file, read_corpus

    limits = IngestLimits()
    started = time.perf_counter()
    files, _ = list_corpus(corpus)
    loaded = [(file_id, load_file(path, file_id, limits)) for path, file_id in files]
    read = time.perf_counter() - started
    started = time.perf_counter()
    for file_id, data in loaded:
        parse_file(data, file_id, limits)
    parsed = time.perf_counter() - started
    pages = []
    for file_id, data in loaded[:html_pages]:
        title, _, body = html.escape(data.decode("utf-8", errors="replace")).partition("\n")
        paragraphs = "".join(f"<p>{line}</p>" for line in body.split("\n") if line.strip())
        pages.append((file_id + ".html", (
            f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>{title}</h1>{paragraphs}</article><footer>(c)</footer></body></html>").encode()))
    parse_file(pages[0][1], pages[0][0], limits)  # trafilatura's import
    started = time.perf_counter()
    for file_id, data in pages:
        parse_file(data, file_id, limits)
    extracted = time.perf_counter() - started
    results = {
        "corpus": [str(path) for path in corpus], "files": len(files),
        "megabytes": round(sum(len(data) for _, data in loaded) / 1e6, 1),
        "list_and_read_seconds": round(read, 3), "parse_seconds": round(parsed, 3),
        "read_ms_per_file": round(read / len(files) * 1000, 3),
        "html_pages": len(pages), "html_parse_ms_per_page": round(extracted / len(pages) * 1000, 1),
    }
    if ray:
        local = read_corpus(corpus, limits)
        settings = settings_from_env()
        with tempfile.TemporaryDirectory() as temp:
            engine = RayEngine(settings, make_embedder(settings), temp_dir=Path(temp))
            try:
                started = time.perf_counter()
                engine._start()
                results["ray_start_seconds"] = round(time.perf_counter() - started, 1)
                for run in ("cold", "warm"):
                    started = time.perf_counter()
                    remote = engine.read_corpus(corpus, limits)
                    results[f"ray_read_corpus_{run}_seconds"] = round(time.perf_counter() - started, 2)
            finally:
                engine.close()
        results["ray_same_articles_and_report"] = (
            (remote.articles, remote.rejected) == (local.articles, local.rejected))
    return results


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def grow(vectors: np.ndarray, size: int) -> np.ndarray:
    """``size`` rows: the real vectors, then perturbed and normalised copies of them."""
    rng = np.random.default_rng(SEED)
    rows = np.arange(size) % len(vectors)
    grown = vectors[rows] + (np.arange(size) >= len(vectors))[:, None] * rng.normal(0, NOISE, (size, vectors.shape[1]))
    return (grown / np.linalg.norm(grown, axis=1, keepdims=True)).astype(np.float32)


def stores(index_dir: Path, sizes: list[int]) -> dict:
    from dataclasses import replace

    from qa.config import settings_from_env
    from qa.embed.torch_backend import SentenceTransformerEmbedder
    from qa.indexing.faiss_store import FaissStore
    from qa.indexing.milvus_store import MilvusStore, disconnect
    from qa.indexing.protocol import StoreUpdate
    from qa.indexing.stores import parse_store

    before = rss_mb()
    source = FaissStore.load(index_dir)
    results_load = {"chunks_and_articles_in_memory_mb": round(rss_mb() - before, 1)}  # + vectors + bm25 (mmap)
    settings = settings_from_env()
    embedder = SentenceTransformerEmbedder(settings.resolved_model_dir(), settings.batch_size)
    queries = embedder.encode(QUESTIONS)
    vectors = source.vectors()
    results = {"index": str(index_dir), "real_chunks": len(source), "noise_sigma": NOISE, **results_load,
               "sizes": {}}
    for size in sizes:
        base = Path(tempfile.mkdtemp(prefix=f"qa-stores-{size}-"))
        rows = np.arange(size) % len(source)
        grown, ids = grow(vectors, size), np.arange(size, dtype=np.int64)
        # copy c of a chunk belongs to copy c of its article ("<id>~<c>", the same text), so that
        # chunk ids stay "<article id>#<n>"; one sentence each keeps sentences.npy small
        copies = -(-size // len(source))
        chunks = []
        for i, row in enumerate(rows):
            chunk, copy = source.chunks[row], i // len(source)
            article_id = chunk.article_id if copy == 0 else f"{chunk.article_id}~{copy}"
            chunks.append(replace(chunk, id=f"{article_id}#{chunk.n}", article_id=article_id,
                                  sentences=(chunk.sentences[0],)))
        sentences = grown.astype(np.float16)
        articles = [replace(article, id=article.id if copy == 0 else f"{article.id}~{copy}")
                    for copy in range(copies) for article in source.articles.values()]
        manifest = replace(source.manifest, store={}, next_id=size)
        started = time.perf_counter()
        faiss_store = FaissStore.build(manifest, articles, chunks, ids, grown, sentences)
        faiss_build = time.perf_counter() - started
        record = parse_store(f"milvus://{base}/bench.db")
        update = StoreUpdate(replace(manifest, store=record), articles, chunks, ids, np.ones(size, bool), grown,
                             list(sentences[:, None, :]), np.zeros(0, np.int64))
        started = time.perf_counter()
        milvus = MilvusStore.write(base / "milvus", update, None)
        milvus_build = time.perf_counter() - started
        figures = {"faiss_build_s": round(faiss_build, 1), "milvus_lite_build_s": round(milvus_build, 1)}
        for name, store in (("faiss", faiss_store), ("milvus_lite", milvus)):
            figures[f"{name}_dense_top100"] = timed(lambda i, s=store: s.search(queries[i][None, :], 100))
            figures[f"{name}_bm25_top100"] = timed(lambda i, s=store: s.search_keyword(QUESTIONS[i], 100))
        figures["milvus_lite_hybrid_rrf_top100"] = timed(
            lambda i, m=milvus: m.search_hybrid(queries[i], QUESTIONS[i], 100, ranker="rrf"))
        disk = sum(path.stat().st_size for path in (base / "bench.db").rglob("*") if path.is_file())
        figures["milvus_lite_disk_mb"] = round(disk / 1e6, 1)
        results["sizes"][str(size)] = figures
        print(json.dumps({size: figures}), flush=True)
        disconnect(record)
        shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    engine_parser = commands.add_parser("engines")
    engine_parser.add_argument("corpus", nargs="+", type=Path)
    engine_parser.add_argument("--work", type=Path, required=True, help="where the two indexes are built")
    engine_parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scaleout-engines.json"))
    store_parser = commands.add_parser("stores")
    store_parser.add_argument("--index-dir", type=Path, required=True)
    store_parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    store_parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scaleout-stores.json"))
    parse_parser = commands.add_parser("parse")
    parse_parser.add_argument("corpus", nargs="+", type=Path)
    parse_parser.add_argument("--html", type=int, default=200, help="articles written as HTML pages")
    parse_parser.add_argument("--ray", action="store_true", help="time the Ray engine's parse stage too")
    parse_parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scaleout-parse.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    load = os.getloadavg()
    if args.command == "engines":
        results = engines(args.corpus, args.work)
    elif args.command == "parse":
        results = parse(args.corpus, args.html, args.ray)
    else:
        results = stores(args.index_dir, args.sizes)
    results["load_average_at_start"] = [round(x, 1) for x in load]
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
