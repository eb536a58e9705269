"""`qa bench`: ingestion throughput, ask latency, memory and cold start, measured here and now.

Each measurement runs in its own child process (``python -m qa.eval.bench STAGE ...``) so that its
peak RSS is its own and a cold start is really cold. Stages:

``ingest``
    files -> a loadable index (``update_index`` with ``rebuild``, then ``FaissStore.load``) over
    the corpus folders; articles/s, chunks/s, word pieces/s, peak RSS, index size on disk.
``latency``
    an index of N chunks, written to disk and loaded back the way ``qa ask`` loads one
    (memory-mapped), then ``Searcher.retrieve`` (query embedding + dense + BM25 + fusion) and
    ``Searcher.ask`` (the full ask path: also the answer sentence) timed over real questions;
    dense recall@10 against exact search; peak RSS (serving: the index is built by a separate
    ``build`` stage); size on disk. Up to the corpus's own
    size the index holds the corpus's real chunks and vectors. Beyond it, it holds
    *perturbed copies*: copy c of chunk i has chunk i's text (as a new article) and chunk i's
    vector plus seeded Gaussian noise, re-normalised; the BM25 index is the BM25 of the copied
    texts (see :func:`qa.indexing.keyword.tiled_bm25`). The output says which sizes are synthetic.
``coldstart``
    ``qa ask`` in a fresh process with an existing index: time to the first answer.

Numbers depend on the machine and on whatever else runs on it; tests run this end to end at a
tiny size and never assert a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import child_environment, go_offline
from qa.errors import ConfigError
from qa.eval.copies import BENCH_OUTLETS, NOISE, write_copies, write_subset
from qa.types import Filter

SIZE_NAMES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1M": 1_000_000}
DEFAULT_SIZES = "1k,10k,100k,1M"
FILTER_SOURCE = "Outlet 07"  # one of BENCH_OUTLETS made-up sources: a filter that keeps ~1 % of the index
RECALL_QUERIES = 100  # chunk vectors used as extra queries for recall@10 (seeded choice)
QUESTIONS = (
    "Who won the Australian Open?",
    "What did the Bank of England decide about interest rates?",
    "Which film won the Oscar for best picture?",
    "How many jobs will be cut?",
    "What is Gordon Brown's plan for the budget?",
    "Who is the chief executive of Yukos?",
    "When will the new games console be released?",
    "What did Tony Blair say about the election?",
    "Which team won the Six Nations?",
    "What did the survey find about broadband?",
)


def parse_sizes(text: str) -> list[int]:
    """``"1k,10k,250"`` -> ``[1000, 10000, 250]``."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part in SIZE_NAMES:
            sizes.append(SIZE_NAMES[part])
        elif part.lower().endswith("k") and part[:-1].isdigit():
            sizes.append(int(part[:-1]) * 1_000)
        elif part.upper().endswith("M") and part[:-1].isdigit():
            sizes.append(int(part[:-1]) * 1_000_000)
        elif part.isdigit() and int(part) > 0:
            sizes.append(int(part))
        else:
            raise ConfigError(f"--sizes: cannot read {part!r}; write sizes like 1k,10k,100k,1M or 500")
    return sizes


def size_name(n: int) -> str:
    for name, value in SIZE_NAMES.items():
        if value == n:
            return name
    return str(n)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000
    return {f"p{p}_ms": round(float(np.percentile(values, p)), 2) for p in (50, 95, 99)}


def machine() -> dict[str, Any]:
    from qa.embed.export import cpu_count

    load = os.getloadavg()
    return {
        "cpus": cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_1m": round(load[0], 2),
    }


# -- stages (each in its own process) -----------------------------------------------------------


