"""The Evaluate tab's report as plain HTML, every piece of text escaped.

The report quotes the question set (ids, questions, kinds, gold spans) and the corpus (answer
sentences), both of which may come from a stranger. Rendered as Markdown it relied on Gradio's
sanitiser alone, which let an article's ``<a href>`` and ``<img src>`` through as a live link and
a loaded image. Here all of it goes through :func:`qa.web.render.escape`, exactly as the chat's
replies do; the only markup is what this module writes, and it makes no link at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from qa.eval.metrics import RETRIEVAL_METRICS
from qa.eval.outcome import Outcome
from qa.eval.report import FAILURES_SHOWN, describe_counts, format_value
from qa.eval.run import ANSWER_METRICS, KIND_METRICS, EvalReport
from qa.web.render import escape

MAX_FIELD_CHARS = 300  # an id, kind, gold span or answer shown longer than this is cut


def cut(text: object, limit: int = MAX_FIELD_CHARS) -> str:
    """``text`` on one line, cut at ``limit`` characters (not escaped)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def short(text: object, limit: int = MAX_FIELD_CHARS) -> str:
    """``text`` on one line, cut at ``limit`` characters, escaped."""
    return escape(cut(text, limit))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; cells are escaped here."""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="qa-eval-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def metrics_rows(report: EvalReport) -> list[list[str]]:
    modes = list(report.modes.values())
    names = [name for name in (*RETRIEVAL_METRICS, *ANSWER_METRICS, "top1_chars") if name in modes[0].metrics]
    rows = [[name, *(format_value(name, mode.metrics[name]) for mode in modes)] for name in names]
    rows.append(["seconds", *(format_value("seconds", mode.seconds) for mode in modes)])
    return rows


def kind_rows(report: EvalReport) -> list[list[str]]:
    modes = list(report.modes.values())
    rows = []
    for kind, figures in modes[0].by_kind.items():
        for name in KIND_METRICS:
            if name in figures and any(mode.by_kind[kind][name] is not None for mode in modes):
                label = f"{cut(kind, 80)} (n={figures['n']})"
                rows.append([label, name, *(format_value(name, mode.by_kind[kind][name]) for mode in modes)])
    return rows


def failure_html(outcome: Outcome) -> str:
    rank = outcome.first_relevant_rank if outcome.first_relevant_rank is not None else "none"
    if outcome.expected_abstain:
        expected = "abstain"
    else:
        expected = " | ".join(f"“{short(text)}”" for text in outcome.gold[:3])
    if outcome.abstained:
        got = "abstained"
    elif outcome.answer is not None:
        got = f"“{short(outcome.answer, 200)}”"
    else:
        got = "—"
    return (
        f"<li><code>{short(outcome.id, 120)}</code> ({short(outcome.kind, 80)})"
        f" {short(outcome.question, 2000)}"
        f" — relevant rank {rank}; answer {got}; expected {expected}</li>"
    )


def report_html(report: EvalReport) -> str:
    """The report of :func:`qa.eval.run.format_markdown`, as escaped HTML for the page."""
    index = report.index
    parts = [
        f"<h3>qa eval: {short(report.title)}</h3>",
        f"<p>{escape(report.created)}</p>",
        f"<p>Index {escape(str(index['directory']))}: {index['articles']} articles"
        f" in {index['chunks']} chunks,"
        f" model {escape(str(index['model']))}, chunking {escape(json.dumps(index['chunking']))},"
        f" built {escape(str(index['built_at']))} ({escape(str(index['generation']))})"
        f" from {escape(', '.join(map(str, index['corpus'])))}.</p>",
        f"<p>Evaluated: {escape(describe_counts(report.counts))}.</p>",
        "<h4>Metrics</h4>",
        table(["metric", *report.modes], metrics_rows(report)),
        "<ul>" + "".join(f"<li>{escape(note)}</li>" for note in report.notes) + "</ul>",
    ]
    by_kind = kind_rows(report)
    if len(next(iter(report.modes.values())).by_kind) > 1 and by_kind:
        parts += ["<h4>By kind</h4>", table(["kind", "metric", *report.modes], by_kind)]
    for name, mode in report.modes.items():
        failures = [outcome for outcome in mode.outcomes if outcome.failed]
        parts.append(f"<h4>Failures, {escape(name)} ({len(failures)} of {len(mode.outcomes)})</h4>")
        items = [failure_html(outcome) for outcome in failures[:FAILURES_SHOWN]]
        if len(failures) > FAILURES_SHOWN:
            more = len(failures) - FAILURES_SHOWN
            items.append(f"<li>… and {more} more in results-{escape(name)}.jsonl</li>")
        parts.append("<ul>" + "".join(items) + "</ul>" if items else "<p>None.</p>")
    return '<div class="qa-eval-report">' + "\n".join(parts) + "</div>"
