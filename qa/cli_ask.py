"""`qa ask`, and the options `ask` and `eval` share: the filters (--since, --until, --source)
and the note about a model the re-rank was not fitted to. Apart from qa.cli, which builds the
rest of the command line and dispatches; nothing here imports it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qa.config import MODES, Settings
from qa.errors import ConfigError
from qa.text.jsonl import numbered_lines
from qa.types import UNSURE_TEXT, Filter, Result


class UsageError(ConfigError):
    """Options that do not go together, or a value an option cannot take: `qa` exits with 2."""


def add_filter_options(sub: argparse.ArgumentParser) -> None:
    """--since, --until and --source (repeatable): which articles may answer."""
    sub.add_argument("--since", metavar="DATE", help="only articles dated DATE (YYYY-MM-DD) or later;"
                     " an article without a date is left out")
    sub.add_argument("--until", metavar="DATE", help="only articles dated DATE (YYYY-MM-DD) or earlier;"
                     " an article without a date is left out")
    sub.add_argument("--source", action="append", default=[], metavar="NAME",
                     help="only articles from this outlet (matched case-insensitively; repeatable: any of them)")


def filter_from_args(args: argparse.Namespace) -> Filter | None:
    """The checked filter of --since/--until/--source; None when none is given."""
    try:
        where = Filter.of(args.since, args.until, args.source)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return where or None


def filter_args(args: argparse.Namespace) -> list[str]:
    """The filter options as given, for a command line that reproduces a run."""
    parts = [part for option in ("since", "until") if getattr(args, option) for part in (f"--{option}",
             getattr(args, option))]
    return parts + [part for name in args.source for part in ("--source", name)]


def add_ask_parser(commands, common, reader_option) -> None:
    ask = commands.add_parser("ask", help="answer a question", description="Answer a question from the index.")
    ask.add_argument("question", nargs="?", help="the question")
    ask.add_argument("-k", type=int, default=5, help="passages to return (default: 5)")
    ask.add_argument("--questions", type=Path, metavar="FILE.jsonl",
                     help='answer every {"id", "question"} line of a file, one JSON object per line')
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--mode", choices=MODES, help="retrieval: hybrid (default), dense or bm25")
    ask.add_argument("--history", metavar="JSON",
                     help='the previous questions of the conversation, oldest first, e.g. \'["Who ...?"]\'')
    add_filter_options(ask)
    common(ask)
    reader_option(ask)


def warn_if_unfitted(settings: Settings) -> None:
    """Say so when answers come from a model the re-rank and abstention were not fitted to
    (once the index has opened with it: an index of another model is an error of its own)."""
    from qa.search.searcher import fitted_to_model

    if not fitted_to_model(settings):
        print(
            f"qa: note: {settings.resolved_model_dir()} is not the packaged all-MiniLM-L6-v2 that the"
            " re-rank, the reader and abstention were fitted to: the reader is off, and passage order"
            " and abstention are uncalibrated for this model (benchmarks/tune_rerank.py and"
            " benchmarks/calibrate_abstention.py refit them)",
            file=sys.stderr,
        )


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from qa.search.searcher import open_searcher
    from qa.text.question import clean_question

    if (args.question is None) == (args.questions is None):
        raise UsageError("give either a QUESTION or --questions FILE.jsonl")
    if args.k < 1:
        raise UsageError(f"-k must be at least 1, not {args.k}")
    if args.question is not None and not clean_question(args.question):
        raise UsageError("the question is empty: ask something about the articles")
    where = filter_from_args(args)
    history = parse_history(args.history)
    questions = read_questions(args.questions) if args.questions else None
    searcher = open_searcher(settings)
    warn_if_unfitted(settings)
    if questions is None:
        result = searcher.ask(args.question, args.k, mode=args.mode, history=history, where=where)
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) if args.json else format_result(result))
        return 0
    for question_id, question, turns in questions:
        result = searcher.ask(question, args.k, mode=args.mode, history=turns or history, where=where)
        print(json.dumps({"id": question_id, **result.to_dict()}, ensure_ascii=False), flush=True)
    return 0


def parse_history(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        history = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--history must be a JSON list of strings ({error.msg})") from error
    if not isinstance(history, list) or not all(isinstance(turn, str) for turn in history):
        raise ConfigError('--history must be a JSON list of strings, e.g. \'["Who is Baqeri?"]\'')
    return history


def read_questions(path: Path) -> list[tuple[str, str, list[str]]]:
    """(id, question, history) from a JSONL file of {"id", "question"} objects, each with an
    optional "history" list of previous questions."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from error
    questions = []
    for number, line in numbered_lines(lines):
        try:
            record = json.loads(line)
            history = record.get("history") or []
            questions.append((str(record.get("id", number)), str(record["question"]), [str(t) for t in history]))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            raise ConfigError(f'{path}:{number}: expected a JSON object with "id" and "question"') from None
    return questions


def byline(date: str | None, source: str | None) -> str:
    """" — Galway Daily, 2024-03-07" (what is known of it), or ""."""
    known = ", ".join(part for part in (source, date) if part)
    return f" — {known}" if known else ""


def format_result(result: Result) -> str:
    lines = [f"Note: {result.notice}", ""] if result.notice else []
    answer = result.answer
    if answer:
        if result.unsure:
            lines += [UNSURE_TEXT]
        if answer.span:  # the exact answer first, then the sentence it was read from
            lines += [f"Answer: {answer.span.text}", f"  in: {answer.text}"]
        else:
            lines += [f"Answer: {answer.text}"]
        lines += [f"  from {answer.chunk_id}"]
        for label, entries in (("Also reported by", answer.also_in), ("Reported differently by", answer.differs)):
            if entries:
                lines += [f"{label}:"] + [f"  {e.title}{byline(e.date, e.source)}: {e.text}" for e in entries]
        lines += [""]
    elif result.hits:
        reason = f" {result.reason}" if result.reason else ""
        lines += [f"The corpus does not answer this.{reason} The closest passages:", ""]
    for hit in result.hits:
        text = " ".join(hit.chunk.text.split())
        lines.append(f"{hit.rank}. [{hit.score:.3f}] {hit.title}{byline(hit.date, hit.source)}  ({hit.chunk.id})")
        lines.append(f"   {text[:300]}{'…' if len(text) > 300 else ''}")
    if result.notice and not result.hits:
        return lines[0].removeprefix("Note: ")
    return "\n".join(lines) if lines else "The index is empty."