def stage_ingest(corpus: list[Path], index_dir: Path, backend: str | None, cache_dir: Path | None) -> dict:
    from qa.config import settings_from_env
    from qa.embed.backends import make_embedder
    from qa.indexing.faiss_store import FaissStore
    from qa.indexing.indexer import update_index
    from qa.ingest.chunk import Chunker, TokenCounter

    settings = settings_from_env().with_(index_dir=index_dir, corpus=tuple(corpus), backend=backend,
                                         cache_dir=cache_dir)
    embedder = make_embedder(settings)
    embedder.encode(["warm up"])  # model export (first use only) and load are not ingestion
    started = time.perf_counter()
    report = update_index(settings, embedder, rebuild=True)
    store = FaissStore.load(index_dir)
    seconds = time.perf_counter() - started
    counter = TokenCounter(settings.resolved_model_dir())
    chunker = Chunker(counter, settings.chunking)
    texts = [chunker.embedded(store.articles[c.article_id], c) for c in store.chunks]
    tokens = sum(counter.count(texts)) + 2 * len(texts)  # with [CLS] and [SEP], as the model reads them
    return {
        "backend": store.manifest.backend, "articles": report.n_articles, "chunks": report.n_chunks,
        "tokens": tokens, "seconds": round(seconds, 2),
        "articles_per_s": round(report.n_articles / seconds, 1), "chunks_per_s": round(report.n_chunks / seconds, 1),
        "tokens_per_s": round(tokens / seconds), "peak_rss_mb": round(peak_rss_mb()),
        "index_bytes": folder_bytes(index_dir), "index_type": store.manifest.index_type,
        "skipped": len(report.rejected),
    }


def stage_build(base_dir: Path, size: int, work_dir: Path) -> dict:
    """Write the index of ``size`` chunks (its own process: building takes more memory than
    serving, and the latency stage's peak RSS is the serving one)."""
    from qa.indexing.faiss_store import FaissStore

    base = FaissStore.load(base_dir)
    target = work_dir / f"size-{size}"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    if size > len(base):
        write_copies(base, size, target)
    else:
        write_subset(base, size, target)
    return {"synthetic": size > len(base), "build_seconds": round(time.perf_counter() - started, 1),
            "build_peak_rss_mb": round(peak_rss_mb())}


def stage_latency(size: int, work_dir: Path, repeat: int, cache_dir: Path | None) -> dict:
    from qa.config import settings_from_env
    from qa.embed.backends import index_backend, make_embedder
    from qa.indexing.faiss_store import FaissStore
    from qa.search.reader import reader_for
    from qa.search.searcher import Searcher

    target = work_dir / f"size-{size}"
    load_started = time.perf_counter()
    store = FaissStore.load(target)
    load_seconds = time.perf_counter() - load_started
    settings = settings_from_env().with_(index_dir=target, cache_dir=cache_dir)
    embedder = make_embedder(settings, index_backend(store.manifest))
    searcher = Searcher(store, embedder, settings.search, reader=reader_for(settings))
    searcher.ask("warm up", 5)
    retrieve, ask, ask_cpu, dense, keyword, embed, filtered, filtered_cpu, filtered_retrieve = ([] for _ in range(9))
    where = Filter(sources=(FILTER_SOURCE,))  # ~1 % of the chunks (qa.eval.copies.with_bench_metadata)
    started = time.perf_counter()
    kept = store.row_filter.rows(where)  # the first filtered question of a store reads every article's metadata
    filter_setup = time.perf_counter() - started
    searcher.ask("warm up", 5, where=where)
    full = 0  # filtered asks that got all 5 passages
    for question in list(QUESTIONS) * repeat:
        started = time.perf_counter()
        searcher.retrieve(question, max(5, settings.search.rerank_passages))
        retrieve.append(time.perf_counter() - started)
        cpu = time.process_time()
        started = time.perf_counter()
        searcher.ask(question, 5)
        ask.append(time.perf_counter() - started)
        ask_cpu.append(time.process_time() - cpu)  # the work, whatever else runs on the machine
        started = time.perf_counter()
        searcher.retrieve(question, max(5, settings.search.rerank_passages), where=where)
        filtered_retrieve.append(time.perf_counter() - started)
        cpu = time.process_time()
        started = time.perf_counter()
        full += len(searcher.ask(question, 5, where=where).hits) == min(5, len(kept))
        filtered.append(time.perf_counter() - started)
        filtered_cpu.append(time.process_time() - cpu)
        started = time.perf_counter()
        vector = embedder.encode([question])
        embed.append(time.perf_counter() - started)
        started = time.perf_counter()
        store.search(vector, settings.search.candidates)
        dense.append(time.perf_counter() - started)
        started = time.perf_counter()
        store.search_keyword(question, settings.search.candidates)
        keyword.append(time.perf_counter() - started)
    recall = dense_recall(store, embedder.encode(list(QUESTIONS)))
    return {
        "size": size, "chunks": len(store), "index_type": store.manifest.index_type,
        "backend": store.manifest.backend,
        "retrieve": percentiles(retrieve), "ask": percentiles(ask), "ask_cpu": percentiles(ask_cpu),
        "query_embedding": percentiles(embed),
        "dense": percentiles(dense), "bm25": percentiles(keyword), "recall_at_10": recall,
        "peak_rss_mb": round(peak_rss_mb()), "index_bytes": folder_bytes(target),
        "load_seconds": round(load_seconds, 2),
        "questions": len(ask),
        "filtered": {"source": FILTER_SOURCE, "kept_chunks": len(kept), "kept_share": round(len(kept) / len(store), 4),
                     "ask": percentiles(filtered), "ask_cpu": percentiles(filtered_cpu),
                     "retrieve": percentiles(filtered_retrieve), "all_k": full == len(filtered),
                     "setup_s": round(filter_setup, 2)},
    }


