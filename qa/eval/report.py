"""Reports of an evaluation: the text table `qa eval` prints, JSON, report.md with the
failures, the hit@k plot and, for a set with unanswerable questions, the abstention trade-off
curve (plot, CSV and JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qa.eval.answers import GROUP_METRICS
from qa.eval.metrics import HIT_CURVE, RETRIEVAL_METRICS
from qa.eval.outcome import Outcome
from qa.eval.run import ANSWER_METRICS, KIND_METRICS, EvalReport
from qa.eval.tradeoff import plot_curves, write_curve

FAILURES_SHOWN = 50  # failures listed per mode in report.md


# -- reports -----------------------------------------------------------------------------------


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric in ("top1_chars", "n", "span_predictions", "sentence_predictions", "unsure_answers", "sure_answers"):
        return f"{value:.0f}"
    if metric == "seconds":
        return f"{value:.2f}"
    return f"{value:.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded to line up in a terminal; columns after the first align right."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def metrics_table(report: EvalReport) -> str:
    """Rows = metrics, columns = modes."""
    modes = list(report.modes.values())
    names = [name for name in (*RETRIEVAL_METRICS, *ANSWER_METRICS, "top1_chars") if name in modes[0].metrics]
    rows = [[name, *(format_value(name, mode.metrics[name]) for mode in modes)] for name in names]
    rows.append(["seconds", *(format_value("seconds", mode.seconds) for mode in modes)])
    return markdown_table(["metric", *report.modes], rows)


def kind_table(report: EvalReport) -> str:
    """Rows = (kind, metric), columns = modes; empty when there is a single kind."""
    modes = list(report.modes.values())
    kinds = modes[0].by_kind
    if len(kinds) < 2:
        return ""
    rows = []
    for kind, figures in kinds.items():
        for name in KIND_METRICS:
            if name in figures and any(mode.by_kind[kind][name] is not None for mode in modes):
                label = f"{kind} (n={figures['n']})"
                rows.append([label, name, *(format_value(name, mode.by_kind[kind][name]) for mode in modes)])
    return markdown_table(["kind", "metric", *report.modes], rows)


def question_tables(report: EvalReport) -> list[tuple[str, str]]:
    """(title, table) per grouping of the questions (question word, words shared with the answer
    sentence): rows = groups, columns = n and the answer figures (per mode when there are several)."""
    modes = report.modes
    tables = []
    for grouping, groups in next(iter(modes.values())).by_question.items():
        names = GROUP_METRICS[1:]
        header = [grouping, "n", *(f"{name} {mode}" if len(modes) > 1 else name for mode in modes for name in names)]
        rows = [
            [group, format_value("n", figures["n"]),
             *(format_value(name, mode.by_question[grouping].get(group, {}).get(name)) for mode in modes.values()
               for name in names)]
            for group, figures in groups.items()
        ]
        if rows:
            tables.append((f"By {grouping}", markdown_table(header, rows)))
    return tables


def abstention_counts(report: EvalReport) -> dict[str, dict[str, dict[str, int]]]:
    """{mode: {what refused (Outcome.abstained_by): {"answerable": n, "unanswerable": n}}}."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for name, mode in report.modes.items():
        by = counts.setdefault(name, {})
        for outcome in mode.outcomes:
            if outcome.abstained and outcome.abstained_by:
                side = by.setdefault(outcome.abstained_by, {"answerable": 0, "unanswerable": 0})
                side["answerable" if outcome.answerable else "unanswerable"] += 1
    return counts


def abstention_table(report: EvalReport) -> str:
    """Rows = what refused, columns = answerable / unanswerable questions abstained on, per mode;
    empty when qa never abstained."""
    counts = abstention_counts(report)
    kinds = sorted({kind for by in counts.values() for kind in by})
    if not kinds:
        return ""
    sides = ("answerable", "unanswerable")
    header = ["abstained by", *(f"{side} {mode}" if len(counts) > 1 else side for mode in counts for side in sides)]
    rows = [[kind, *(str(by.get(kind, {}).get(side, 0)) for by in counts.values() for side in sides)] for kind in kinds]
    return markdown_table(header, rows)


def format_text(report: EvalReport) -> str:
    """What `qa eval` prints: what was evaluated, the tables and the notes."""
    parts = [f"{report.title}: {describe_counts(report.counts)}", "", metrics_table(report)]
    by_kind = kind_table(report)
    if by_kind:
        parts += ["", by_kind]
    for title, table in question_tables(report):
        parts += ["", f"{title}:", table]
    parts += ["", *(f"- {note}" for note in report.notes)]
    return "\n".join(parts)


def describe_counts(counts: Mapping[str, Any]) -> str:
    """ "69 questions, 57 answerable, ...": the non-zero whole-number counts."""
    return ", ".join(
        f"{value} {name.replace('_', ' ')}"
        for name, value in counts.items()
        if isinstance(value, int) and not isinstance(value, bool) and value
    )