def dense_recall(store, questions: np.ndarray, k: int = 10) -> float:
    """recall@10 of the store's dense search against exact search over its exact vectors, for
    the questions and a seeded sample of chunk vectors used as queries."""
    from qa.indexing.table import RowReader

    k = min(k, len(store))
    vectors = store.exact if store.exact is not None else store.vectors()
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(store), min(RECALL_QUERIES, len(store)), replace=False))
    reader = RowReader(vectors)
    queries = np.vstack([questions, np.asarray(reader.take(sample), dtype=np.float32)])
    exact = np.zeros((len(queries), 0), dtype=np.int64)
    scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    # blocks, read with plain reads: the file is never copied whole, nor left mapped in this
    # process (which would put all of it in the serving peak RSS this stage reports)
    for first in range(0, len(store), 65536):
        block = np.asarray(reader.span(first, first + 65536), dtype=np.float32) @ queries.T
        rows = np.arange(first, first + len(block))
        scores = np.hstack([scores, block.T])
        exact = np.hstack([exact, np.broadcast_to(rows, (len(queries), len(rows)))])
        keep = np.argsort(-scores, axis=1)[:, :k]
        scores, exact = np.take_along_axis(scores, keep, 1), np.take_along_axis(exact, keep, 1)
    _, found = store.search(queries, k)
    hits = [len(set(found[q]) & set(exact[q])) for q in range(len(queries))]
    return round(sum(hits) / (k * len(queries)), 4)


def stage_coldstart(index_dir: Path, cache_dir: Path | None) -> dict:
    """Run in the child: timestamps from interpreter start to the first answer."""
    started = time.perf_counter()
    from qa.config import settings_from_env
    from qa.search.searcher import open_searcher

    imported = time.perf_counter()
    settings = settings_from_env().with_(index_dir=index_dir, cache_dir=cache_dir)
    searcher = open_searcher(settings)
    loaded = time.perf_counter()
    searcher.ask(QUESTIONS[0], 5)
    answered = time.perf_counter()
    return {
        "imports_s": round(imported - started, 2), "load_s": round(loaded - imported, 2),
        "first_ask_s": round(answered - loaded, 2), "peak_rss_mb": round(peak_rss_mb()),
    }


# -- the parent: `qa bench` ---------------------------------------------------------------------


def run_child(stage: str, args: dict[str, Any]) -> dict:
    """Run one stage in a fresh interpreter; its last stdout line is its JSON result."""
    command = [sys.executable, "-m", "qa.eval.bench", stage, json.dumps(args, default=str)]
    done = subprocess.run(command, capture_output=True, text=True, env=child_environment(TQDM_DISABLE="1"))
    if done.returncode != 0:
        raise ConfigError(f"qa bench: the {stage} stage failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_bench(
    corpus: Sequence[Path],
    sizes: Sequence[int],
    *,
    work_dir: Path | None = None,
    backend: str | None = None,
    cache_dir: Path | None = None,
    repeat: int = 3,
    skip_ingest: bool = False,
    index_dir: Path | None = None,
    bbc: Path | None = None,
    notify=lambda message: None,
) -> dict:
    """Every measurement, as one JSON-ready dict. The corpus: the folders given, else BBC News
    unpacked from the ``bbc`` tarball. ``index_dir`` with ``skip_ingest`` measures latency over
    an existing index instead of building one."""
    own = work_dir is None
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="qa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine()}
    try:
        corpus = list(corpus) or ([] if skip_ingest or bbc is None else bbc_corpus(work, bbc))
        report["corpus"] = [str(p) for p in corpus]
        base = Path(index_dir) if skip_ingest and index_dir else work / "ingest"
        if not skip_ingest:
            notify(f"ingestion: indexing {', '.join(map(str, corpus))} ...")
            report["ingest"] = run_child("ingest", {"corpus": [str(p) for p in corpus], "index_dir": str(base),
                                                    "backend": backend, "cache_dir": cache_dir})
        elif index_dir is None:  # pragma: no cover - the CLI checks it first
            raise ConfigError("qa bench: --skip-ingest needs --index-dir (an existing index of the corpus)")
        report["latency"] = []
        for size in sizes:
            notify(f"latency at {size_name(size)} chunks ...")
            built = run_child("build", {"base_dir": str(base), "size": size, "work_dir": str(work)})
            measured = run_child("latency", {"size": size, "work_dir": str(work), "repeat": repeat,
                                             "cache_dir": cache_dir})
            report["latency"].append({**built, **measured})
            shutil.rmtree(work / f"size-{size}", ignore_errors=True)
        notify("cold start ...")
        started = time.perf_counter()
        inner = run_child("coldstart", {"index_dir": str(base), "cache_dir": cache_dir})
        report["cold_start"] = {"wall_s": round(time.perf_counter() - started, 2), **inner}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    report["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return report


def format_report(report: dict) -> str:
    """The report for people: tables, with what is synthetic said plainly."""
    m = report["machine"]
    lines = [f"Machine: {m['cpus']} cores ({m['cpu']}), Python {m['python']}; load average {m['load_average_1m']}"
             f" before, {m.get('load_average_1m_after', '?')} after (above the core count: figures are stretched)."]
    if "ingest" in report:
        i = report["ingest"]
        lines += ["", f"Ingestion ({i['backend']}), files to a loadable index: {i['articles']} articles, {i['chunks']}"
                  f" chunks, {i['tokens']} word pieces in {i['seconds']} s = {i['articles_per_s']} articles/s,"
                  f" {i['chunks_per_s']} chunks/s, {i['tokens_per_s']} word pieces/s; peak RSS {i['peak_rss_mb']} MB;"
                  f" index {i['index_bytes'] / 1e6:.1f} MB on disk ({i['index_type']})."]
    if report.get("latency"):
        lines += ["", "Ask latency in a running process (ms; retrieve = query embedding + dense + BM25 + fusion;"
                  " ask = the full ask path with the answer sentence):", "",
                  "| chunks | vectors | index | retrieve p50/p95/p99 | ask p50/p95/p99 | ask CPU p50 |"
                  " query embedding p50 | dense p50 | BM25 p50 | recall@10 | peak RSS | on disk |",
                  "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in report["latency"]:
            r, a = row["retrieve"], row["ask"]
            kind = "perturbed copies of real vectors" if row["synthetic"] else "real"
            lines.append(
                f"| {size_name(row['size'])} | {kind} | {row['index_type']} | {r['p50_ms']} / {r['p95_ms']} /"
                f" {r['p99_ms']} | {a['p50_ms']} / {a['p95_ms']} / {a['p99_ms']} | {row['ask_cpu']['p50_ms']} |"
                f" {row['query_embedding']['p50_ms']} | {row['dense']['p50_ms']} | {row['bm25']['p50_ms']} |"
                f" {row['recall_at_10']} | {row['peak_rss_mb']} MB | {row['index_bytes'] / 1e6:.1f} MB |"
            )
        lines += ["", f"Filtered ask (source {FILTER_SOURCE}, one of {BENCH_OUTLETS} made-up outlets, applied inside"
                  " both legs) beside the unfiltered ask above (ms):", "",
                  "| chunks | kept chunks | filtered ask p50/p95/p99 | unfiltered ask p95 | ask p95 ratio |"
                  " filtered / unfiltered retrieve p95 | ask CPU p95, filtered / unfiltered | every ask got k |"
                  " first use (reads the metadata) |", "|---|---:|---|---:|---:|---|---|---|---:|"]
        for row in report["latency"]:
            f, a = row["filtered"], row["ask"]
            ratio = f["ask"]["p95_ms"] / a["p95_ms"] if a["p95_ms"] else float("nan")
            lines.append(
                f"| {size_name(row['size'])} | {f['kept_chunks']} ({100 * f['kept_share']:.2f} %) |"
                f" {f['ask']['p50_ms']} / {f['ask']['p95_ms']} / {f['ask']['p99_ms']} | {a['p95_ms']} |"
                f" {ratio:.2f}x | {f['retrieve']['p95_ms']} / {row['retrieve']['p95_ms']} |"
                f" {f['ask_cpu']['p95_ms']} / {row['ask_cpu']['p95_ms']} | {'yes' if f['all_k'] else 'no'} |"
                f" {f['setup_s']} s |"
            )
        if any(row["synthetic"] for row in report["latency"]):
            lines.append("\nSynthetic sizes: beyond the corpus, chunk i's copies carry its text as new articles and"
                         f" its vector plus Gaussian noise (sigma {NOISE} per dimension), re-normalised.")
    if "cold_start" in report:
        c = report["cold_start"]
        lines += ["", f"Cold start (fresh process to first answer, existing index): {c['wall_s']} s wall;"
                  f" inside: imports {c['imports_s']} s, loading index and model {c['load_s']} s,"
                  f" first ask {c['first_ask_s']} s; peak RSS {c['peak_rss_mb']} MB."]
    return "\n".join(lines)


def child_main(argv: Sequence[str]) -> int:
    stage, raw = argv[0], json.loads(argv[1])
    go_offline()
    cache = Path(raw["cache_dir"]) if raw.get("cache_dir") else None
    if stage == "ingest":
        result = stage_ingest([Path(p) for p in raw["corpus"]], Path(raw["index_dir"]), raw.get("backend"), cache)
    elif stage == "build":
        result = stage_build(Path(raw["base_dir"]), int(raw["size"]), Path(raw["work_dir"]))
    elif stage == "latency":
        result = stage_latency(int(raw["size"]), Path(raw["work_dir"]), int(raw["repeat"]), cache)
    elif stage == "coldstart":
        result = stage_coldstart(Path(raw["index_dir"]), cache)
    else:
        raise SystemExit(f"unknown stage {stage!r}")
    print(json.dumps(result))
    return 0


BBC_CATEGORIES = ("business", "entertainment", "politics", "sport", "tech")
NO_CORPUS = ("name the corpus folders (e.g. `qa bench /tmp/bbc/bbc/business`) or the BBC News tarball"
             " (`qa bench --bbc bbc-fulltext.tar.gz`, from http://mlg.ucd.ie/datasets/bbc.html)")


def bbc_corpus(work_dir: Path, tarball: Path) -> list[Path]:
    """The five BBC News category folders, unpacked from ``tarball`` (bbc-fulltext.tar.gz) into
    work_dir (its README.TXT is not an article, so the folders are named, not the parent)."""
    import tarfile

    tarball = Path(tarball)
    if not tarball.is_file():
        raise ConfigError(f"qa bench: the BBC News tarball {tarball} is not a file: {NO_CORPUS}")
    target = Path(work_dir) / "corpus"
    if not (target / "bbc").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            archive.extractall(target, filter="data")
    return [target / "bbc" / name for name in BBC_CATEGORIES]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`qa bench`'s options (the CLI adds --index-dir, --model, --backend)."""
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="corpus folders (or --bbc)")
    parser.add_argument("--bbc", type=Path, metavar="TARBALL", help="without PATH: BBC News's bbc-fulltext.tar.gz,"
                        " whose five category folders are unpacked into the work folder and indexed")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"index sizes for the latency runs (default: {DEFAULT_SIZES}; e.g. 1k,10k)")
    parser.add_argument("--repeat", type=int, default=3, help="times each of the 10 questions is asked (default 3)")
    parser.add_argument("--skip-ingest", action="store_true",
                        help="measure latency over the existing index in --index-dir instead of building one")
    parser.add_argument("--work-dir", type=Path, help="where the size-N indexes are written (default: a temporary"
                        " folder, removed afterwards; 1M chunks need ~3 GB)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