def report_json(report: EvalReport) -> dict[str, Any]:
    """{mode: {metric: value}, ..., "by_kind": ..., "hit_curve": ..., "counts": ..., "notes": ...}."""
    data: dict[str, Any] = {name: mode.metrics for name, mode in report.modes.items()}
    data["by_kind"] = {name: mode.by_kind for name, mode in report.modes.items()}
    data["hit_curve"] = {
        name: {str(n): v for n, v in mode.hit_curve.items()} for name, mode in report.modes.items()
    }
    data["by_question"] = {name: mode.by_question for name, mode in report.modes.items()}
    data["abstained_by"] = abstention_counts(report)
    data["abstention_curve"] = {
        name: {
            "points": [point.to_json() for point in mode.curve],
            "operating_point": list(mode.operating) if mode.operating else None,
        }
        for name, mode in report.modes.items()
        if mode.curve
    }
    data["counts"] = {
        **report.counts,
        "seconds": {name: round(mode.seconds, 3) for name, mode in report.modes.items()},
        "metric_seconds": {name: round(mode.metric_seconds, 3) for name, mode in report.modes.items()},
    }
    data["notes"] = report.notes
    return data


def ordered_outcomes(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Failures first, each group in question order."""
    return sorted(outcomes, key=lambda outcome: not outcome.failed)


def format_failure(outcome: Outcome) -> str:
    rank = outcome.first_relevant_rank if outcome.first_relevant_rank is not None else "none"
    expected = "abstain" if outcome.expected_abstain else " | ".join(f'"{text}"' for text in outcome.gold[:3])
    if outcome.abstained:
        got = f"abstained ({outcome.abstained_by})" if outcome.abstained_by else "abstained"
    elif outcome.answer is not None:
        got = '"' + " ".join(outcome.answer.split())[:200] + '"'
    else:
        got = "—"
    where = f"- `{outcome.id}` ({outcome.kind}) {outcome.question}"
    return f"{where} — relevant rank {rank}; answer {got}; expected {expected}"


def format_markdown(report: EvalReport) -> str:
    """report.md: the tables, the notes, the failures of each mode and how it was made."""
    index = report.index
    lines = [
        f"# qa eval: {report.title}",
        "",
        f"{report.created} — `{report.command}`" if report.command else report.created,
        "",
        f"Index {index['directory']}: {index['articles']} articles in {index['chunks']} chunks,"
        f" model {index['model']}, chunking {json.dumps(index['chunking'])},"
        f" built {index['built_at']} ({index['generation']})"
        f" from {', '.join(index['corpus'])}.",
        "",
        f"Evaluated: {describe_counts(report.counts)}.",
        "",
        "## Metrics",
        "",
        metrics_table(report),
        "",
        *(f"- {note}" for note in report.notes),
    ]
    by_kind = kind_table(report)
    if by_kind:
        lines += ["", "## By kind", "", by_kind]
    for title, table in question_tables(report):
        lines += ["", f"## {title}", "", table]
    abstentions = abstention_table(report)
    if abstentions:
        lines += ["", "## What abstained", "", abstentions]
    for name, mode in report.modes.items():
        failures = [outcome for outcome in mode.outcomes if outcome.failed]
        lines += ["", f"## Failures, {name} ({len(failures)} of {len(mode.outcomes)})", ""]
        lines += [format_failure(outcome) for outcome in failures[:FAILURES_SHOWN]] or ["None."]
        if len(failures) > FAILURES_SHOWN:
            lines.append(f"- … and {len(failures) - FAILURES_SHOWN} more in results-{name}.jsonl")
    return "\n".join(lines) + "\n"


def plot_hit_curve(report: EvalReport, path: Path) -> None:
    """hit@k against k (1..10, 20, 50, 100; log scale), one line per mode, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    try:
        for name, mode in report.modes.items():
            points = [(n, value) for n, value in mode.hit_curve.items() if value is not None]
            axes.plot([n for n, _ in points], [value for _, value in points], marker="o", markersize=3, label=name)
        axes.set_xscale("log")
        ticks = [n for n in HIT_CURVE if n in (1, 2, 3, 5, 10, 20, 50, 100)]
        axes.set_xticks(ticks, [str(n) for n in ticks])
        axes.minorticks_off()
        axes.set_xlabel("k (passages or documents)")
        axes.set_ylabel("hit@k")
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.set_title(f"qa eval: {report.title}", fontsize=10)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)


def write_outputs(report: EvalReport, out_dir: Path) -> list[Path]:
    """results-<mode>.jsonl (failures first), report.md and hit_at_k.png in ``out_dir``; with
    unanswerable questions, also abstention_curve.png and abstention_curve-<mode>.csv / .json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, mode in report.modes.items():
        path = out_dir / f"results-{name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for outcome in ordered_outcomes(mode.outcomes):
                out.write(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n")
        written.append(path)
    markdown = out_dir / "report.md"
    markdown.write_text(format_markdown(report), encoding="utf-8")
    plot = out_dir / "hit_at_k.png"
    plot_hit_curve(report, plot)
    written += [markdown, plot]
    curves = {name: (mode.curve, mode.operating) for name, mode in report.modes.items() if mode.curve}
    for name, (points, operating) in curves.items():
        written += write_curve(points, operating, out_dir / f"abstention_curve-{name}")
    if curves:
        plot_curves(curves, report.title, out_dir / "abstention_curve.png")
        written.append(out_dir / "abstention_curve.png")
    return written
